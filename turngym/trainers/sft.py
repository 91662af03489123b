"""Supervised fine-tuning on trajectories (the warm start, or "cold start", before RL).

``turngym sft CONFIG`` trains the policy (LoRA or every weight) to imitate the
actions of recorded episodes. The loss is the mean negative log-likelihood of
the policy's own action tokens only: the masks come from the records' spans
(:meth:`~turngym.core.trajectory.EpisodeRecord.loss_spans`), never from scanning
text, so prompts and environment replies are context, never targets.

Token in, token out, exactly as in RL. A record that already carries token ids
(a ``turngym train`` trajectory, a token-policy eval) is trained on those ids.
A text-level record (the oracle agent, an OpenAI-compatible endpoint) is
tokenised once with the policy's chat template through the same incremental
:class:`~turngym.agents.chat_template.Conversation` the rollout uses: each
action becomes its text's ids plus the end-of-turn token a sampler would have
emitted, each reply the ids the template adds after it. The tokenised set is
written to ``<run>/sft_data.jsonl`` before the first step, and a resumed run
trains on that file, so an interrupted and resumed run equals an uninterrupted one.

Where the episodes come from (``data:``): record files (``records: [a.jsonl,
...]``, e.g. ``trajectories/step-*.jsonl`` or an eval run's ``episodes.jsonl``),
and/or the oracle agent played on an environment (``oracle: {env, kwargs,
episodes, task_seed}``); ``min_outcome`` keeps only episodes that scored at
least that much (filtering by outcome).

A run directory looks like a ``turngym train`` one and is written by the same
code: ``checkpoints/step-N`` (:mod:`turngym.trainers.checkpoint`; the state's
``config`` is a full training config, so :func:`~turngym.trainers.policies.policy_from_run`
and ``checkpoint:RUN`` agents load it), ``metrics.jsonl`` and ``curves.png``
(:mod:`turngym.trainers.metrics`), one writer at a time (:func:`~turngym.core.runlock.run_lock`).
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from turngym.core.runlock import run_lock
from turngym.core.trajectory import EpisodeRecord, read_episodes, write_episodes
from turngym.trainers.checkpoint import load_latest, load_weights, restore_rng, save_checkpoint
from turngym.trainers.config import (
    Config,
    ConfigError,
    ModelConfig,
    _build,
    load_data,
    parse_override,
    validate,
)
from turngym.trainers.metrics import MetricsLogger, plot_curves, read_metrics

DATA_FILE = "sft_data.jsonl"
SFT_CURVES: tuple[str, ...] = ("loss", "token_accuracy", "grad_norm", "seconds_total")


@dataclass
class OracleData:
    """Episodes of the environment's oracle agent (``oracle_action()`` every turn)."""

    env: str = "turngym/SearchQA-Tagged-v0"
    """Registered environment id."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for ``gymnasium.make``."""
    episodes: int = 64
    """How many episodes (reset seeds ``task_seed .. task_seed + episodes - 1``)."""
    task_seed: int = 0


@dataclass
class DataConfig:
    """What to imitate."""

    records: list[str] = field(default_factory=list)
    """Trajectory files (JSON lines of episode records)."""
    oracle: OracleData | None = None
    """Episodes of the oracle agent, or ``null``."""
    min_outcome: float | None = None
    """Keep only episodes whose outcome is at least this (``null``: every finished episode)."""


@dataclass
class SFTOptimConfig:
    """AdamW and the batches."""

    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 1.0
    """Gradient-norm clipping threshold (``0`` disables)."""
    batch_episodes: int = 8
    """Episodes per optimiser step (the data is reshuffled every pass over it)."""
    micro_batch_episodes: int = 4
    """Episodes per forward/backward (gradient accumulation inside a batch)."""


@dataclass
class SFTTrainConfig:
    """The run."""

    steps: int = 20
    """Optimiser steps."""
    checkpoint_every: int = 10
    """Steps between checkpoints (``0``: only at the end)."""
    keep_checkpoints: int = 2
    tensorboard: bool = False
    progress: bool = True


