"""One test per private or moving API turngym relies on (#11 "Fragile internals, guarded").

Each fails with a message naming the internal and the installed version, so an upgrade that
moves one is caught here, by name, rather than as a slowdown or a wrong number elsewhere.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import transformers

from turngym.core.fallbacks import FallbackWarning, warn_once

TORCH = f"torch {torch.__version__}"
TRANSFORMERS = f"transformers {transformers.__version__}"


def test_onednn_prepacked_linear_ops_exist_and_agree():
    """cpu_linear: torch.ops.mkldnn._reorder_linear_weight / _linear_pointwise (private)."""
    from turngym.agents.cpu_linear import prepack_supported

    assert torch.backends.mkldnn.is_available(), f"{TORCH} was built without oneDNN (mkldnn)"
    for op in ("_reorder_linear_weight", "_linear_pointwise"):
        assert hasattr(torch.ops.mkldnn, op), f"{TORCH}: torch.ops.mkldnn.{op} is gone (cpu_linear.py)"
    assert prepack_supported(), f"{TORCH}: oneDNN prepacked linear gives a different result than x @ W.T"


def test_tensor_version_counts_in_place_writes():
    """cpu_linear: Tensor._version tells when a packed copy of a weight is stale."""
    weight = torch.zeros(2, 2)
    assert hasattr(weight, "_version"), f"{TORCH}: Tensor._version is gone (cpu_linear.py uses it)"
    before = weight._version
    weight.add_(1.0)
    assert weight._version > before, f"{TORCH}: Tensor._version no longer counts in-place writes"


def test_transformers_attention_registry_has_a_replaceable_sdpa_entry():
    """block_attention: AttentionInterface._global_mapping["sdpa"] and AttentionInterface.register."""
    from transformers.modeling_utils import AttentionInterface

    mapping = getattr(AttentionInterface, "_global_mapping", None)
    assert isinstance(mapping, dict) or hasattr(mapping, "get"), (
        f"{TRANSFORMERS}: AttentionInterface._global_mapping is gone (block_attention.py reads it)"
    )
    assert mapping.get("sdpa") is not None, f"{TRANSFORMERS}: no 'sdpa' entry in AttentionInterface"
    assert callable(getattr(AttentionInterface, "register", None)), (
        f"{TRANSFORMERS}: AttentionInterface.register is gone (block_attention.py calls it)"
    )


def test_dynamic_cache_layer_internals_match_the_append_layer():
    """kv_cache: DynamicLayer's keys/values/is_initialized and DynamicCache(layers=...) shape."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    layer = DynamicLayer()
    keys = torch.randn(1, 2, 3, 4)
    layer.update(keys, keys.clone())
    for name in ("keys", "values", "is_initialized"):
        assert hasattr(layer, name), f"{TRANSFORMERS}: DynamicLayer.{name} is gone (kv_cache.py uses it)"
    assert layer.get_seq_length() == 3, f"{TRANSFORMERS}: DynamicLayer.get_seq_length changed meaning"
    for name in ("batch_select_indices", "batch_repeat_interleave", "crop", "reorder_cache"):
        assert hasattr(layer, name), f"{TRANSFORMERS}: DynamicLayer.{name} is gone (kv_cache.py overrides it)"
    assert hasattr(DynamicCache, "layers") or "layers" in DynamicCache.__init__.__code__.co_varnames, (
        f"{TRANSFORMERS}: DynamicCache no longer holds per-layer objects (kv_cache.py builds them)"
    )


def test_append_cache_equals_dynamic_cache_in_a_real_forward():
    """kv_cache: AppendKVLayer is a drop-in DynamicLayer (same logits as transformers' own cache)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from turngym.agents.kv_cache import append_cache, cache_keyword

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(config).eval()
    ids = torch.randint(0, 50, (2, 5))
    kw = cache_keyword(model)
    with torch.no_grad():
        ours = append_cache(config, reserve=4)
        theirs = transformers.DynamicCache(config=config)
        a = model(ids, **{kw: ours}, use_cache=True).logits
        b = model(ids, **{kw: theirs}, use_cache=True).logits
        step = torch.randint(0, 50, (2, 1))
        a2 = model(step, **{kw: ours}, use_cache=True).logits
        b2 = model(step, **{kw: theirs}, use_cache=True).logits
    assert torch.allclose(a, b) and torch.allclose(a2, b2, atol=1e-6), (
        f"{TRANSFORMERS}: AppendKVLayer no longer reproduces DynamicLayer"
    )


def test_peft_lora_names_and_adapter_switches():
    """hf_policy/loop: peft's parameter names ('.base_layer.', 'lora_'), merge/unmerge, disable_adapter."""
    import peft
    from transformers import LlamaConfig, LlamaForCausalLM

    version = f"peft {peft.__version__}"
    config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2)
    model = peft.get_peft_model(LlamaForCausalLM(config), peft.LoraConfig(r=2, target_modules=["q_proj"]))
    names = [n for n, _ in model.named_parameters()]
    assert any(".base_layer." in n for n in names), f"{version}: LoRA base weights left '.base_layer.'"
    assert any("lora_" in n for n in names), f"{version}: LoRA weights are no longer named 'lora_*'"
    assert any(n.startswith("base_model.model.") for n in names), f"{version}: 'base_model.model.' changed"
    for name in ("merge_adapter", "unmerge_adapter", "disable_adapter", "peft_config"):
        assert hasattr(model, name), f"{version}: PeftModel.{name} is gone (hf_policy.py / loop.py use it)"


def test_a_fallback_is_announced_once():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert warn_once("test-fallback", "slower path")
        assert not warn_once("test-fallback", "slower path")
    assert [type(w.message) for w in caught] == [FallbackWarning]


def test_missing_block_attention_is_announced(monkeypatch, tiny_policy):
    """A scorer that cannot install the block-attention wrapper says so instead of silently slowing."""
    from turngym.core import fallbacks
    from turngym.verifiers import block_attention
    from turngym.verifiers.info_gain import BeliefGainScorer

    monkeypatch.setattr(block_attention, "install", lambda: False)
    monkeypatch.setattr(fallbacks, "_said", set())
    with pytest.warns(FallbackWarning, match="_global_mapping"):
        BeliefGainScorer(tiny_policy.model, tiny_policy.tokenizer)
