"""The single-machine multi-turn RL loop, read top to bottom.

One step:

1. **rollout** - draw ``groups_per_step`` tasks from the data cursor, collect
   ``group_size`` episodes of each with the rollout policy (token in, token out), or with
   ``rollout.tree`` grow each task's episodes as a tree of turns (at the token cost of the
   flat group by default);
2. **scoring** - when the estimator needs it, score belief gain with the policy
   (one packed forward pass per episode); with ``process_reward.kind`` set, train the
   implicit PRM on the step's episodes (PRIME or OPRL, :mod:`turngym.trainers.prm`) and add
   its turn rewards to the turn rewards the estimator reads; likewise a
   ``process_reward.rubric`` of weighted verifiers (LLM judge, checklist, signals);
3. **advantages** - any registered estimator, or a weighted combination, then
   optionally EMPG's and/or AEM's entropy modulation;
4. **loss** - PPO's clipped objective over the policy's own tokens (masks from the
   records' spans), per-turn clip ranges where the estimator gives them, KL to the
   reference (the base model with the LoRA adapter disabled, or a frozen copy);
5. **optimiser step** - AdamW with gradient accumulation and norm clipping;
6. **weight sync** - push the new weights to a separate rollout engine (vLLM);
   nothing to do when the training model samples itself.

Each phase is a method, so a distributed engine can reuse them one by one.
Everything is checked before any model is loaded (:meth:`Trainer.preflight`).

A run leaves exactly one record of each step. Resuming from the checkpoint of
step ``k`` (the newest that verifies) drops whatever a killed run wrote past
``k``: metrics lines, TensorBoard events (``purge_step``) and the trajectory
files ``trajectories/step-NNNNNN.jsonl`` of later steps; a fresh run (no
checkpoint) starts from step 0 and drops them all.
"""

from __future__ import annotations

import copy
import math
import random
import re
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from turngym.core.runlock import run_lock
from turngym.core.trajectory import EpisodeRecord, write_episodes
from turngym.rollout.metrics import summary_metrics
from turngym.trainers import advantages as adv
from turngym.trainers.batching import TokenTensors, token_tensors, trainable, turn_batch
from turngym.trainers.checkpoint import (
    CheckpointWarning,
    latest_checkpoint,
    load_latest,
    load_weights,
    restore_rng,
    save_checkpoint,
    set_aside,
)
from turngym.trainers.config import Config, ConfigError
from turngym.trainers.loss import ppo_loss
from turngym.trainers.metrics import MetricsLogger, plot_curves, read_metrics
from turngym.trainers.policies import load_policy, start_vllm
from turngym.trainers.preflight import (
    estimator_components,
    make_env,
    needs_info_gain,
    preflight,
)


@dataclass
class StepResult:
    """What one training step produced."""

    step: int
    metrics: dict[str, Any]
    records: list[EpisodeRecord] = field(default_factory=list)


