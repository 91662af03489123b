"""Loading the policy a config names: the trainable model and, optionally, a vLLM rollout engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from turngym.trainers.config import Config
from turngym.trainers.preflight import check_model

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def start_vllm(config: Config) -> Any:
    """A vLLM engine for rollouts, on the same GPU as the trainer (``rollout.engine: vllm``)."""
    check_model(config)
    from turngym.agents.models import smollm2_gguf_path
    from turngym.agents.vllm_policy import VLLMPolicy

    path = str(smollm2_gguf_path()) if config.model.path == "smollm2-135m" else config.model.path
    return VLLMPolicy.from_pretrained(
        path, gpu_memory_utilization=config.rollout.vllm_gpu_memory_utilization, seed=config.seed,
        dtype=config.model.dtype,
    )



def load_policy(config: Config) -> Any:
    """The trainable policy of ``config.model`` (with its LoRA adapter when configured).

    :func:`~turngym.trainers.preflight.check_model` runs first: a missing path, an absent CUDA
    device or a missing vLLM is a one-line ``ConfigError`` before any weights are read."""
    check_model(config)
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


def policy_from_run(path: str | Path, *, device: str | None = None) -> Any:
    """The policy a ``turngym train`` run saved, ready to evaluate.

    ``path`` is a run directory (its newest checkpoint that verifies is used), its
    ``checkpoints`` directory, or one ``step-N`` checkpoint. The run's own config names the
    base model and the LoRA shape; the checkpoint's weights are copied over it. A corrupt
    checkpoint is refused (``CheckpointError``), never loaded.
    """
    from turngym.trainers.checkpoint import CheckpointError, load_checkpoint, load_latest, load_weights
    from turngym.trainers.config import from_dict

    target = Path(path)
    if (target / "manifest.json").is_file():
        where, loaded = target, load_checkpoint(target)
    else:
        root = target / "checkpoints" if (target / "checkpoints").is_dir() else target
        found = load_latest(root)
        if found is None:
            raise CheckpointError(f"no checkpoint under {root}: is {target} a `turngym train` output?")
        where, loaded, _ = found
    config = from_dict(loaded["state"]["config"])
    config.rollout.engine = "hf"  # evaluating needs the trained model, not the run's rollout engine
    if device is not None:
        config.model.device = device
    policy = load_policy(config)
    load_weights(policy.model, loaded["weights"], where)
    policy.model.eval()
    if hasattr(policy, "weights_changed"):
        policy.weights_changed()
    policy.name = f"checkpoint:{where}"
    return policy
