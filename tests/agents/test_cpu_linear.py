"""Prepacked oneDNN linear weights: F.linear's outputs, refreshed when weights change, never in autograd."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tests.agents.conftest import tiny_llama
from turngym.agents.cpu_linear import PackedLinears, prepack_supported
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.policy import SamplingParams
from turngym.agents.sampling import sample_rows

needs_prepack = pytest.mark.skipif(
    not prepack_supported(), reason="this PyTorch build cannot prepack linear weights with oneDNN"
)
PROMPTS = [[1, 9690, 198, 67, 2, 198, 1, 520, 9531, 198], [1, 4093, 198, 69, 70, 2, 198, 1, 520, 9531, 198]]


@needs_prepack
def test_packed_layers_match_and_are_restored():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8, bias=False))
    packer = PackedLinears(model)
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        want = model(x)
        with packer.active():
            assert all("forward" in m.__dict__ for m in model if isinstance(m, nn.Linear))
            got = model(x)
    assert all("forward" not in m.__dict__ for m in model)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@needs_prepack
def test_in_place_weight_changes_are_repacked_and_gradients_use_the_real_weights():
    torch.manual_seed(0)
    layer = nn.Linear(8, 4)
    packer = PackedLinears(layer)
    x = torch.randn(2, 8)
    with torch.no_grad(), packer.active():
        before = layer(x)
    with torch.no_grad():
        layer.weight.mul_(2.0)  # what an optimizer step does
        with packer.active():
            after = layer(x)
        want = nn.functional.linear(x, layer.weight, layer.bias)
        torch.testing.assert_close(after, want, atol=1e-5, rtol=0)
    assert not torch.allclose(before, after)
    with packer.active():
        layer(x).sum().backward()  # grad enabled: the ordinary path, so the weight gets its gradient
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


@needs_prepack
def test_policy_samples_the_same_with_and_without_prepacking(smol_tokenizer):
    packed = tiny_llama(smol_tokenizer).add_lora(r=4)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():  # a trained adapter: non-zero LoRA B so the adapter layers matter
        for name, param in packed.model.named_parameters():
            if "lora_B" in name:
                param.copy_(0.05 * torch.randn(param.shape, generator=generator))
    plain = HFPolicy(copy.deepcopy(packed.model), smol_tokenizer)
    packed.cpu_prepack, plain.cpu_prepack = True, False
    params = SamplingParams(temperature=0, max_new_tokens=8)
    plain_calls = []
    real = nn.functional.linear
    for _ in range(2):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(nn.functional, "linear", lambda x, *a: plain_calls.append(1) or real(x, *a))
            ours = packed.generate(PROMPTS, params)
        assert not plain_calls  # every linear call of this small batch took the packed weights
        theirs = plain.generate(PROMPTS, params)
        for a, b in zip(ours, theirs):
            assert a.token_ids == b.token_ids
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
        for policy in (packed, plain):  # a training step in between: the packer must follow it
            with torch.no_grad():
                for name, param in policy.model.named_parameters():
                    if "lora_A" in name:
                        param.mul_(-1.2)
    assert packed._packer is not None and packed._packer._packed


def test_prepack_is_refused_where_it_cannot_apply(smol_tokenizer):
    policy = tiny_llama(smol_tokenizer)
    policy.cpu_prepack = True
    if prepack_supported():
        assert policy._cpu_packer() is not None
    else:
        with pytest.raises(RuntimeError, match="cpu_prepack=True needs"):
            policy.generate(PROMPTS, SamplingParams(max_new_tokens=2))
    policy.cpu_prepack = False
    assert policy._cpu_packer() is None


@needs_prepack
@pytest.mark.parametrize("threads", [1, 2])
def test_only_calls_where_packing_measured_faster_take_it(monkeypatch, threads):
    layer = nn.Linear(8, 4)
    packer = PackedLinears(layer, max_rows=16)
    plain_rows = []
    real = nn.functional.linear
    monkeypatch.setattr(nn.functional, "linear", lambda x, *a: plain_rows.append(x.shape[0]) or real(x, *a))
    torch.set_num_threads(threads)
    with torch.no_grad(), packer.active():
        for rows in (1, 2, 16, 17):
            x = torch.ones(rows, 8)
            torch.testing.assert_close(layer(x), real(x, layer.weight, layer.bias))
    # prefill-sized calls stay on MKL; a single row too, on one thread (MKL's gemv does not repack)
    assert [r for r in plain_rows if r != 17] == ([1] if threads == 1 else []) and 17 in plain_rows


def test_inverse_cdf_sampling_follows_the_distribution_and_skips_zero_mass():
    probs = torch.tensor([[0.1, 0.0, 0.6, 0.3], [0.0, 0.0, 0.0, 2.0]])  # unnormalised rows are fine
    generator = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_rows(probs, generator) for _ in range(20000)])
    assert draws.shape == (20000, 2) and torch.all(draws[:, 1] == 3)
    counts = torch.bincount(draws[:, 0], minlength=4).double() / 20000
    assert counts[1] == 0
    expected = torch.tensor([0.1, 0.0, 0.6, 0.3], dtype=torch.float64)
    torch.testing.assert_close(counts, expected, atol=0.015, rtol=0)
    again = torch.Generator().manual_seed(0)
    assert torch.equal(sample_rows(probs, again), draws[0])


def test_weights_changed_catches_writes_that_torch_does_not_count(smol_tokenizer):
    policy = tiny_llama(smol_tokenizer)
    params = SamplingParams(temperature=0, max_new_tokens=6)
    policy.generate(PROMPTS, params)  # fills the prefix cache (and the packed copies where supported)
    weights = list(policy.model.parameters())
    versions = [p._version for p in weights]
    generator = torch.Generator().manual_seed(1)
    for p in weights:  # writes through .data (as fused AdamW and peft's merge do) are not counted
        p.data.add_(0.05 * torch.randn(p.shape, generator=generator))
    assert [p._version for p in weights] == versions
    policy.weights_changed()
    assert not policy._prefix_cache and (policy._packer is None or not policy._packer._packed)
    fresh = HFPolicy(copy.deepcopy(policy.model), smol_tokenizer, cpu_prepack=False)
    for ours, theirs in zip(policy.generate(PROMPTS, params), fresh.generate(PROMPTS, params)):
        assert ours.token_ids == theirs.token_ids
        assert ours.logprobs == pytest.approx(theirs.logprobs, abs=1e-4)


@needs_prepack
def test_clearing_trainable_only_keeps_frozen_packed_weights():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    model[0].weight.requires_grad_(False)
    packer = PackedLinears(model)
    with torch.no_grad(), packer.active():
        model(torch.ones(2, 4))
    assert set(packer._packed) == {id(model[0]), id(model[1])}
    packer.clear(trainable_only=True)
    assert set(packer._packed) == {id(model[0])}
    packer.clear()
    assert not packer._packed


@needs_prepack
def test_merged_adapters_subclasses_and_data_writes_never_use_stale_packs(smol_tokenizer, monkeypatch):
    class Scaled(nn.Linear):  # a subclass with its own forward must keep it
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * super().forward(x)

    scaled = Scaled(4, 4)
    packer = PackedLinears(nn.Sequential(scaled))
    with torch.no_grad(), packer.active():
        want = 2 * (scaled.weight.sum(1) + scaled.bias).expand(2, 4)
        torch.testing.assert_close(scaled(torch.ones(2, 4)), want)
    assert not packer._packed

    policy = tiny_llama(smol_tokenizer).add_lora(r=4)
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, param in policy.model.named_parameters():
            if "lora_B" in name:
                param.copy_(0.05 * torch.randn(param.shape, generator=generator))
    params = SamplingParams(temperature=0, max_new_tokens=6)
    policy.generate(PROMPTS, params)  # packs the unmerged base weights
    policy.model.merge_adapter()  # peft adds the adapter into the base weights through .data
    plain_calls = []
    real = nn.functional.linear
    monkeypatch.setattr(nn.functional, "linear", lambda x, *a: plain_calls.append(1) or real(x, *a))
    merged = policy.generate(PROMPTS, params)
    assert plain_calls  # the merged base layers took F.linear, not their stale packed copies
    policy.model.unmerge_adapter()
    reference = HFPolicy(copy.deepcopy(policy.model), smol_tokenizer, cpu_prepack=False)
    for ours, theirs in zip(merged, reference.generate(PROMPTS, params)):
        assert ours.token_ids == theirs.token_ids


def test_unsampleable_distributions_are_refused():
    for bad in (torch.tensor([[0.5, float("nan")]]), torch.zeros(1, 3), torch.tensor([[float("inf"), 1.0]])):
        with pytest.raises(ValueError, match="cannot sample"):
            sample_rows(bad, None)


def test_prepack_true_refuses_a_model_that_is_not_float32(smol_tokenizer):
    policy = tiny_llama(smol_tokenizer)
    policy.model.to(torch.float64)
    policy.cpu_prepack = True
    with pytest.raises(RuntimeError, match="float32"):
        policy.generate(PROMPTS, SamplingParams(max_new_tokens=2))
