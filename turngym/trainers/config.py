"""Training configuration: one YAML or TOML file, validated before any compute.

Every knob is a dataclass field below, documented where it is declared. A file
may leave out anything that has a default; an unknown key, a value of the wrong
type or outside what is allowed raises :class:`ConfigError` naming the key, the
value and what is accepted. ``--set a.b=value`` overrides apply on top (values
parsed as YAML scalars: ``--set optim.lr=3e-4``, ``--set model.lora=null``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A configuration problem, with the dotted key and what is accepted."""


@dataclass
class EnvConfig:
    """Which environment to train on."""

    id: str = "turngym/SearchQA-Easy-v0"
    """Registered environment id (``turngym list``)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for ``gymnasium.make``."""
    task_seed: int = 0
    """Tasks are drawn by reset seeds ``task_seed, task_seed+1, ...`` (the data cursor)."""
    workers: str = "local"
    """Where environments run: ``local`` (threads in this process) or ``ray:N`` (N Ray actors,
    :mod:`turngym.integrations.ray_pool`; needs the ``ray`` extra)."""


@dataclass
class LoraConfig:
    """LoRA adapter (peft) on the policy; the reference model is the base with it disabled."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class ModelConfig:
    """The policy."""

    path: str = "smollm2-135m"
    """``smollm2-135m`` (the packaged SmolLM2-135M-Instruct), a Hugging Face directory, or a .gguf file."""
    dtype: str = "float32"
    """``float32``, ``bfloat16`` or ``float16``."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``."""
    lora: LoraConfig | None = field(default_factory=LoraConfig)
    """LoRA settings, or ``null`` to train every weight (the reference is then a frozen copy)."""
    gradient_checkpointing: bool = False


@dataclass
class TreeConfig:
    """Tree rollouts (``rollout.tree``): each task's episodes grown as one tree of turns
    (:func:`turngym.rollout.branching.collect_trees`, TreePS-RAG / TEMPO style); the tree's
    root-to-leaf paths are the group. Needs an environment with ``get_state``/``set_state``."""

    width: int = 2
    """Children of a node that branches (>= 2)."""
    branch_depths: list[int] | None = None
    """Depths (turns played) at which open nodes branch; ``null``: every depth. At least one must be
    below ``max_turns``."""
    token_budget: int | str | None = "flat"
    """Generated tokens per tree: ``flat`` (what ``rollout.group_size`` flat episodes of the current
    policy cost, measured on the previous step's trees, the running difference carried over:
    :class:`~turngym.rollout.branching.EqualCostBudget`; the first step samples a flat group), a
    number of tokens (branching stops there; open paths are still finished) or ``null`` (no cap)."""
    max_turns: int = 64
    """Paths still open after this many turns are cut off."""


@dataclass
class RolloutConfig:
    """How episodes are sampled."""

    engine: str = "hf"
    """``hf`` (the training model samples) or ``vllm`` (a vLLM engine on the same GPU)."""
    group_size: int = 4
    """Episodes per task reset (the group of GRPO-style estimators)."""
    groups_per_step: int = 2
    """Tasks per training step."""
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 48
    """Tokens per assistant turn."""
    stop: list[str] = field(default_factory=list)
    """Extra stop strings (the chat template's end-of-turn token always stops)."""
    vllm_gpu_memory_utilization: float = 0.45
    """vLLM only: share of GPU memory for its engine (the rest is the trainer's)."""
    tree: TreeConfig | None = None
    """Grow each task's episodes as a tree of turns instead of ``group_size`` independent ones
    (``{width: 2}`` for the defaults), or ``null``. The tree estimators (``tempo``,
    ``tree_step``) need it."""


@dataclass
class AlgorithmConfig:
    """Credit assignment."""

    estimator: str = "grpo"
    """A registered advantage estimator (``turngym.trainers.advantages.list_estimators()``)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Its parameters (e.g. ``{gamma: 0.95, omega: 1.0}`` for gigpo)."""
    combine: list[list[Any]] = field(default_factory=list)
    """Instead of ``estimator``: ``[[weight, name, {params}], ...]``, a weighted sum."""
    empg: dict[str, float] | None = None
    """Entropy modulation on top (``{k: 1.0, zeta: 0.1}``), or ``null``."""
    aem: dict[str, float] | None = None
    """AEM's response-level entropy modulation on top (``{lam: 1.0, min_range: 0.1}``; ``{}`` for
    the paper's values), applied after EMPG when both are set, or ``null``."""
    info_gain: str = "prob"
    """Belief gain form when an estimator needs it: ``prob`` (p_t - p_{t-1}) or ``logprob``."""


