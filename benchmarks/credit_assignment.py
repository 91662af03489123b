"""Which credit assignment helps? Every estimator x several seeds on one cheap multi-turn task.

The task, **KeyRooms**: a tiny random word-level Llama (``tests/training/tiny.py``'s model)
walks through ``rooms`` rooms in a row, each opened by its own word (``open``, ``pick``,
``door``, ``now``), within ``max_turns`` turns. Each turn it says one thing:

- the room's word: the door opens (signal ``door_correct``), on to the next room;
- ``left`` or ``right``: a trap door (an unrecoverable mistake): the episode goes on to
  ``max_turns``, but nothing said there counts, so an estimator that credits whole
  episodes also blames (or praises) the trapped turns' words;
- anything else: nothing happens, the room asks again (a recoverable mistake: it costs a turn,
  and the turn budget has ``max_turns - rooms`` spare turns).

Outcome = share of rooms opened (1 = success); each opened door also earns a turn reward of
``turn_reward`` (the intermediate signal MT-GRPO uses). Every estimator sees the same rewards.
Anchors are the state (``room k, turns left`` or ``trap``), which GiGPO groups by; the probe
(the current room's word) gives IGPO and A^2TGPO their belief gain.

Every estimator gets the same budget: ``steps`` optimiser steps of ``groups`` groups of
``group_size`` episodes, the same learning rate and model seeds. The curve is each step's
training success rate (sampled at temperature 1). Per estimator over seeds: the IQM of the
final success (mean of the last ``final_window`` steps) and of the area under the curve
(mean success over all steps), with stratified bootstrap 95% intervals
(:func:`turngym.bench.stats.bootstrap_interval`), and the steps to reach 0.9 success
(first step whose 3-step running mean is >= 0.9; ``null`` for a seed that never does).

**Tree arms** (``tree+tempo``, ``tree+grpo``; ``--tree-arms``): the same trainer
(:class:`~turngym.trainers.loop.Trainer`: same optimiser, learning rate, steps, one optimiser
step per training step) with ``rollout.tree``: each task's episodes are grown as a tree of
turns (:func:`turngym.rollout.branching.collect_trees`, branching ``--tree-width`` ways at
every depth, TreePS-RAG / TEMPO style) whose generated tokens equal what ``group_size`` flat
episodes of the current policy cost (``token_budget: flat``,
:class:`~turngym.rollout.branching.EqualCostBudget`; the first step is a flat group). The
estimator reads the tree: ``tempo`` is GRPO's group signal plus TEMPO's branch-gated TD
correction on the tree values; ``tree+grpo`` (GRPO on the same tree paths) separates the
effect of the sampling from that of the credit. A tree's paths are not equally likely flat
episodes, so every arm's curve is the :func:`~turngym.rollout.branching.path_weights`-weighted
success (a plain mean for flat arms). The JSON reports per arm the generated tokens actually
spent (``generated_tokens_per_seed``, each shared turn counted once) and, for tree arms, the
flat-equivalent cost of their own policy (``flat_equivalent_tokens_per_seed``).

Prints one JSON object and writes ``credit_assignment.json`` and ``credit_assignment.png``
(mean curve and 95% bootstrap band per estimator) to ``--out``.

    .venv/bin/python benchmarks/credit_assignment.py [--seeds 5] [--steps 60] [--workers 2] \
        [--tree-arms tempo grpo] [--tree-width 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the tiny model lives with the training tests

from turngym.core import ParsedCall, Transition, TurnEnv  # noqa: E402
from turngym.core.messages import Message, user  # noqa: E402

KEY = ("open", "pick", "door", "now")
TRAPS = ("left", "right")
ESTIMATORS = ("grpo", "rloo", "gigpo", "igpo", "a2tgpo", "mt_grpo", "mapo", "turn_discounted")
"""The study's default estimators: the named six and the other registered turn-level ones."""
NEEDS_BELIEF_GAIN = ("igpo", "a2tgpo")
TREE_ARMS = ("tempo", "grpo")
"""Estimators trained on tree rollouts by default (arms ``tree+NAME``)."""
TREE_PREFIX = "tree+"