class Trainer:
    """Trains ``policy`` on ``config`` (see the module docstring).

    Args:
        config: a validated :class:`~turngym.trainers.config.Config`.
        policy: the trainable policy (default: loaded from ``config.model``).
        env_factory: builds one environment (default: ``gymnasium.make`` of ``config.env``).
        rollout_policy: a separate sampler kept in sync (default: ``policy`` samples itself).
        console: where the progress display goes (a ``rich`` console), or ``None`` for none.
    """

    def __init__(
        self,
        config: Config,
        *,
        policy: Any | None = None,
        env_factory: Callable[[], gym.Env] | None = None,
        rollout_policy: Any | None = None,
        console: Any | None = None,
    ) -> None:
        self.config = config
        self._owned_pool: Any | None = None
        if env_factory is None and config.env.workers != "local":  # environments in Ray actors
            from turngym.core.registry import full_id
            from turngym.integrations import env_source

            make_env(config).close()  # checks env.id and env.kwargs here, with the config's own errors
            env_factory = self._owned_pool = env_source(full_id(config.env.id), config.env.kwargs,
                                                        config.env.workers)
        self.env_factory = env_factory or (lambda: make_env(config))
        self.loss_norm = preflight(config, self.env_factory)  # the divisor of seq_mean_token_sum_norm
        self.rubric = self._build_rubric()  # its settings are checked before any model is loaded
        self.run_dir = Path(config.output_dir)
        self._held: ExitStack | None = None  # one writer per run directory: from here to run()'s end
        self._hold_run_dir()
        try:
            self._set_up(config, policy, rollout_policy, console)
        except BaseException:  # a failed start must not keep its own run directory locked
            self.close()
            raise

    def _set_up(self, config: Config, policy: Any | None, rollout_policy: Any | None, console: Any) -> None:
        _seed_everything(config.seed)
        self.policy = policy if policy is not None else load_policy(config)
        if rollout_policy is None and config.rollout.engine == "vllm":
            rollout_policy = start_vllm(config)
        self.rollout_policy = rollout_policy or self.policy
        self.console = console
        model = self.policy.model
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        if not self.trainable:
            raise ConfigError("model: no trainable parameters (is every weight frozen?)")
        self.optimizer = torch.optim.AdamW(
            self.trainable, lr=config.optim.lr, betas=tuple(config.optim.betas),  # type: ignore[arg-type]
            weight_decay=config.optim.weight_decay,
        )
        self.reference = None
        if config.loss.kl_coef > 0 and not _is_peft(model):
            self.reference = copy.deepcopy(model).eval().requires_grad_(False)
        self.prm = self._build_prm()  # before resuming: its checkpointed state is loaded there
        self.tree_budget: Any = None  # rollout.tree.token_budget "flat": its EqualCostBudget (first use)
        self.step = 0
        self.cursor = config.env.task_seed
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.resumed_from: Path | None = None
        resumed = self._resume()
        trim_trajectories(self.run_dir / "trajectories", self.step)
        self.metrics = MetricsLogger(
            self.run_dir, tensorboard=config.train.tensorboard, resume_step=self.step if resumed else None
        )

    def _hold_run_dir(self) -> None:
        if self._held is None:
            stack = ExitStack()
            stack.enter_context(run_lock(self.run_dir))  # RunLockedError names a live holder
            self._held = stack

    def close(self) -> None:
        """Release the run directory (another process may then train or resume in it)."""
        if self._held is not None:
            self._held.close()
            self._held = None

    def shutdown(self) -> None:
        """:meth:`close`, and stop the Ray actors this trainer started for its environments."""
        self.close()
        if self._owned_pool is not None and hasattr(self._owned_pool, "close"):
            self._owned_pool.close()
            self._owned_pool = None

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ----- checkpoints ----------------------------------------------------------------

    def _trainable_state(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in self.policy.model.named_parameters() if p.requires_grad}

    def save(self) -> Path:
        """Checkpoint the trainable weights, optimiser, RNG states, step and data cursor (and the
        process reward model's weights and optimiser, when there is one, and the equal-cost tree
        budget's bookkeeping, :attr:`tree_budget`, once it exists)."""
        state: dict[str, Any] = {"cursor": self.cursor, "config": self.config.checkpoint_dict()}
        if self.tree_budget is not None:
            state["tree_budget"] = self.tree_budget.state()
        return save_checkpoint(
            self.checkpoint_dir, self.step, weights=self._trainable_state(),
            optimizer=self.optimizer.state_dict(), state=state,
            keep=self.config.train.keep_checkpoints,
            extra={"prm": self.prm.state_dict()} if self.prm is not None else None,
        )

    def _resume(self) -> bool:
        """Load the newest checkpoint that verifies; warn about, and set aside, newer corrupt ones."""
        found = load_latest(self.checkpoint_dir)  # CheckpointError when none verifies: nothing loaded
        if found is None:
            return False
        path, loaded, skipped = found
        if skipped:
            notes = []
            for bad, why in skipped:  # renamed, not deleted: this run will save those steps again
                kept = set_aside(bad)
                notes.append(f"{bad.name} is corrupt ({why}); kept for inspection as {kept.name}")
            warnings.warn(
                f"resuming from {path.name} (step {int(loaded['state']['step'])}), not the newest "
                f"checkpoint: {'; '.join(notes)}", CheckpointWarning, stacklevel=3,
            )
        load_weights(self.policy.model, loaded["weights"], path)
        self.optimizer.load_state_dict(loaded["optimizer"])
        if self.prm is not None:
            if "prm" not in loaded.get("extra", {}):
                raise ConfigError(f"checkpoint {path} holds no process reward model (prm.pt), but "
                                  f"process_reward.kind is {self.config.process_reward.kind!r}")
            self.prm.load_state_dict(loaded["extra"]["prm"])
        restore_rng(loaded["rng_tensors"], loaded["state"]["rng"])
        self.step = int(loaded["state"]["step"])
        self.cursor = int(loaded["state"]["cursor"])
        self._restore_tree_budget(loaded["state"].get("tree_budget"), path)
        self.sync_weights()
        self.resumed_from = path
        return True

    def _restore_tree_budget(self, saved: Any, path: Path) -> None:
        """Restore :attr:`tree_budget` from a checkpoint's state, so the resumed run plans the same
        tree budgets as an uninterrupted one. A checkpoint without it (no tree budget yet, or
        written before budgets were saved) leaves the budget to start afresh with a flat step."""
        tree = self.config.rollout.tree
        if saved is None or tree is None or tree.token_budget != "flat":
            return
        from turngym.rollout.branching import EqualCostBudget

        try:
            self.tree_budget = EqualCostBudget.from_state(saved, episodes=self.config.rollout.group_size)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"checkpoint {path}: its tree_budget state cannot be restored: {exc}") from exc

    # ----- the phases -------------------------------------------------------------------

    def collect(self) -> list[EpisodeRecord]:
        """Rollout: ``groups_per_step`` tasks x ``group_size`` episodes."""
        from turngym.agents.policy import SamplingParams
        from turngym.rollout import collect

        cfg = self.config.rollout
        seeds = list(range(self.cursor, self.cursor + cfg.groups_per_step))
        self.cursor += cfg.groups_per_step
        sampling = SamplingParams(
            temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
            stop=tuple(cfg.stop), seed=self.config.seed * 1_000_003 + self.step,
        )
        self.policy.model.eval()
        if cfg.tree is not None:
            return self.collect_trees(seeds, sampling)
        records = collect(
            self.env_factory, self.rollout_policy, seeds, group_size=cfg.group_size, sampling=sampling,
            progress=False, run_id=f"step{self.step + 1}",
        )
        return records

    def collect_trees(self, seeds: Sequence[int], sampling: Any) -> list[EpisodeRecord]:
        """``rollout.tree``: one tree of turns per task; its root-to-leaf paths are the group's episodes.

        With ``token_budget: flat`` each tree may spend what ``group_size`` flat episodes of the
        current policy cost (:class:`~turngym.rollout.branching.EqualCostBudget`; its bookkeeping
        is :attr:`tree_budget`, saved in checkpoints and restored on resume).
        """
        from turngym.rollout.branching import EqualCostBudget, collect_trees

        tree = self.config.rollout.tree
        shape: dict[str, Any] = {"width": tree.width, "branch_depths": tree.branch_depths,
                                 "token_budget": tree.token_budget, "episode_tokens": None}
        if tree.token_budget == "flat":
            if self.tree_budget is None:
                self.tree_budget = EqualCostBudget(self.config.rollout.group_size)
            shape.update(self.tree_budget.plan(len(seeds)))
        records = collect_trees(
            self.env_factory, self.rollout_policy, seeds, max_turns=tree.max_turns, sampling=sampling,
            run_id=f"step{self.step + 1}", **shape,
        )
        if tree.token_budget == "flat":
            self.tree_budget.update(records, len(seeds))
        return records

    def belief_gain(self, records: Sequence[EpisodeRecord]) -> list[list[float]] | None:
        """Per-turn belief gain of each episode, when an estimator needs it."""
        if not needs_info_gain(self.config):
            return None
        from turngym.verifiers.info_gain import BeliefGainScorer, belief_gains

        scorer = BeliefGainScorer(self.policy.model, self.policy.tokenizer,
                                  variant=self.config.algorithm.info_gain)  # type: ignore[arg-type]
        return [gains.tolist() for gains in belief_gains(scorer, records)]

    def _build_prm(self) -> Any:
        cfg = self.config.process_reward
        if cfg.kind == "none":
            return None
        from turngym.trainers.prm import build_prm

        tokenizer = self.policy.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        return build_prm(
            self.policy.model, int(pad), objective=cfg.kind, beta=cfg.beta, lr=cfg.lr, epochs=cfg.epochs,
            grad_clip=cfg.grad_clip, micro_batch_episodes=self.config.optim.micro_batch_episodes,
            prm_model=self._load_prm_model() if cfg.model is not None else None,
        )

    def _load_prm_model(self) -> Any:
        """``process_reward.model``: a local causal LM with the policy's tokenizer (LoRA as configured)."""
        from turngym.agents.hf_policy import HFPolicy

        cfg, lora = self.config.process_reward, self.config.model.lora
        first = next(self.policy.model.parameters())
        try:
            loaded = HFPolicy.from_pretrained(cfg.model, device=first.device, dtype=first.dtype)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"process_reward.model: cannot load {cfg.model!r}: {exc}") from exc
        if loaded.tokenizer.get_vocab() != self.policy.tokenizer.get_vocab():
            raise ConfigError(
                f"process_reward.model: {cfg.model!r} has another tokenizer than the policy; an implicit "
                "PRM scores the policy's own token ids, so it needs the same vocabulary"
            )
        if lora is not None:
            loaded.add_lora(r=lora.r, alpha=lora.alpha, dropout=lora.dropout,
                            target_modules=lora.target_modules)
        return loaded.model

    def _build_rubric(self) -> Any:
        cfg = self.config.process_reward
        if not cfg.rubric:
            return None
        from turngym.verifiers.rubric_spec import build_rubric

        try:
            return build_rubric(cfg.rubric, concurrency=cfg.rubric_concurrency)
        except (TypeError, ValueError) as exc:
            where = "process_reward." if str(exc).startswith("rubric[") else "process_reward.rubric: "
            raise ConfigError(f"{where}{exc}") from exc

    def rubric_rewards(self, records: Sequence[EpisodeRecord]) -> tuple[list[list[float]], dict[str, float]]:
        """The rubric's per-turn rewards (judgements kept in ``turn.info["rubric"]``)."""
        rewards = self.rubric.annotate(records)
        flat = [v for per in rewards for v in per]
        missing = sum(len(t.info["rubric"]["missing"]) for r in records for t in r.turns)
        return rewards, {"rubric_reward_mean": float(np.mean(flat)), "rubric_missing": missing}

    def process_rewards(self, records: Sequence[EpisodeRecord]) -> tuple[list[list[float]], dict[str, float]]:
        """Train the implicit PRM on ``records`` (one online update), then score their turns.

        Each turn's reward is also written to its record (``turn.info["process_reward"]``).
        """
        if self.config.process_reward.score_before_update:
            rewards = self.prm.turn_rewards(records)
            update = self.prm.update(records)
        else:
            update = self.prm.update(records)
            rewards = self.prm.turn_rewards(records)
        for record, per_turn in zip(records, rewards):
            for turn, value in zip(record.turns, per_turn):
                turn.info["process_reward"] = value
        flat = [v for per in rewards for v in per]
        return rewards, {
            "prm_loss": update.loss, "prm_accuracy": update.accuracy, "prm_examples": update.examples,
            "prm_grad_norm": update.grad_norm,
            "process_reward_mean": float(np.mean(flat)), "process_reward_std": float(np.std(flat)),
        }

    def turn_entropy(self, records: Sequence[EpisodeRecord]) -> list[list[float]]:
        """Mean policy entropy over each turn's sampled tokens (for EMPG and logging)."""
        out: list[list[float]] = []
        size = self.config.optim.micro_batch_episodes
        for start in range(0, len(records), size):
            chunk = list(records[start:start + size])
            scored = self.policy.token_logprobs([r.token_ids() for r in chunk], with_entropy=True)
            for row, record in enumerate(chunk):
                per_turn = []
                for start_tok, end_tok in record.loss_spans():
                    values = scored.entropy[row, start_tok:end_tok]
                    per_turn.append(float(values.mean()) if end_tok > start_tok else 0.0)
                out.append(per_turn)
        return out

    def advantages(self, batch: adv.TurnBatch) -> adv.AdvantageResult:
        """The configured estimator (or combination), then EMPG and AEM when configured."""
        components = estimator_components(self.config)
        if self.config.algorithm.combine:
            result = adv.estimate("combine", batch, components=components)
        else:
            _, name, params = components[0]
            result = adv.estimate(name, batch, **params)
        if self.config.algorithm.empg is not None:
            result = adv.empg(result, batch, **self.config.algorithm.empg)
        if self.config.algorithm.aem is not None:
            result = adv.aem(result, batch, **self.config.algorithm.aem)
        return result

    def reference_logprobs(self, tensors: TokenTensors) -> torch.Tensor | None:
        """Log-probs of every episode's tokens under the reference, once per step (it never changes
        within a step), in eval mode; ``None`` when the KL term is off."""
        if self.config.loss.kl_coef <= 0:
            return None
        model = self.policy.model
        context: AbstractContextManager[Any] = nullcontext()
        if self.reference is None:
            context = model.disable_adapter()
        else:
            self.policy.model = self.reference
        out = torch.zeros_like(tensors.mask)
        size = self.config.optim.micro_batch_episodes
        try:
            self.policy.model.eval()
            with context, torch.no_grad():
                for start in range(0, len(tensors.sequences), size):
                    chunk = tensors.sequences[start:start + size]
                    scored = self.policy.token_logprobs(chunk).logprobs.cpu()
                    out[start:start + len(chunk), : scored.shape[1]] = scored
        finally:
            self.policy.model = model
        return out

    def update(self, tensors: TokenTensors) -> dict[str, float]:
        """PPO epochs over minibatches of episodes, accumulating micro-batches."""
        cfg, loss_cfg = self.config.optim, self.config.loss
        episodes = len(tensors.sequences)
        order_rng = np.random.default_rng([self.config.seed, self.step])
        totals: dict[str, list[float]] = {"policy_loss": [], "kl": [], "entropy": [], "clip_fraction": [],
                                          "grad_norm": []}
        skipped = 0
        reference = self.reference_logprobs(tensors)
        self.policy.model.train()
        for _ in range(cfg.ppo_epochs):
            order = order_rng.permutation(episodes).tolist()
            for mb_start in range(0, episodes, cfg.minibatch_episodes):
                minibatch = order[mb_start:mb_start + cfg.minibatch_episodes]
                mb_tokens = float(tensors.mask[minibatch].sum().clamp_min(1.0))
                self.optimizer.zero_grad(set_to_none=True)
                for mc_start in range(0, len(minibatch), cfg.micro_batch_episodes):
                    rows = minibatch[mc_start:mc_start + cfg.micro_batch_episodes]
                    part = tensors.select(rows)
                    ref = None if reference is None else reference[rows, : part.mask.shape[1]]
                    scored = self.policy.token_logprobs(part.sequences, with_grad=True, with_entropy=True)
                    entropy = scored.entropy.cpu()
                    if loss_cfg.entropy_coef == 0:
                        entropy = entropy.detach()  # logged only: no backward through it
                    clip_low: torch.Tensor | float = loss_cfg.clip_eps
                    clip_high: torch.Tensor | float | None = loss_cfg.clip_eps_high
                    if part.clip is not None:
                        clip_low = part.clip
                        clip_high = part.clip
                    out = ppo_loss(
                        scored.logprobs.cpu(), part.old_logprobs, part.advantages, part.mask,
                        clip_low=clip_low, clip_high=clip_high, dual_clip=loss_cfg.dual_clip,
                        aggregation=loss_cfg.aggregation,
                        ref_logprobs=ref, kl_coef=loss_cfg.kl_coef,
                        entropy=entropy,
                        entropy_coef=loss_cfg.entropy_coef, norm=self.loss_norm,
                    )
                    if loss_cfg.aggregation == "token_mean":
                        weight = float(part.mask.sum()) / mb_tokens
                    else:
                        weight = len(rows) / len(minibatch)
                    (out.loss * weight).backward()
                    totals["policy_loss"].append(out.policy_loss)
                    totals["kl"].append(out.kl)
                    totals["entropy"].append(out.entropy)
                    totals["clip_fraction"].append(out.clip_fraction)
                max_norm = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
                norm = torch.nn.utils.clip_grad_norm_(self.trainable, max_norm)
                if not torch.isfinite(norm):
                    skipped += 1  # a NaN/inf gradient would poison the weights and Adam's moments
                    self.optimizer.zero_grad(set_to_none=True)
                    continue
                totals["grad_norm"].append(float(norm))
                self.optimizer.step()
        self.policy.model.eval()
        result = {k: float(np.mean(v)) if v else 0.0 for k, v in totals.items()}
        result["skipped_nonfinite_updates"] = skipped
        return result

    def sync_weights(self) -> None:
        """Push the trained weights to a separate rollout engine (no-op when the policy samples itself)."""
        engine = self.rollout_policy
        changed = getattr(self.policy, "weights_changed", None)
        if changed is not None:
            changed(trainable_only=True)  # caches keyed on torch's write counters miss fused optimisers
        if engine is self.policy:
            return
        can_sleep = hasattr(engine, "wake_up")
        if can_sleep:
            engine.wake_up(tags=["weights"])  # weights back on the GPU before they are overwritten
        engine.load_weights(self.policy.named_weights())
        if can_sleep:
            engine.wake_up(tags=["kv_cache"])

    # ----- one step and the run ---------------------------------------------------------

    def train_step(self) -> StepResult:
        """Run the six phases once and log the step's metrics."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        records = self.collect()
        timings["rollout"] = time.perf_counter() - clock
        usable = trainable(records)
        metrics: dict[str, Any] = summary_metrics(records)
        if len(usable) < 2:
            self.step += 1
            metrics.update({"skipped": True, **{f"seconds_{k}": v for k, v in timings.items()}})
            self.metrics.log(self.step, metrics)
            return StepResult(self.step, metrics, records)

        clock = time.perf_counter()
        info_gain = self.belief_gain(usable)
        needs_entropy = self.config.algorithm.empg is not None or self.config.algorithm.aem is not None
        entropy = self.turn_entropy(usable) if needs_entropy else None
        timings["scoring"] = time.perf_counter() - clock

        process = judged = None
        if self.prm is not None:
            clock = time.perf_counter()
            process, prm_metrics = self.process_rewards(usable)
            metrics.update(prm_metrics)
            timings["process_reward"] = time.perf_counter() - clock
        if self.rubric is not None:
            clock = time.perf_counter()
            judged, rubric_metrics = self.rubric_rewards(usable)
            metrics.update(rubric_metrics)
            timings["rubric"] = time.perf_counter() - clock

        clock = time.perf_counter()
        batch = turn_batch(usable, info_gain=info_gain, entropy=entropy)
        if process is not None or judged is not None:
            from turngym.trainers.prm import with_process_rewards

            cfg = self.config.process_reward
            if process is not None:
                batch = with_process_rewards(batch, process, weight=cfg.weight, combine=cfg.combine)
            if judged is not None:
                batch = with_process_rewards(batch, judged, weight=1.0, combine=cfg.combine)
        result = self.advantages(batch)
        tensors = token_tensors(usable, result.advantages, result.clip_ranges)
        timings["advantages"] = time.perf_counter() - clock

        clock = time.perf_counter()
        if self.rollout_policy is not self.policy and hasattr(self.rollout_policy, "sleep"):
            self.rollout_policy.sleep(1)  # free the GPU memory its KV cache holds; woken in sync_weights
        losses = self.update(tensors)
        timings["update"] = time.perf_counter() - clock

        clock = time.perf_counter()
        self.sync_weights()
        timings["sync"] = time.perf_counter() - clock

        self.step += 1
        metrics.update(losses)
        metrics.update({
            "advantage_mean": float(np.mean(result.advantages)),
            "advantage_std": float(np.std(result.advantages)),
            "advantage_abs_max": float(np.max(np.abs(result.advantages))),
            "policy_tokens": int(tensors.mask.sum()),
            "total_tokens": int(sum(len(s) for s in tensors.sequences)),
        })
        if info_gain is not None:
            flat = [g for per in info_gain for g in per]
            metrics.update({"belief_gain_mean": float(np.mean(flat)), "belief_gain_std": float(np.std(flat))})
        metrics.update({f"seconds_{k}": round(v, 4) for k, v in timings.items()})
        metrics["seconds_total"] = round(sum(timings.values()), 4)
        self.metrics.log(self.step, metrics)
        return StepResult(self.step, metrics, records)

    def run(self, stop_after: int | None = None) -> Path:
        """Train until ``train.steps`` (or ``stop_after`` more steps); return the run directory."""
        self._hold_run_dir()
        try:
            return self._run(stop_after)
        finally:
            self.close()

    def _run(self, stop_after: int | None) -> Path:
        cfg = self.config.train
        target = cfg.steps if stop_after is None else min(cfg.steps, self.step + stop_after)
        progress = _progress(self.console, cfg.progress, self.step, cfg.steps)
        with progress as bar:
            task = bar.add_task("training", total=cfg.steps, completed=self.step) if bar else None
            while self.step < target:
                result = self.train_step()
                if cfg.save_trajectories:
                    write_episodes(trajectory_path(self.run_dir, self.step), result.records)
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save()
                if bar is not None and task is not None:
                    m = result.metrics
                    bar.update(task, completed=self.step, description=(
                        f"step {self.step} reward {m.get('reward_mean', 0):.3f} "
                        f"success {m.get('success_rate', 0):.2f}"))
        latest = latest_checkpoint(self.checkpoint_dir)
        if self.step >= cfg.steps and (latest is None or latest.name != f"step-{self.step:08d}"):
            self.save()
        self.metrics.close()
        rows = read_metrics(self.metrics.path)
        if rows:
            plot_curves(rows, self.run_dir / "curves.png")
        return self.run_dir


_TRAJECTORY_FILE = re.compile(r"^step-(\d+)\.jsonl$")


def trajectory_path(run_dir: str | Path, step: int) -> Path:
    """Where the episodes of ``step`` are written: ``<run>/trajectories/step-NNNNNN.jsonl``."""
    return Path(run_dir) / "trajectories" / f"step-{step:06d}.jsonl"


def trim_trajectories(directory: str | Path, last_step: int) -> list[Path]:
    """Delete the trajectory files of steps after ``last_step`` and return them.

    They belong to the future a killed run abandoned: the resumed run collects those steps again,
    so keeping them would leave two different records of one step (or one the metrics lack).
    """
    root = Path(directory)
    if not root.is_dir():
        return []
    removed = []
    for path in sorted(root.iterdir()):
        match = _TRAJECTORY_FILE.match(path.name)
        if match and int(match.group(1)) > last_step and path.is_file():
            path.unlink()
            removed.append(path)
    return removed


class _NoProgress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _progress(console: Any | None, enabled: bool, done: int, total: int) -> Any:
    if console is None or not enabled:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _is_peft(model: Any) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


def steps_summary(rows: Sequence[dict[str, Any]], key: str = "reward_mean") -> dict[str, float]:
    """Mean of ``key`` over the first and the last 20% of steps (the demo's learning check)."""
    values = [float(r[key]) for r in rows if isinstance(r.get(key), (int, float))]
    if not values:
        return {"first_20pct": math.nan, "last_20pct": math.nan}
    k = max(1, len(values) // 5)
    return {"first_20pct": float(np.mean(values[:k])), "last_20pct": float(np.mean(values[-k:]))}
