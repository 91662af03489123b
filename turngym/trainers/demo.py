"""The CPU demo (``make demo``): a small model learns to search, then answer, from turn-level credit.

One process, one model load (SmolLM2-135M-Instruct with a LoRA adapter), five phases:

1. **before** - evaluate the base model on held-out tasks (greedy, the eval code of ``turngym eval``);
2. **warm start** - supervised fine-tuning on oracle trajectories of the training world
   (:mod:`turngym.trainers.sft`): the model has never seen ``<search>``/``<answer>`` tags and,
   without this, never writes them, so RL would have no reward to learn from;
3. **after the warm start** - evaluate again;
4. **RL** - GiGPO (:mod:`turngym.trainers.loop`) on ``SearchQA-Tagged-v0`` of the training
   world: a fictional world, so no answer can be known without searching, and only tagged
   actions count. GiGPO because it assigns credit per turn from the environment's anchor states
   at no extra cost: the answer turns taken after the same search results form their own group,
   so a right answer is credited to the answering turn rather than smeared over the episode, and
   it needs no extra forward pass (belief-gain estimators such as IGPO score every turn with the
   policy, which a CPU budget cannot afford);
5. **after RL** - evaluate again, print one table (success rate, answer F1, turns per episode,
   valid-action rate, with 95% intervals on success), write ``demo.json``, ``curves.png`` and
   the HTML report.

Held-out tasks are questions about a different generated world (``world_seed``), so no fact
learnt in training helps: only the skill transfers. ``python -m turngym.trainers.demo --help``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "configs/demo_search.yaml"
PHASES = ("before", "warm start", "after RL")


@dataclass
class DemoPlan:
    """The demo's three configs (from one YAML file, see ``configs/demo_search.yaml``)."""

    seed: int
    output_dir: Path
    model: dict[str, Any]
    sft: dict[str, Any]
    rl: dict[str, Any]
    eval: dict[str, Any]


def load_plan(path: str | Path, *, seed: int | None = None, output_dir: str | None = None,
              overrides: Sequence[str] = ()) -> DemoPlan:
    """Read the demo config; ``seed``/``output_dir`` replace the file's; ``overrides`` are ``k=v``."""
    from turngym.trainers.config import ConfigError, load_data, parse_override

    data = load_data(path)
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for part in keys[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {'.'.join(keys)}: {part} is not a table")
        node[keys[-1]] = value
    unknown = sorted(set(data) - {"seed", "output_dir", "model", "sft", "rl", "eval"})
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; accepted: seed, output_dir, model, sft, rl, "
                          "eval")
    for key in ("model", "sft", "rl", "eval"):
        if not isinstance(data.get(key), Mapping):
            raise ConfigError(f"{path}: {key} must be a table of settings")
    chosen_seed = int(data.get("seed", 0) if seed is None else seed)
    out = Path(output_dir or data.get("output_dir") or "runs/demo")
    return DemoPlan(chosen_seed, out, dict(data["model"]), dict(data["sft"]), dict(data["rl"]),
                    dict(data["eval"]))


def sft_config_of(plan: DemoPlan) -> Any:
    """The warm start's :class:`~turngym.trainers.sft.SFTConfig`."""
    from turngym.trainers.sft import sft_config_from_dict

    return sft_config_from_dict({**copy.deepcopy(plan.sft), "seed": plan.seed,
                                 "output_dir": str(plan.output_dir / "sft"), "model": plan.model})


def rl_config_of(plan: DemoPlan) -> Any:
    """The RL run's :class:`~turngym.trainers.config.Config`."""
    from turngym.trainers.config import from_dict

    return from_dict({**copy.deepcopy(plan.rl), "seed": plan.seed, "output_dir": str(plan.output_dir / "rl"),
                      "model": plan.model})