class KeyRoomsEnv(TurnEnv):
    """Open ``rooms`` doors in a row within ``max_turns`` turns (see the module docstring)."""

    signal_names = ("door_correct", "waited", "trapped")
    default_action_formats = ("tagged",)

    def __init__(self, rooms: int = 3, probe: bool = False, **kwargs: Any) -> None:
        if not 1 <= rooms <= len(KEY):
            raise ValueError(f"rooms must be 1..{len(KEY)}, got {rooms!r}")
        kwargs.setdefault("max_turns", 2 * rooms)
        super().__init__(**kwargs)
        self.rooms = rooms
        self.with_probe = probe
        self._room = 0
        self._trapped = False

    def _reset_task(self, options: Mapping[str, Any]) -> tuple[str, list[Message]]:
        self._room, self._trapped = 0, False
        return f"rooms{self.rooms}", [user("open the door")]

    def _parse(self, action: Any) -> list[ParsedCall]:
        text = action if isinstance(action, str) else str(action.get("content") or "")
        return [ParsedCall("say", {"text": text.strip()})]

    def _apply(self, calls: list[ParsedCall]) -> Transition:
        text = calls[0].arguments["text"]
        signals = {"door_correct": 0.0, "waited": 0.0, "trapped": 0.0}
        if self._trapped:
            reply = "bad"
        elif text.startswith(KEY[self._room]):
            self._room += 1
            signals["door_correct"] = 1.0
            reply = "good"
        elif text.startswith(TRAPS):
            self._trapped = True
            reply = "bad"
        else:
            signals["waited"] = 1.0
            reply = "now"
        signals["trapped"] = float(self._trapped)
        done = self._room == self.rooms or self.turn >= self.max_turns
        return Transition([user(reply)], signals, terminated=done,
                          outcome=self._room / self.rooms if done else None)

    def _anchor(self) -> str:
        if self._trapped:
            return "trap"
        return f"room{self._room}|left{self.max_turns - self.turn}"

    def _probe(self) -> dict[str, Any] | None:
        if not self.with_probe:
            return None
        return {"answers": [KEY[min(self._room, self.rooms - 1)]], "forcing_prefix": ""}

    def oracle_action(self) -> str:
        return KEY[min(self._room, self.rooms - 1)]

    def get_state(self) -> dict[str, Any]:
        """The episode's state (for branching: tree rollouts restore it at every node)."""
        return {**self.base_state(), "room": self._room, "trapped": self._trapped}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`get_state` snapshot."""
        self.restore_base_state(state)
        self._room, self._trapped = int(state["room"]), bool(state["trapped"])


def run_one(arm: str, seed: int, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Train one (arm, seed) pair: an estimator name, or ``tree+NAME`` for tree rollouts.

    Returns per step the training success rate (``curve``) and mean outcome (``outcome``),
    both :func:`~turngym.rollout.branching.path_weights`-weighted, the generated tokens
    (``tokens``) and the episodes (paths) trained on (``episodes``); for a tree arm also the
    trainer's equal-cost bookkeeping (``budget``).
    """
    import torch

    torch.set_num_threads(1)
    from tests.training.tiny import tiny_policy
    from turngym.rollout.branching import generated_tokens, path_weights
    from turngym.rollout.metrics import episode_score, is_success
    from turngym.trainers.config import from_dict
    from turngym.trainers.loop import Trainer

    tree = arm.startswith(TREE_PREFIX)
    estimator = arm[len(TREE_PREFIX):] if tree else arm
    probe = estimator in NEEDS_BELIEF_GAIN
    rooms, turn_reward = int(settings["rooms"]), float(settings["turn_reward"])

    def make_env() -> KeyRoomsEnv:
        return KeyRoomsEnv(rooms=rooms, probe=probe, reward_weights={"door_correct": turn_reward})

    rollout: dict[str, Any] = {"group_size": settings["group_size"], "groups_per_step": settings["groups"],
                               "max_new_tokens": 2, "temperature": 1.0}
    if tree:
        rollout["tree"] = {"width": int(settings.get("tree_width", 2)), "token_budget": "flat",
                           "max_turns": 2 * rooms}
    everything = 4096  # one minibatch holds every episode (flat or tree paths): one optimiser step a step
    with tempfile.TemporaryDirectory(prefix=f"credit-{estimator}-{seed}-") as out:
        config = from_dict({
            "seed": seed, "output_dir": out,
            "env": {"id": "turngym/GuessNumber-v0"},  # replaced by the factory
            "model": {"lora": None},
            "rollout": rollout,
            "algorithm": {"estimator": estimator},
            "optim": {"lr": settings["lr"], "minibatch_episodes": everything,
                      "micro_batch_episodes": everything},
            "train": {"steps": settings["steps"], "checkpoint_every": 0, "progress": False,
                      "save_trajectories": False},
        })
        with Trainer(config, policy=tiny_policy(seed=seed), env_factory=make_env) as trainer:
            run: dict[str, Any] = {"curve": [], "outcome": [], "tokens": [], "episodes": []}
            while trainer.step < config.train.steps:
                records = trainer.train_step().records
                weights = path_weights(records)
                total = sum(weights)
                run["curve"].append(sum(w * is_success(r) for w, r in zip(weights, records)) / total)
                run["outcome"].append(sum(w * episode_score(r) for w, r in zip(weights, records)) / total)
                run["tokens"].append(generated_tokens(records))
                run["episodes"].append(len(records))
            if trainer.tree_budget is not None:
                run["budget"] = trainer.tree_budget.state()
    return run