@dataclass
class SFTConfig:
    """A whole fine-tuning run."""

    seed: int = 0
    output_dir: str = "runs/sft"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: SFTOptimConfig = field(default_factory=SFTOptimConfig)
    train: SFTTrainConfig = field(default_factory=SFTTrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as a config file would hold it."""
        return dataclasses.asdict(self)

    def policy_config(self) -> Config:
        """The training config that describes this run's policy (what checkpoints record)."""
        return validate(Config(seed=self.seed, output_dir=self.output_dir, model=copy.deepcopy(self.model)))


def sft_config_from_dict(data: dict[str, Any], overrides: Sequence[str] = ()) -> SFTConfig:
    """Build and check an :class:`SFTConfig` from plain data plus ``--set k=v`` overrides."""
    data = copy.deepcopy(dict(data))
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
    config: SFTConfig = _build(SFTConfig, data, "")
    config.policy_config()  # model.* checks (device, dtype, LoRA rank) shared with `turngym train`
    opt, train = config.optim, config.train
    positive = (("optim.lr", opt.lr), ("optim.batch_episodes", opt.batch_episodes),
                ("optim.micro_batch_episodes", opt.micro_batch_episodes), ("train.steps", train.steps))
    for key, value in positive:
        if value <= 0:
            raise ConfigError(f"{key}: {value!r} must be > 0")
    for key, value in (("optim.weight_decay", opt.weight_decay), ("optim.grad_clip", opt.grad_clip),
                       ("train.checkpoint_every", train.checkpoint_every),
                       ("train.keep_checkpoints", train.keep_checkpoints)):
        if value < 0:
            raise ConfigError(f"{key}: {value!r} must be >= 0")
    if opt.micro_batch_episodes > opt.batch_episodes:
        raise ConfigError(f"optim.micro_batch_episodes: {opt.micro_batch_episodes} must be <= "
                          f"optim.batch_episodes ({opt.batch_episodes})")
    if not config.data.records and config.data.oracle is None:
        raise ConfigError("data: nothing to imitate; give data.records (trajectory files) and/or "
                          "data.oracle ({env, kwargs, episodes, task_seed})")
    if config.data.oracle is not None and config.data.oracle.episodes < 1:
        raise ConfigError(f"data.oracle.episodes: {config.data.oracle.episodes!r} must be > 0")
    for path in config.data.records:
        if not Path(path).is_file():
            raise ConfigError(f"data.records: {path} is not a file (expected JSON lines of episode records)")
    return config


def load_sft_config(path: str | Path, overrides: Sequence[str] = ()) -> SFTConfig:
    """Load, override and check an SFT config file (YAML or TOML)."""
    return sft_config_from_dict(load_data(path), overrides)


# ----- data ------------------------------------------------------------------------------


def gather_episodes(data: DataConfig) -> list[EpisodeRecord]:
    """The episodes ``data`` names: record files first, then the oracle's; filtered by outcome."""
    episodes: list[EpisodeRecord] = []
    for path in data.records:
        try:
            episodes.extend(read_episodes(path))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"data.records: cannot read {path}: {exc}") from exc
    if data.oracle is not None:
        from turngym.agents.scripted import OracleAgent
        from turngym.rollout import play_episodes

        oracle = data.oracle
        seeds = list(range(oracle.task_seed, oracle.task_seed + oracle.episodes))
        episodes.extend(play_episodes(oracle.env, OracleAgent(), seeds, env_kwargs=dict(oracle.kwargs),
                                      run_id="oracle", progress=False))
    kept = [r for r in episodes if r.status == "ok" and r.turns]
    if data.min_outcome is not None:
        kept = [r for r in kept if r.outcome is not None and r.outcome >= data.min_outcome]
    if not kept:
        floor = f", outcome >= {data.min_outcome}" if data.min_outcome is not None else ""
        raise ConfigError(f"data: none of the {len(episodes)} episodes is usable "
                          f"(finished, with turns{floor})")
    return kept


