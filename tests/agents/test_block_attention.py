"""The packed pass's block attention: the dense-mask result, taken only when a pass asks for it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.toy_envs import GuessNumberEnv
from turngym.agents.policy import SamplingParams
from turngym.rollout import collect
from turngym.verifiers import block_attention
from turngym.verifiers.info_gain import BeliefGainScorer


def _layout_mask(context: int, branches: list[tuple[int, int]]) -> torch.Tensor:
    """The scorer's mask: causal context, then branches (cut, length) seeing context[:cut] and themselves."""
    total = context + sum(n for _, n in branches)
    allowed = torch.zeros((total, total), dtype=torch.bool)
    allowed[:context, :context] = torch.ones((context, context), dtype=torch.bool).tril()
    start = context
    for cut, n in branches:
        allowed[start:start + n, :cut] = True
        allowed[start:start + n, start:start + n] = torch.ones((n, n), dtype=torch.bool).tril()
        start += n
    return torch.zeros((total, total)).masked_fill_(~allowed, torch.finfo(torch.float32).min)


@pytest.mark.parametrize("kv_heads", [1, 3, 6])
def test_block_attention_equals_the_dense_mask(kv_heads):
    g = torch.Generator().manual_seed(kv_heads)
    context, branches = 23, [(4, 3), (11, 5), (23, 2)]
    mask = _layout_mask(context, branches)
    total = mask.shape[0]
    query = torch.randn(1, 6, total, 8, generator=g)
    key = torch.randn(1, kv_heads, total, 8, generator=g)
    value = torch.randn(1, kv_heads, total, 8, generator=g)
    groups = 6 // kv_heads
    dense = F.scaled_dot_product_attention(
        query, key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1), attn_mask=mask, scale=0.3
    )
    block = block_attention.block_layout_attention(query, key, value, context, mask[context:], scaling=0.3)
    torch.testing.assert_close(block, dense, atol=1e-5, rtol=1e-5)
    # the split matters: a first branch row taken as context would see the whole context
    wrong = block_attention.block_layout_attention(query, key, value, context + 1, mask[context + 1:], 0.3)
    assert not torch.allclose(wrong, dense, atol=1e-3)


def test_scorer_takes_the_block_path_and_agrees_with_the_dense_mask(tiny_policy, monkeypatch):
    episode = collect(
        lambda: GuessNumberEnv(max_turns=4, max_invalid_turns=10), tiny_policy,
        [{"options": {"task_id": "n-7"}}],
        sampling=SamplingParams(max_new_tokens=6, seed=2), progress=False,
    )[0]
    scorer = BeliefGainScorer(tiny_policy.model, tiny_policy.tokenizer)
    assert scorer._block_attention
    calls = []
    real = block_attention.block_layout_attention
    spy = lambda *a, **k: calls.append(1) or real(*a, **k)  # noqa: E731
    monkeypatch.setattr(block_attention, "block_layout_attention", spy)
    block = scorer.score(episode)
    assert len(calls) == tiny_policy.model.config.num_hidden_layers  # once per layer, in one forward pass
    scorer._block_attention = False
    dense = scorer.score(episode)
    assert len(calls) == tiny_policy.model.config.num_hidden_layers
    np.testing.assert_allclose(block.logp, dense.logp, atol=1e-5, rtol=0)
    np.testing.assert_allclose(block.p, scorer.score_per_turn(episode).p, atol=1e-4, rtol=0)


def test_passes_without_the_layout_keyword_are_untouched(tiny_policy):
    assert block_attention.install() and block_attention.install()  # idempotent
    model = tiny_policy.model
    ids = torch.tensor([[1, 520, 9531, 198, 67], [1, 4093, 198, 69, 70]])
    attention = torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    with torch.no_grad():
        wrapped = model(input_ids=ids, attention_mask=attention).logits
    from transformers.modeling_utils import AttentionInterface

    AttentionInterface.register("sdpa", block_attention._original)
    try:
        with torch.no_grad():
            original = model(input_ids=ids, attention_mask=attention).logits
    finally:
        AttentionInterface.register("sdpa", block_attention._wrapper)
    assert torch.equal(wrapped, original)