def steps_to(curve: Sequence[float], threshold: float = 0.9, window: int = 3) -> int | None:
    """First step (1-based) whose ``window``-step running mean reaches ``threshold``, or ``None``."""
    values = np.asarray(curve, dtype=float)
    for end in range(window, len(values) + 1):
        if values[end - window:end].mean() >= threshold:
            return end
    return None


def summarise(
    curves: Mapping[str, Sequence[Sequence[float]]], final_window: int, seed: int = 0
) -> dict[str, Any]:
    """Per estimator: IQM of final success and of AUC (stratified bootstrap 95% intervals), steps to 0.9."""
    from turngym.bench.stats import bootstrap_interval

    out: dict[str, Any] = {}
    for name, runs in curves.items():
        finals = [float(np.mean(c[-final_window:])) for c in runs]
        aucs = [float(np.mean(c)) for c in runs]
        reach = [steps_to(c) for c in runs]
        reached = [r for r in reach if r is not None]
        out[name] = {
            "final_success_iqm": bootstrap_interval({"key_rooms": finals}, "iqm", seed=seed).to_list(),
            "auc_iqm": bootstrap_interval({"key_rooms": aucs}, "iqm", seed=seed).to_list(),
            "final_success_per_seed": finals,
            "auc_per_seed": aucs,
            "steps_to_0.9_per_seed": reach,
            "steps_to_0.9_median_of_reached": float(np.median(reached)) if reached else None,
            "seeds_reaching_0.9": len(reached),
        }
    return out


def summary_tokens(summary: dict[str, Any], jobs: Sequence[tuple[str, int]], results: Sequence[Any]) -> None:
    """Add each arm's token bookkeeping to its summary row (in place): generated tokens per seed
    (every shared tree turn counted once), their mean, per step, relative to ``grpo``'s, episodes
    (paths) per step, and for tree arms the flat-equivalent cost and the ratio spent / flat-equivalent."""
    per_arm: dict[str, list[Any]] = {}
    for (name, _), run in zip(jobs, results):
        per_arm.setdefault(name, []).append(run)
    for name, runs in per_arm.items():
        tokens = [int(sum(r["tokens"])) for r in runs]
        row = summary[name]
        row["generated_tokens_per_seed"] = tokens
        row["generated_tokens_mean"] = float(np.mean(tokens))
        row["generated_tokens_per_step_mean"] = float(np.mean([np.mean(r["tokens"]) for r in runs]))
        row["episodes_per_step_mean"] = float(np.mean([np.mean(r["episodes"]) for r in runs]))
        if all("budget" in r for r in runs):
            flat = [float(r["budget"]["target_tokens"]) for r in runs]
            row["flat_equivalent_tokens_per_seed"] = [round(f, 1) for f in flat]
            row["tokens_over_flat_equivalent"] = float(np.sum(tokens) / np.sum(flat))
    if "grpo" in per_arm:
        base = summary["grpo"]["generated_tokens_mean"]
        for name in per_arm:
            summary[name]["generated_tokens_over_grpo"] = summary[name]["generated_tokens_mean"] / base


def compare_to(summary: Mapping[str, Any], baseline: str = "grpo") -> dict[str, dict[str, str]]:
    """For each estimator and metric: ``better``/``worse`` when its interval and the baseline's do not
    overlap, else ``overlap``."""
    verdicts: dict[str, dict[str, str]] = {}
    base = summary.get(baseline)
    if base is None:
        return verdicts
    for name, row in summary.items():
        if name == baseline:
            continue
        verdicts[name] = {}
        for metric in ("final_success_iqm", "auc_iqm", "final_outcome_iqm", "outcome_auc_iqm"):
            if metric not in row or metric not in base:
                continue
            _, low, high = row[metric]
            _, base_low, base_high = base[metric]
            verdict = "better" if low > base_high else "worse" if high < base_low else "overlap"
            verdicts[name][metric] = verdict
    return verdicts