def evaluate(plan: DemoPlan, policy: Any, phase: str, *, progress: bool = True) -> dict[str, Any]:
    """Greedy episodes of ``policy`` on the held-out tasks, through :func:`turngym.bench.run.run_eval`."""
    from turngym.bench.run import EvalPlan, run_eval

    cfg = plan.eval
    first = int(cfg.get("task_seed", 0))
    eval_plan = EvalPlan(
        env_ids=[str(cfg["env"])], agent=f"{policy.name} ({phase})",
        tasks=list(range(first, first + int(cfg["episodes"]))), env_kwargs=dict(cfg.get("kwargs", {})),
        sampling={"temperature": 0.0, "max_tokens": int(cfg.get("max_tokens", 32))},
    )
    out = plan.output_dir / f"eval-{phase.replace(' ', '-').lower()}"
    summary = run_eval(eval_plan, policy, out, progress=progress, summary_seed=plan.seed)
    # one episode per task: the summary's interval (runs resampled within tasks) has zero width, so the
    # table's interval resamples the episodes themselves (one stratum)
    from turngym.bench.run import load_run
    from turngym.bench.stats import bootstrap_interval
    from turngym.rollout import is_success

    _, records = load_run(out)
    successes = [float(is_success(r)) for r in records]
    summary["episode_success_interval"] = bootstrap_interval({"held-out": successes}, "mean",
                                                             seed=plan.seed).to_list()
    return summary