@dataclass
class LossConfig:
    """The policy loss."""

    clip_eps: float = 0.2
    """PPO clip range (per-turn ranges from ``a2tgpo`` replace it where given)."""
    clip_eps_high: float | None = None
    """Upper clip range when asymmetric (DAPO's clip-higher); ``null`` = ``clip_eps``."""
    dual_clip: float | None = None
    """Dual-clip constant c > 1 for negative advantages, or ``null``."""
    kl_coef: float = 0.0
    """Weight of the k3 KL estimate to the reference model (0 skips the reference pass)."""
    entropy_coef: float = 0.0
    """Entropy bonus weight."""
    aggregation: str = "token_mean"
    """``token_mean``, ``seq_mean_token_mean`` or ``seq_mean_token_sum_norm``."""
    norm_tokens: int | None = None
    """``seq_mean_token_sum_norm`` only: the constant each episode's token sum is divided by, the
    same for every micro-batch and step (Dr. GRPO's generation budget). ``null``: derived as
    ``rollout.max_new_tokens`` x the environment's ``max_turns``."""


@dataclass
class OptimConfig:
    """AdamW and the update schedule."""

    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 1.0
    """Gradient-norm clipping threshold (``0`` disables)."""
    ppo_epochs: int = 1
    """Passes over each step's episodes."""
    minibatch_episodes: int = 8
    """Episodes per optimiser step; each minibatch is accumulated in micro-batches."""
    micro_batch_episodes: int = 4
    """Episodes per forward/backward (gradient accumulation inside a minibatch)."""


@dataclass
class ProcessRewardConfig:
    """Learned process rewards: an implicit PRM trained online from outcomes (:mod:`turngym.trainers.prm`).

    The PRM is a copy of the policy's model (with LoRA: the base plus its own adapter) trained with
    its own AdamW between rollout and the policy update; its weights and optimiser are checkpointed
    and resumed with the policy's. Each turn's process reward (``beta`` x the PRM/reference log-ratio
    summed over the turn's action tokens) is added to the turn rewards the estimator reads.
    """

    kind: str = "none"
    """``none``, ``prime`` (PRIME: cross-entropy on the outcome, reference = the PRM's initial weights)
    or ``oprl`` (OPRL: trajectory DPO on pairs of one task's episodes ranked by outcome, reference =
    the policy that played them)."""
    model: str | None = None
    """The PRM: ``null`` for a copy of the policy's model (with LoRA: the base plus its own adapter),
    or a local Hugging Face directory of a causal LM with the policy's tokenizer (given its own LoRA
    adapter when ``model.lora`` is set)."""
    beta: float = 0.05
    """Scale of the log-ratio, in the objective and in the rewards."""
    lr: float = 1e-6
    """The PRM's AdamW learning rate (betas and weight decay as ``optim``)."""
    epochs: int = 1
    """PRM optimiser steps over each step's episodes."""
    score_before_update: bool = False
    """Score the step's turns with the PRM as it was before this step's update (``false``: update on
    the step's episodes first, then score them with the updated PRM, as OPRL's step rewards are)."""
    grad_clip: float = 1.0
    """The PRM's gradient-norm clipping threshold (``0`` disables)."""
    weight: float = 1.0
    """Multiplier of the process rewards when they are added to the turn rewards."""
    combine: str = "add"
    """``add``: every turn's reward += weight x process reward; ``nonfinal``: all but each episode's
    last turn, which keeps the outcome unmixed (for ``mt_grpo`` with ``episode_term: outcome``: an
    outcome-level plus a step-level advantage, as OPRL combines them)."""
    rubric: list[list[Any]] = field(default_factory=list)
    """Judged or model-free verifiers added to the turn rewards (with or without a PRM):
    ``[[weight, kind, {params}], ...]``, kinds ``outcome``, ``signal``, ``llm_judge``, ``checklist``
    (:mod:`turngym.verifiers.rubric_spec`). Judgements are kept in ``turn.info["rubric"]``; a judge
    that fails is a missing signal (adds nothing) and a warning. Combined as ``combine`` says."""
    rubric_concurrency: int = 4
    """Verifier calls (endpoint requests) in flight at once."""


@dataclass
class TrainConfig:
    """The run."""

    steps: int = 20
    checkpoint_every: int = 10
    """Steps between checkpoints (``0``: only at the end)."""
    keep_checkpoints: int = 2
    tensorboard: bool = False
    """Also log to TensorBoard when it is installed."""
    progress: bool = True
    """A rich progress display."""
    save_trajectories: bool = True
    """Write each step's episodes as JSON lines."""