def plot(curves: Mapping[str, Sequence[Sequence[float]]], path: Path, title: str) -> Path:
    """Mean training success per step with a 95% bootstrap band over seeds, one line per estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(9, 5))
    for name, runs in curves.items():
        data = np.asarray(runs, dtype=float)  # [seeds, steps]
        steps = np.arange(1, data.shape[1] + 1)
        draws = data[rng.integers(0, data.shape[0], size=(1000, data.shape[0]))].mean(axis=1)
        low, high = np.quantile(draws, [0.025, 0.975], axis=0)
        line, = ax.plot(steps, data.mean(axis=0), label=name)
        ax.fill_between(steps, low, high, alpha=0.15, color=line.get_color())
    ax.set(xlabel="training step", ylabel="success rate (training episodes)", ylim=(-0.02, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend(ncol=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _cpu_seconds() -> float:
    """CPU time of this process and its finished workers (what a 2-core budget is measured in)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rooms", type=int, default=3)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--turn-reward", type=float, default=0.1)
    parser.add_argument("--final-window", type=int, default=5)
    parser.add_argument("--tree-arms", nargs="*", default=list(TREE_ARMS),
                        help="estimators also trained on tree rollouts at equal token cost (arms tree+NAME)")
    parser.add_argument("--tree-width", type=int, default=2, help="children of a branching tree node")
    parser.add_argument("--workers", type=int, default=2, help="processes (one torch thread each)")
    parser.add_argument("--out", default="runs/credit_assignment")
    args = parser.parse_args(argv)
    from turngym.trainers.advantages import TREE_ESTIMATORS, list_estimators

    unknown = sorted(set(args.estimators) - set(list_estimators()))
    if unknown:
        parser.error(f"unknown estimator(s) {unknown}; accepted: {', '.join(list_estimators())}")
    tree_only = sorted(set(args.estimators) & set(TREE_ESTIMATORS))
    if tree_only:
        parser.error(f"{tree_only} need tree rollouts: give them with --tree-arms, not --estimators")
    unknown = sorted(set(args.tree_arms) - set(list_estimators()))
    if unknown:
        parser.error(f"unknown tree arm estimator(s) {unknown}; accepted: {', '.join(list_estimators())}")
    if args.tree_width < 2:
        parser.error(f"--tree-width must be >= 2, got {args.tree_width}")
    arms = list(args.estimators) + [TREE_PREFIX + name for name in args.tree_arms]
    settings = {"rooms": args.rooms, "group_size": args.group_size, "groups": args.groups, "lr": args.lr,
                "turn_reward": args.turn_reward, "steps": args.steps, "tree_width": args.tree_width}
    started = time.perf_counter()
    jobs = [(name, seed) for seed in range(args.seeds) for name in arms]
    curves: dict[str, list[list[float]]] = {name: [] for name in arms}
    outcomes: dict[str, list[list[float]]] = {name: [] for name in arms}
    results: list[Any] = [None] * len(jobs)

    def done(index: int, result: Any) -> None:
        results[index] = result
        finished = sum(r is not None for r in results)
        name, seed = jobs[index]
        success, outcome = (float(np.mean(result[k][-args.final_window:])) for k in ("curve", "outcome"))
        print(f"[{finished}/{len(jobs)}] {name} seed {seed}: final success {success:.2f}, outcome "
              f"{outcome:.2f}, {sum(result['tokens'])} tokens ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr, flush=True)

    if args.workers > 1:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            pending = {pool.submit(run_one, name, seed, settings): i for i, (name, seed) in enumerate(jobs)}
            for future in as_completed(pending):
                done(pending[future], future.result())
    else:
        for i, (name, seed) in enumerate(jobs):
            done(i, run_one(name, seed, settings))
    for (name, _), run in zip(jobs, results):
        curves[name].append(run["curve"])
        outcomes[name].append(run["outcome"])
    summary = summarise(curves, args.final_window)
    for name, row in summarise(outcomes, args.final_window).items():  # the same statistics of the outcome
        summary[name]["final_outcome_iqm"] = row["final_success_iqm"]
        summary[name]["outcome_auc_iqm"] = row["auc_iqm"]
    summary_tokens(summary, jobs, results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    task = (f"KeyRooms: {args.rooms} rooms in {2 * args.rooms} turns, other words = recoverable, "
            f"wrong door = trap; outcome = rooms opened / {args.rooms}, "
            f"turn reward {args.turn_reward} per door")
    result = {
        "task": task, "settings": {**settings, "seeds": args.seeds, "final_window": args.final_window,
                                   "episodes_per_step": args.group_size * args.groups,
                                   "tree_arms": [TREE_PREFIX + n for n in args.tree_arms],
                                   "tree_token_budget": "flat (EqualCostBudget: each tree costs group_size "
                                                        "flat episodes of the current policy)"},
        "summary": summary, "versus_grpo": compare_to(summary), "curves": curves, "outcome_curves": outcomes,
        "wall_seconds": round(time.perf_counter() - started, 1), "cpu_seconds": round(_cpu_seconds(), 1),
        "workers": args.workers,
        "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
    }
    (out / "credit_assignment.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    plot(curves, out / "credit_assignment.png", f"{task[:60]}... ({args.seeds} seeds)")
    print(json.dumps({k: v for k, v in result.items() if k != "curves"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
