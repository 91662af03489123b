"""Loading the policy a config names: the trainable model and, optionally, a vLLM rollout engine."""

from __future__ import annotations

from typing import Any

import torch

from turngym.trainers.config import Config

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def start_vllm(config: Config) -> Any:
    """A vLLM engine for rollouts, on the same GPU as the trainer (``rollout.engine: vllm``)."""
    from turngym.agents.models import smollm2_gguf_path
    from turngym.agents.vllm_policy import VLLMPolicy

    path = str(smollm2_gguf_path()) if config.model.path == "smollm2-135m" else config.model.path
    return VLLMPolicy.from_pretrained(
        path, gpu_memory_utilization=config.rollout.vllm_gpu_memory_utilization, seed=config.seed,
        dtype=config.model.dtype,
    )



def load_policy(config: Config) -> Any:
    """The trainable policy of ``config.model`` (with its LoRA adapter when configured)."""
    from turngym.agents.hf_policy import HFPolicy
    from turngym.agents.models import smollm2_135m

    cfg = config.model
    device = None if cfg.device == "auto" else cfg.device
    dtype = _DTYPES[cfg.dtype]
    if cfg.path == "smollm2-135m":
        policy = smollm2_135m(device=device, dtype=dtype)
    else:
        policy = HFPolicy.from_pretrained(cfg.path, device=device, dtype=dtype)
    if cfg.gradient_checkpointing:
        policy.model.gradient_checkpointing_enable()
    if cfg.lora is not None:
        policy.add_lora(r=cfg.lora.r, alpha=cfg.lora.alpha, dropout=cfg.lora.dropout,
                        target_modules=cfg.lora.target_modules)
    return policy
