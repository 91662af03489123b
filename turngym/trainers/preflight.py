"""Checks a training config can pass before any model is loaded.

Estimator names and parameters (each estimator is dry-run on four synthetic
turns), the environment id and its arguments, and that an estimator needing
belief gain trains on an environment that supplies ``info["probe"]``
(:func:`preflight`); and that the model can be loaded where the config says:
its path exists, the device is there, the rollout engine is installed
(:func:`check_model`, run before any weights are read).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

import turngym
from turngym.core.env import TurnEnv
from turngym.core.registry import full_id
from turngym.trainers import advantages as adv
from turngym.trainers.config import Config, ConfigError

NEEDS_INFO_GAIN: frozenset[str] = frozenset({"igpo", "a2tgpo"})
"""Estimators that consume belief gain (the environment must supply ``info["probe"]``)."""


def estimator_components(config: Config) -> list[tuple[float, str, dict[str, Any]]]:
    """``[(weight, name, params)]``: the single estimator, or the ``combine`` list."""
    if config.algorithm.combine:
        return [(float(c[0]), str(c[1]), dict(c[2]) if len(c) > 2 else {}) for c in config.algorithm.combine]
    return [(1.0, config.algorithm.estimator, dict(config.algorithm.params))]


def needs_info_gain(config: Config) -> bool:
    """Whether the configured estimators need belief gain."""
    return any(name in NEEDS_INFO_GAIN for _, name, _ in estimator_components(config))


def preflight(config: Config, env_factory: Callable[[], gym.Env] | None = None) -> float | None:
    """Check what can be checked without compute: estimator names and parameters, the
    environment id and its kwargs, and that an estimator needing belief gain has a probe.

    Returns the run's loss normaliser (:func:`loss_norm_tokens`), read off the same
    environment instance the checks build."""
    known = adv.list_estimators()
    for i, (_, name, params) in enumerate(estimator_components(config)):
        where = f"algorithm.combine[{i}]" if config.algorithm.combine else "algorithm.estimator"
        if name not in known or name == "combine":
            raise ConfigError(f"{where}: unknown estimator {name!r}; accepted: {', '.join(known)}")
        if name in adv.TREE_ESTIMATORS and config.rollout.tree is None:
            raise ConfigError(f"{where}: {name!r} needs tree rollouts (per-turn tree node ids); set "
                              "rollout.tree (e.g. rollout: {tree: {width: 2}})")
        try:
            adv.estimate(name, _synthetic_batch(), **params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where} parameters {params}: {exc}") from exc
    try:  # the whole combination and EMPG / AEM on top, as the trainer will run them
        result = (adv.estimate("combine", _synthetic_batch(), components=estimator_components(config))
                  if config.algorithm.combine else None)
        if config.algorithm.empg is not None or config.algorithm.aem is not None:
            if result is None:
                _, name, params = estimator_components(config)[0]
                result = adv.estimate(name, _synthetic_batch(), **params)
        if config.algorithm.empg is not None:
            result = adv.empg(result, _synthetic_batch(), **config.algorithm.empg)
        if config.algorithm.aem is not None:
            adv.aem(result, _synthetic_batch(), **config.algorithm.aem)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"algorithm: {exc}") from exc
    env = env_factory() if env_factory is not None else make_env(config)
    try:
        if not isinstance(env.unwrapped, TurnEnv):
            raise ConfigError(f"env.id: {config.env.id!r} is not a turngym TurnEnv")
        _, info = env.reset(seed=config.env.task_seed)
        if needs_info_gain(config) and "probe" not in info:
            names = [n for _, n, _ in estimator_components(config) if n in NEEDS_INFO_GAIN]
            raise ConfigError(
                f"algorithm: {', '.join(names)} needs belief gain, but {config.env.id} gives no "
                "info['probe'] (reference answers) to score it; choose an estimator such as grpo or "
                "gigpo, or an environment with a probe"
            )
        return loss_norm_tokens(config, env)
    finally:
        env.close()


BUILTIN_MODELS: tuple[str, ...] = ("smollm2-135m",)
"""Model names that need no path (packaged with turngym)."""


def check_model(config: Config) -> None:
    """Check, before any weights are read, that ``config.model`` and the rollout engine can load.

    ``model.path`` is a built-in name, an existing Hugging Face model directory (with a
    ``config.json``) or a ``.gguf`` file; ``model.device`` ``cuda``/``cuda:N`` needs that CUDA
    device; ``rollout.engine: vllm`` needs vLLM installed. Raises :class:`ConfigError`.
    """
    path = config.model.path
    if path not in BUILTIN_MODELS:
        where = Path(path).expanduser()
        accepted = (f"accepted: {', '.join(BUILTIN_MODELS)} (packaged), a Hugging Face model directory "
                    "or a .gguf file")
        if not where.exists():
            raise ConfigError(f"model.path: {path} does not exist; {accepted}")
        if where.is_dir() and not (where / "config.json").is_file():
            raise ConfigError(f"model.path: {path} is a directory without a config.json, not a Hugging "
                              f"Face model directory; {accepted}")
        if where.is_file() and where.suffix != ".gguf":
            raise ConfigError(f"model.path: {path} is a file but not a .gguf model; {accepted}")
    device = config.model.device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            build = "a CPU-only build of torch" if torch.version.cuda is None else "no CUDA device visible"
            raise ConfigError(f"model.device: {device!r}, but this machine has no CUDA ({build}, torch "
                              f"{torch.__version__}); use device: auto or cpu")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"model.device: {device!r}, but only {torch.cuda.device_count()} CUDA "
                              f"device(s) are visible (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    if config.rollout.engine == "vllm" and not _module_available("vllm"):
        raise ConfigError("rollout.engine: 'vllm', but vLLM is not installed here; install it "
                          "(pip install 'turngym[vllm]', GPU machines) or use rollout.engine: hf")


def _module_available(name: str) -> bool:
    """Whether ``import name`` would find the module (without importing it)."""
    return importlib.util.find_spec(name) is not None


def loss_norm_tokens(config: Config, env: gym.Env) -> float | None:
    """The constant divisor of ``seq_mean_token_sum_norm``; ``None`` for the other aggregations.

    ``loss.norm_tokens`` when set, else the generation budget of one episode,
    ``rollout.max_new_tokens`` x the environment's ``max_turns``. One number for every micro-batch
    and step, so the loss scale never depends on how episodes are batched or padded (Dr. GRPO).
    """
    if config.loss.aggregation != "seq_mean_token_sum_norm":
        return None
    if config.loss.norm_tokens is not None:
        return float(config.loss.norm_tokens)
    max_turns = getattr(env.unwrapped, "max_turns", None)
    if not isinstance(max_turns, int) or max_turns < 1:
        raise ConfigError(
            f"loss.norm_tokens: {config.env.id} has no max_turns to derive the generation budget "
            "from; set loss.norm_tokens (tokens per episode) for seq_mean_token_sum_norm"
        )
    return float(config.rollout.max_new_tokens * max_turns)


def _synthetic_batch() -> adv.TurnBatch:
    """Four turns of two episodes with every optional field: enough to dry-run any estimator."""
    return adv.TurnBatch(
        ["g", "g", "g", "g"], ["a", "a", "b", "b"], [0, 1, 0, 1], [0.0, 1.0, 0.0, 0.0],
        anchors=["s0", "s1", "s0", "s2"], info_gain=[0.1, 0.0, -0.1, 0.0], entropy=[1.0, 0.5, 0.2, 0.3],
        node_ids=["r.0", "r.0.0", "r.1", "r.1.0"],
    )


def make_env(config: Config) -> gym.Env:
    env_id = full_id(config.env.id)
    known = [e.id for e in turngym.list_envs()]
    if env_id not in gym.registry:
        raise ConfigError(f"env.id: {config.env.id!r} is not registered; accepted: {', '.join(known)}")
    try:
        return gym.make(env_id, **config.env.kwargs)
    except TypeError as exc:
        raise ConfigError(f"env.kwargs {config.env.kwargs}: {exc}") from exc