def tokenize_episodes(records: Sequence[EpisodeRecord], tokenizer: Any) -> list[EpisodeRecord]:
    """Copies of ``records`` whose token fields hold what the policy would have seen and sampled.

    A record with token ids keeps them unchanged. A text-level record is tokenised with
    ``tokenizer``'s chat template through :class:`~turngym.agents.chat_template.Conversation`
    (as :func:`turngym.rollout.collect` builds its stream): each action is its text's ids plus
    the end-of-turn token. A record mixing tokenised and untokenised turns is refused.
    """
    from turngym.agents.chat_template import ChatTemplate

    template = ChatTemplate(tokenizer)
    end = getattr(tokenizer, "eos_token_id", None)
    if not isinstance(end, int):
        raise ValueError("the tokenizer has no EOS token to end each action with")
    out = []
    for record in records:
        with_ids = [bool(t.action_ids) for t in record.turns]
        if all(with_ids) and record.prompt_ids:
            out.append(record)
            continue
        if any(with_ids):
            raise ValueError(f"episode {record.episode_id}: some turns have token ids and some do not")
        copied = copy.deepcopy(record)
        conversation = template.start(copied.opening)
        copied.prompt_ids = list(conversation.ids)
        for turn in copied.turns:
            text = turn.action_text
            if turn.action_message is not None and turn.action_message.get("tool_calls"):
                raise ValueError(f"episode {record.episode_id} turn {turn.index}: tool-call actions cannot "
                                 "be tokenised from text; give records with token ids")
            action_ids = [*template.encode(text), end]
            tokens = conversation.add_turn(action_ids, turn.observation)
            if tokens.action_text != text:
                raise ValueError(f"episode {record.episode_id} turn {turn.index}: {text!r} does not "
                                 f"round-trip through the tokenizer (got {tokens.action_text!r})")
            turn.action_ids = action_ids
            turn.action_logprobs = []
            turn.observation_ids = list(tokens.observation_ids)
        out.append(copied)
    return out


def action_mask(records: Sequence[EpisodeRecord]) -> tuple[list[list[int]], torch.Tensor]:
    """Token sequences and a ``[episodes, longest]`` mask of the action tokens, from the records' spans."""
    sequences = [r.token_ids() for r in records]
    mask = torch.zeros((len(records), max(len(s) for s in sequences)))
    for row, record in enumerate(records):
        for start, end in record.loss_spans():
            mask[row, start:end] = 1.0
    return sequences, mask


