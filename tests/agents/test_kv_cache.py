"""AppendKVLayer holds exactly what transformers' DynamicLayer holds, without copying the cache each step."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from tests.agents.conftest import tiny_llama
from turngym.agents.kv_cache import AppendKVLayer, append_cache, cache_keyword, cache_of


def _states(rows: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, 2, length, 4, generator=g), torch.randn(rows, 2, length, 4, generator=g)


def test_updates_growth_reorder_and_crop_match_dynamic_layer():
    ours, theirs = AppendKVLayer(reserve=2), DynamicLayer()
    for step, length in enumerate([5, 1, 1, 1, 7, 1]):  # the 7 and later steps outgrow the reserve
        k, v = _states(3, length, step)
        got, want = ours.update(k, v), theirs.update(k, v)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        assert ours.get_seq_length() == theirs.get_seq_length()
    buffer = ours._key_buffer
    ours.update(*_states(3, 1, 99)), theirs.update(*_states(3, 1, 99))
    assert ours._key_buffer is buffer  # a decode step wrote into spare room: no new allocation
    index = torch.tensor([2, 0])
    ours.reorder_cache(index), theirs.reorder_cache(index)
    assert torch.equal(ours.keys, theirs.keys) and torch.equal(ours.values, theirs.values)
    got, want = ours.update(*_states(2, 3, 7)), theirs.update(*_states(2, 3, 7))
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    ours.crop(-4), theirs.crop(-4)
    assert torch.equal(ours.keys, theirs.keys) and ours.get_seq_length() == theirs.get_seq_length()
    ours.batch_select_indices(torch.tensor([True, False]))
    assert ours.keys.shape[0] == 1 and torch.equal(ours.keys[0], theirs.keys[0])


def test_decoding_with_the_append_cache_gives_the_same_logits(smol_tokenizer):
    model = tiny_llama(smol_tokenizer).model
    ids = torch.tensor([[1, 520, 9531, 198, 67, 69], [1, 4093, 198, 69, 70, 2]])
    logits = {}
    kw = cache_keyword(model)
    for name, cache in (("append", append_cache(model.config, reserve=1)), ("dynamic", DynamicCache())):
        with torch.no_grad():
            out = model(input_ids=ids, **{kw: cache}, use_cache=True)
            steps = [out.logits[:, -1]]
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            for step in range(6):  # outgrows reserve=1, and drops a row half way
                if step == 3:
                    cache_of(out).reorder_cache(torch.tensor([1]))
                    token = token[1:]
                out = model(input_ids=token, **{kw: cache_of(out)}, use_cache=True)
                steps.append(out.logits[:, -1])
                token = out.logits[:, -1].argmax(-1, keepdim=True)
        logits[name] = steps
        if name == "append":
            assert all(isinstance(layer, AppendKVLayer) for layer in cache_of(out).layers)
    for ours, theirs in zip(logits["append"], logits["dynamic"]):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_an_update_with_another_batch_size_is_refused():
    layer = AppendKVLayer()
    layer.update(*_states(3, 4, 0))
    with pytest.raises(ValueError, match="3 rows but the update has 2"):
        layer.update(*_states(2, 1, 1))