def table_row(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The demo's numbers of one eval summary."""
    group = summary["groups"][0]
    return {
        "success_rate": summary.get("episode_success_interval", group["success_rate"]),
        "answer_f1": group["mean_outcome"],
        "turns_per_episode": group["turns_mean"],
        "valid_action_rate": 1.0 - float(group["invalid_action_rate"]),
        "episodes": group["episodes"],
    }


def print_table(rows: Mapping[str, Mapping[str, Any]], console: Any) -> None:
    """One table: a row per phase."""
    from rich.table import Table

    table = Table(title="Held-out tasks (another world), greedy decoding")
    for column in ("phase", "success rate [95% CI]", "answer F1", "turns / episode", "valid actions"):
        table.add_column(column)
    for phase, row in rows.items():
        s = row["success_rate"]
        table.add_row(phase, f"{s[0]:.2f} [{s[1]:.2f}, {s[2]:.2f}]", f"{row['answer_f1'][0]:.3f}",
                      f"{row['turns_per_episode']:.2f}", f"{row['valid_action_rate']:.2f}")
    console.print(table)


def plot_demo(run_dir: Path, rows: Mapping[str, Mapping[str, Any]], out_path: Path) -> Path:
    """``curves.png``: the warm start's loss, RL's training success and reward, the three evaluations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from turngym.core.atomic import atomic_write
    from turngym.trainers.metrics import read_metrics

    sft_rows = read_metrics(run_dir / "sft" / "metrics.jsonl")
    rl_rows = read_metrics(run_dir / "rl" / "metrics.jsonl")
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    axes[0].plot([r["step"] for r in sft_rows], [r["loss"] for r in sft_rows], marker="o", markersize=3)
    axes[0].set(title="warm start: action-token loss", xlabel="SFT step")
    for key in ("success_rate", "outcome_mean"):
        points = [(r["step"], r[key]) for r in rl_rows if isinstance(r.get(key), (int, float))]
        axes[1].plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=key)
    axes[1].set(title="RL (GiGPO): training episodes", xlabel="RL step", ylim=(-0.02, 1.02))
    axes[1].legend()
    names = list(rows)
    values = [rows[n]["success_rate"][0] for n in names]
    errors = [[v - rows[n]["success_rate"][1] for v, n in zip(values, names)],
              [rows[n]["success_rate"][2] - v for v, n in zip(values, names)]]
    axes[2].bar(names, values, yerr=errors, capsize=4, color=["#999", "#69c", "#396"])
    axes[2].set(title="held-out success (95% CI)", ylim=(0, 1))
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_write(out_path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=90)
    plt.close(fig)
    return out_path


def run_demo(plan: DemoPlan, console: Any, *, policy: Any | None = None) -> dict[str, Any]:
    """All five phases (see the module docstring); returns what ``demo.json`` holds.

    ``policy`` replaces the one ``model`` names (tests pass a tiny model)."""
    from turngym.trainers.loop import Trainer
    from turngym.trainers.policies import load_policy
    from turngym.trainers.preflight import check_model
    from turngym.trainers.sft import SFTTrainer

    started, cpu_start = time.perf_counter(), _cpu_seconds()
    sft_cfg, rl_cfg = sft_config_of(plan), rl_config_of(plan)
    if policy is None:
        check_model(rl_cfg)
    out = plan.output_dir
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    phases: dict[str, dict[str, float]] = {}

    def timed(name: str, message: str, work: Any, row: str | None = None) -> Any:
        number = ("load", "eval_before", "sft", "eval_warm_start", "rl", "eval_after_rl").index(name) + 1
        console.print(f"[{number}/6] {message}")
        wall, cpu = time.perf_counter(), _cpu_seconds()
        result = work()
        if row is not None:
            rows[row] = result
        phases[name] = {"wall_s": round(time.perf_counter() - wall, 1),
                        "cpu_s": round(_cpu_seconds() - cpu, 1)}
        progress = {"seed": plan.seed, "rows": rows, "phases": phases, "finished": False}
        (out / "demo.json").write_text(json.dumps(progress, indent=1), encoding="utf-8")  # partial results
        return result

    if policy is None:
        policy = timed("load", f"loading {rl_cfg.model.path} with a LoRA adapter",
                       lambda: load_policy(rl_cfg))
    episodes = plan.eval["episodes"]
    timed("eval_before", f"evaluating the base model on {episodes} held-out tasks",
          lambda: table_row(evaluate(plan, policy, "before")), row="before")
    timed("sft", f"warm start: {sft_cfg.train.steps} SFT steps on oracle trajectories",
          lambda: SFTTrainer(sft_cfg, policy=policy, console=console).run())
    timed("eval_warm_start", "evaluating after the warm start",
          lambda: table_row(evaluate(plan, policy, "warm start")), row="warm start")
    timed("rl", f"RL: {rl_cfg.algorithm.estimator} for {rl_cfg.train.steps} steps on {rl_cfg.env.id}",
          lambda: Trainer(rl_cfg, policy=policy, console=console).run())
    timed("eval_after_rl", "evaluating after RL", lambda: table_row(evaluate(plan, policy, "after RL")),
          row="after RL")

    print_table(rows, console)

    def success(phase: str) -> float:
        return float(rows[phase]["success_rate"][0])

    result = {
        "seed": plan.seed, "rows": rows, "phases": phases, "finished": True,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(_cpu_seconds() - cpu_start, 1),
        "load_average": list(os.getloadavg()), "cpu_count": os.cpu_count(),
        "torch_threads": _torch_threads(),
        "gains": {
            "success_after_rl_minus_before": success("after RL") - success("before"),
            "success_after_rl_minus_warm_start": success("after RL") - success("warm start"),
        },
    }
    (out / "demo.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    plot_demo(out, rows, out / "curves.png")
    report = _report(out)
    console.print(f"Wall time {result['wall_seconds']:.0f} s, CPU time {result['cpu_seconds']:.0f} s "
                  f"(load average {result['load_average'][0]:.1f} on {os.cpu_count()} cores)")
    console.print(f"Results: {(out / 'demo.json').resolve()}")
    console.print(f"Curves:  {(out / 'curves.png').resolve()}")
    if report is not None:
        console.print(f"Report:  {report.resolve()}")
    return result


def _report(out: Path) -> Path | None:
    try:
        from turngym.bench.report import build_report
    except ImportError:  # the report builder is optional here
        return None
    runs = [out / "eval-before", out / "eval-warm-start", out / "eval-after-rl", out / "rl"]
    return build_report([r for r in runs if r.exists()], out / "report.html")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options, shared by ``python -m turngym.trainers.demo`` and ``turngym demo``."""
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG, help=f"demo config ({DEFAULT_CONFIG})")
    parser.add_argument("--seed", type=int, default=None, help="seed of every phase (the file's by default)")
    parser.add_argument("--out", default=None, help="output directory (runs/demo-<time> by default)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set rl.train.steps=4")


def run_demo_command(args: argparse.Namespace, console: Any) -> int:
    """Run the demo the parsed ``args`` describe; returns the exit code (2: a bad config)."""
    from turngym.trainers.config import ConfigError

    out = args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        plan = load_plan(args.config, seed=args.seed, output_dir=out, overrides=args.set)
        sft_config_of(plan)
        rl_config_of(plan)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    run_demo(plan, console)
    return 0


def demo_main(argv: Sequence[str] | None = None) -> int:
    """``python -m turngym.trainers.demo [CONFIG] [--seed N] [--out DIR] [--set k=v]``; the exit code."""
    from rich.console import Console

    parser = argparse.ArgumentParser(prog="turngym demo", description=__doc__.split("\n\n")[0])
    add_demo_arguments(parser)
    args = parser.parse_args(argv)
    return run_demo_command(args, Console(highlight=False, markup=False, emoji=False))


if __name__ == "__main__":
    raise SystemExit(demo_main())