def sft_loss(
    policy: Any, records: Sequence[EpisodeRecord], token_total: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of the action tokens' negative log-likelihoods over ``records``, divided by ``token_total``.

    Also returns the micro-batch's token count and greedy token accuracy. Prompt and
    environment tokens get no loss: the mask is the records' action spans.
    """
    sequences, mask = action_mask(records)
    scored = policy.token_logprobs(sequences, with_grad=True)
    logprobs = scored.logprobs.cpu()
    mask = mask[:, : logprobs.shape[1]]
    loss = -(logprobs * mask).sum() / token_total
    with torch.no_grad():
        confident = (logprobs > np.log(0.5)).float()  # the token had probability > 1/2: greedy picks it
    return loss, {"tokens": float(mask.sum()), "correct": float((confident * mask).sum())}


# ----- the trainer -----------------------------------------------------------------------


class SFTTrainer:
    """Fine-tunes ``policy`` on ``config.data`` (see the module docstring).

    Args:
        config: a checked :class:`SFTConfig`.
        policy: the policy to train (default: loaded from ``config.model``, LoRA added when set).
        episodes: the episodes to imitate, instead of ``config.data`` (a resumed run uses its saved set).
        console: where the progress display goes (a ``rich`` console), or ``None``.
    """

    def __init__(self, config: SFTConfig, *, policy: Any | None = None,
                 episodes: Sequence[EpisodeRecord] | None = None, console: Any | None = None) -> None:
        self.config = config
        self.run_dir = Path(config.output_dir)
        self._held: ExitStack | None = ExitStack()
        self._held.enter_context(run_lock(self.run_dir))
        try:
            self._setup(policy, episodes, console)
        except BaseException:
            self.close()
            raise

    def _setup(
        self, policy: Any | None, episodes: Sequence[EpisodeRecord] | None, console: Any | None
    ) -> None:
        config = self.config
        _seed_everything(config.seed)
        if policy is None:
            from turngym.trainers.policies import load_policy

            policy = load_policy(config.policy_config())
        self.policy = policy
        self.console = console
        self.trainable = [p for p in policy.model.parameters() if p.requires_grad]
        if not self.trainable:
            raise ConfigError("model: no trainable parameters (is every weight frozen?)")
        opt = config.optim
        self.optimizer = torch.optim.AdamW(self.trainable, lr=opt.lr, betas=tuple(opt.betas),  # type: ignore[arg-type]
                                           weight_decay=opt.weight_decay)
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.step = 0
        data_path = self.run_dir / DATA_FILE
        found = load_latest(self.checkpoint_dir)
        if found is not None and data_path.is_file():
            self.episodes = read_episodes(data_path)  # the set this run started with
        else:
            chosen = list(episodes) if episodes is not None else gather_episodes(config.data)
            self.episodes = tokenize_episodes(chosen, policy.tokenizer)
            write_episodes(data_path, self.episodes)
        if not self.episodes:
            raise ConfigError("data: no episodes to imitate")
        for record in self.episodes:
            if not any(t.action_ids for t in record.turns):
                raise ConfigError(f"data: episode {record.episode_id} has no action tokens")
        if found is not None:
            self._restore(found)
        self.metrics = MetricsLogger(self.run_dir, tensorboard=config.train.tensorboard,
                                     resume_step=self.step if found is not None else None)

    def close(self) -> None:
        """Release the run directory."""
        if self._held is not None:
            self._held.close()
            self._held = None

    def __enter__(self) -> SFTTrainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- checkpoints --------------------------------------------------------------------

    def save(self) -> Path:
        """Checkpoint the trainable weights, optimiser, RNG states and step."""
        weights = {n: p.detach().clone() for n, p in self.policy.model.named_parameters() if p.requires_grad}
        return save_checkpoint(
            self.checkpoint_dir, self.step, weights=weights, optimizer=self.optimizer.state_dict(),
            state={"cursor": 0, "config": self.config.policy_config().checkpoint_dict(),
                   "sft": self.config.to_dict(), "kind": "sft"},
            keep=self.config.train.keep_checkpoints,
        )

    def _restore(self, found: tuple[Path, dict[str, Any], list[Any]]) -> None:
        path, loaded, _ = found
        load_weights(self.policy.model, loaded["weights"], path)
        self.optimizer.load_state_dict(loaded["optimizer"])
        restore_rng(loaded["rng_tensors"], loaded["state"]["rng"])
        self.step = int(loaded["state"]["step"])
        if hasattr(self.policy, "weights_changed"):
            self.policy.weights_changed(trainable_only=True)

    # ----- one step and the run -----------------------------------------------------------

    def batch(self, step: int) -> list[EpisodeRecord]:
        """The episodes of optimiser step ``step`` (0-based): a fixed function of seed and step."""
        size = self.config.optim.batch_episodes
        n = len(self.episodes)
        chosen = []
        for position in range(step * size, (step + 1) * size):
            epoch, index = divmod(position, n)
            order = np.random.default_rng([self.config.seed, epoch]).permutation(n)
            chosen.append(self.episodes[int(order[index])])
        return chosen

    def train_step(self) -> dict[str, Any]:
        """One optimiser step on the next batch; logs and returns its metrics."""
        clock = time.perf_counter()
        opt = self.config.optim
        batch = self.batch(self.step)
        _, mask = action_mask(batch)
        total = float(mask.sum().clamp_min(1.0))
        self.policy.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, tokens, correct = 0.0, 0.0, 0.0
        for start in range(0, len(batch), opt.micro_batch_episodes):
            loss, counts = sft_loss(self.policy, batch[start:start + opt.micro_batch_episodes], total)
            loss.backward()
            loss_sum += float(loss.detach())
            tokens += counts["tokens"]
            correct += counts["correct"]
        max_norm = opt.grad_clip if opt.grad_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.trainable, max_norm)
        skipped = not torch.isfinite(norm)
        if skipped:
            self.optimizer.zero_grad(set_to_none=True)  # a NaN gradient would poison the weights
        else:
            self.optimizer.step()
        self.policy.model.eval()
        if hasattr(self.policy, "weights_changed"):
            self.policy.weights_changed(trainable_only=True)
        self.step += 1
        metrics = {
            "loss": loss_sum, "token_accuracy": correct / max(tokens, 1.0), "action_tokens": int(tokens),
            "grad_norm": float(norm), "skipped_nonfinite_updates": int(skipped),
            "epoch": self.step * opt.batch_episodes / len(self.episodes),
            "seconds_total": round(time.perf_counter() - clock, 4),
        }
        self.metrics.log(self.step, metrics)
        return metrics

    def run(self, stop_after: int | None = None) -> Path:
        """Train until ``train.steps`` (or ``stop_after`` more steps); return the run directory."""
        try:
            cfg = self.config.train
            target = cfg.steps if stop_after is None else min(cfg.steps, self.step + stop_after)
            with _progress(self.console if cfg.progress else None) as bar:
                task = bar.add_task("sft", total=cfg.steps, completed=self.step) if bar else None
                while self.step < target:
                    metrics = self.train_step()
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                        self.save()
                    if bar is not None:
                        bar.update(task, completed=self.step,
                                   description=f"sft step {self.step} loss {metrics['loss']:.3f}")
            if self.step >= cfg.steps and not (self.checkpoint_dir / f"step-{self.step:08d}").is_dir():
                self.save()
            self.metrics.close()
            rows = read_metrics(self.metrics.path)
            if rows:
                plot_curves(rows, self.run_dir / "curves.png", keys=SFT_CURVES)
            return self.run_dir
        finally:
            self.close()


class _NoBar:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _progress(console: Any | None) -> Any:
    if console is None:
        return _NoBar()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def sft_main(config_path: str, overrides: list[str], console: Any) -> int:
    """``turngym sft CONFIG [--set k=v ...]``: fine-tune, then say where everything is.

    Returns the exit code: 0 done, 2 a configuration error (printed on stderr).
    """
    try:
        config = load_sft_config(config_path, overrides)
        from turngym.trainers.preflight import check_model

        check_model(config.policy_config())
        trainer = SFTTrainer(config, console=console)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    console.print(f"Fine-tuning {config.model.path} on {len(trainer.episodes)} episodes for "
                  f"{config.train.steps} steps (from step {trainer.step})")
    run_dir = trainer.run()
    rows = read_metrics(run_dir / "metrics.jsonl")
    if rows:
        first, last = rows[0]["loss"], rows[-1]["loss"]
        console.print(f"Action-token loss: first step {first:.3f}, last step {last:.3f}")
    console.print(f"Metrics:      {(run_dir / 'metrics.jsonl').resolve()}")
    console.print(f"Curves:       {(run_dir / 'curves.png').resolve()}")
    console.print(f"Checkpoints:  {(run_dir / 'checkpoints').resolve()}")
    console.print(f"Evaluate it:  turngym eval ... --agent checkpoint:{run_dir}")
    return 0