@dataclass
class Config:
    """A whole training run."""

    seed: int = 0
    output_dir: str = "runs/train"
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    process_reward: ProcessRewardConfig = field(default_factory=ProcessRewardConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as a config file would hold it."""
        return dataclasses.asdict(self)

    def checkpoint_dict(self) -> dict[str, Any]:
        """What a checkpoint records: :meth:`to_dict` with a relative ``model.path`` that names an
        existing file or directory made absolute, so ``--agent checkpoint:RUN`` finds the base model
        from any working directory (a name such as ``smollm2-135m`` is kept as it is)."""
        data = self.to_dict()
        path = Path(data["model"]["path"])
        if not path.is_absolute() and path.exists():
            data["model"]["path"] = str(path.resolve())
        return data


CHOICES: dict[str, tuple[str, ...]] = {
    "model.dtype": ("float32", "bfloat16", "float16"),
    "rollout.engine": ("hf", "vllm"),
    "algorithm.info_gain": ("prob", "logprob"),
    "loss.aggregation": ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"),
    "process_reward.kind": ("none", "prime", "oprl"),
    "process_reward.combine": ("add", "nonfinal"),
}
POSITIVE: tuple[str, ...] = (
    "rollout.group_size", "rollout.groups_per_step", "rollout.max_new_tokens", "optim.lr",
    "optim.ppo_epochs", "optim.minibatch_episodes", "optim.micro_batch_episodes", "train.steps",
    "loss.clip_eps", "rollout.temperature", "model.lora.r", "loss.norm_tokens",
    "process_reward.beta", "process_reward.lr", "process_reward.epochs", "process_reward.rubric_concurrency",
    "rollout.tree.max_turns",
)
NON_NEGATIVE: tuple[str, ...] = (
    "loss.kl_coef", "loss.entropy_coef", "optim.weight_decay", "optim.grad_clip",
    "train.checkpoint_every", "train.keep_checkpoints", "model.lora.dropout",
    "process_reward.grad_clip",
)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _build(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from ``data``, checking keys and types recursively."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a table of settings, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in known]
    if unknown:
        where = f"{prefix}." if prefix else ""
        close = difflib.get_close_matches(str(unknown[0]), known, n=1, cutoff=0.7)
        hint = f" (did you mean {where}{close[0]}?)" if close else ""
        raise ConfigError(
            f"unknown key {where}{unknown[0]}{hint}; accepted keys{' in ' + prefix if prefix else ''}: "
            f"{', '.join(known)}"
        )
    values = {name: _coerce(hints[name], data[name], f"{prefix}.{name}" if prefix else name)
              for name in data}
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: {value!r} is not allowed")
    if dataclasses.is_dataclass(hint):
        return _build(hint, {} if value is None else value, key)  # type: ignore[arg-type]
    if hint is Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (inner,) = typing.get_args(hint) or (Any,)
        return [_coerce(inner, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table (mapping), got {value!r}")
        _, inner = typing.get_args(hint) or (str, Any)
        return {str(k): _coerce(inner, v, f"{key}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, str) and _looks_numeric(value) and "e" in value.lower():
            value = float(value)  # YAML 1.1 reads 3e-4 (no dot) as text
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected text, got {value!r}")
        return value
    raise ConfigError(f"{key}: cannot check values of type {_type_name(hint)}")


def _get(config: Config, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        if value is None:
            return None
        value = getattr(value, part)
    return value


def validate(config: Config) -> Config:
    """Check choices and ranges that types alone do not capture."""
    for key, allowed in CHOICES.items():
        value = _get(config, key)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not allowed; accepted: {', '.join(allowed)}")
    for key in POSITIVE:
        value = _get(config, key)
        if value is not None and value <= 0:
            raise ConfigError(f"{key}: {value!r} must be > 0")
    for key in NON_NEGATIVE:
        value = _get(config, key)
        if value is not None and value < 0:
            raise ConfigError(f"{key}: {value!r} must be >= 0")
    if not 0 < config.rollout.top_p <= 1:
        raise ConfigError(f"rollout.top_p: {config.rollout.top_p!r} must be in (0, 1]")
    if config.loss.dual_clip is not None and config.loss.dual_clip <= 1:
        raise ConfigError(f"loss.dual_clip: {config.loss.dual_clip!r} must be > 1 (or null)")
    if len(config.optim.betas) != 2 or not all(0 <= b < 1 for b in config.optim.betas):
        raise ConfigError(f"optim.betas: {config.optim.betas!r} must be two numbers in [0, 1)")
    if config.optim.micro_batch_episodes > config.optim.minibatch_episodes:
        raise ConfigError(
            f"optim.micro_batch_episodes: {config.optim.micro_batch_episodes} must be <= "
            f"optim.minibatch_episodes ({config.optim.minibatch_episodes})"
        )
    for i, item in enumerate(config.algorithm.combine):
        if len(item) not in (2, 3) or isinstance(item[0], bool) or not isinstance(item[0], (int, float)) \
                or not isinstance(item[1], str) or (len(item) == 3 and not isinstance(item[2], Mapping)):
            raise ConfigError(
                f"algorithm.combine[{i}]: {item!r}; each entry is [weight, estimator name, {{params}}]"
            )
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", config.model.device):
        raise ConfigError(f"model.device: {config.model.device!r} is not allowed; accepted: auto, cpu, cuda, "
                          "cuda:N")
    if not re.fullmatch(r"local|ray:[1-9][0-9]*", config.env.workers):
        raise ConfigError(f"env.workers: {config.env.workers!r} is not allowed; accepted: local, ray:N "
                          "(N >= 1 Ray actors)")
    tree = config.rollout.tree
    if tree is not None:
        budget = tree.token_budget
        if (isinstance(budget, str) and budget != "flat") or (isinstance(budget, int) and budget < 0):
            raise ConfigError(f"rollout.tree.token_budget: {budget!r} is not allowed; accepted: flat, a "
                              "number of tokens >= 0, or null")
        if tree.width < 2:
            raise ConfigError(f"rollout.tree.width: {tree.width!r} is not allowed (a tree of width 1 never "
                              "branches); accepted: an int >= 2: children of a branching node")
        if any(d < 0 for d in tree.branch_depths or []):
            raise ConfigError(f"rollout.tree.branch_depths: {tree.branch_depths!r} must be depths >= 0")
        if tree.branch_depths is not None and not any(d < tree.max_turns for d in tree.branch_depths):
            raise ConfigError(
                f"rollout.tree.branch_depths: {tree.branch_depths!r} never branches (no depth below "
                f"rollout.tree.max_turns = {tree.max_turns}); accepted: null (branch at every depth) or a "
                "list with at least one depth d, 0 <= d < max_turns"
            )
        if config.env.workers != "local":
            raise ConfigError(f"rollout.tree grows trees on local environments (get_state/set_state); "
                              f"env.workers must be local, not {config.env.workers!r}")
    if config.process_reward.kind == "oprl" and config.rollout.group_size < 2:
        raise ConfigError(f"process_reward.kind: oprl learns from pairs of one task's episodes, so "
                          f"rollout.group_size must be >= 2 (it is {config.rollout.group_size})")
    if config.algorithm.empg is not None:
        unknown = sorted(set(config.algorithm.empg) - {"k", "zeta"})
        if unknown:
            raise ConfigError(f"algorithm.empg: unknown key(s) {unknown}; accepted: k, zeta")
    if config.algorithm.aem is not None:
        unknown = sorted(set(config.algorithm.aem) - {"lam", "min_range"})
        if unknown:
            raise ConfigError(f"algorithm.aem: unknown key(s) {unknown}; accepted: lam, min_range")
    return config


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=3e-4"`` -> ``(["optim", "lr"], 0.0003)``; values are YAML scalars."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE (e.g. optim.lr=3e-4), got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: cannot read value {raw!r}: {exc}") from exc
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)
    return key.strip().split("."), value


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_data(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file into plain data."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; give a config file (.yaml, .yml or .toml)")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: config files are .yaml, .yml or .toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else (yaml.safe_load(text) or {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}{_yaml_position(exc)}: not valid YAML: {_yaml_problem(exc)}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table of settings")
    return data


def _yaml_position(exc: yaml.YAMLError) -> str:
    """``", line L, column C"`` of a YAML parser error, where the parser gives it."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The parser's complaint in one line, without its ``in "<unicode string>"`` locations."""
    problem = getattr(exc, "problem", None)
    if not problem:
        return " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    return f"{problem} ({context})" if context else str(problem)


def from_dict(data: Mapping[str, Any], overrides: Sequence[str] = ()) -> Config:
    """Build and validate a :class:`Config` from plain data plus ``--set`` overrides."""
    data = _deep_copy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for part in keys[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {'.'.join(keys)}: {part} is not a table")
            node = child
        node[keys[-1]] = value
    return validate(_build(Config, data, ""))


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Load, override and validate a config file."""
    return from_dict(load_data(path), overrides)


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
