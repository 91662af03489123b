"""``turngym eval``, ``turngym reverify`` and ``turngym report``: benchmark any agent, check, show.

    turngym eval ENV_ID... --agent SPEC [--episodes N | --task-id ID ...] [--samples K] ...
    turngym reverify RUN_DIR
    turngym report RUN_DIR... -o report.html

``--agent`` is ``oracle``, ``random``, ``hf:PATH``, ``checkpoint:RUN_DIR`` or
``openai:MODEL@BASE_URL`` (:mod:`turngym.agents.specs`). Without ``--out`` the
run directory is named from the request itself, so the same command always
resumes the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table


def _positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0 (e.g. 60 or 2.5)")
    return value


def add_parsers(sub: Any, epilog: str, positive_int: Any) -> None:
    """Add ``eval``, ``reverify`` and ``report`` to the ``turngym`` command's sub-parsers."""
    ev = sub.add_parser(
        "eval", help="benchmark an agent (oracle, random, local model, checkpoint, endpoint)",
        description="Play an agent on environments and score it against their verifiers: every episode "
                    "is kept (episodes.jsonl), with a summary (summary.json: means, IQM and success with "
                    "stratified bootstrap intervals, pass@k, pass^k) and an HTML report. Killed and "
                    "started again with the same command, the run resumes where it stopped.",
        epilog=epilog)
    ev.add_argument("env_ids", nargs="+", metavar="ENV_ID",
                    help="environment ids (Foo-v0, turngym/Foo-v0, or module:Foo-v0 for a custom one)")
    ev.add_argument("--agent", required=True, metavar="SPEC",
                    help="oracle | random | hf:PATH | checkpoint:RUN_DIR[/checkpoints/step-N] | "
                         "openai:MODEL@BASE_URL")
    ev.add_argument("--episodes", type=positive_int, default=10, metavar="N",
                    help="tasks per environment, reset with seeds SEED..SEED+N-1 (default 10)")
    ev.add_argument("--task-id", action="append", default=[], metavar="ID",
                    help="play exactly this task (repeatable; replaces --episodes)")
    ev.add_argument("--samples", type=positive_int, default=1, metavar="K",
                    help="episodes per task, for pass@k (default 1)")
    ev.add_argument("--seed", type=int, default=0, help="first task seed, and the agent's seed (default 0)")
    ev.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="keyword argument for every environment (JSON value), repeatable")
    ev.add_argument("--max-turns", type=positive_int, default=None, metavar="N",
                    help="stop each episode after N turns (default: the environment's own limit)")
    ev.add_argument("--temperature", type=float, default=None,
                    help="sampling temperature of model agents (default 0, or 0.7 with --samples > 1)")
    ev.add_argument("--top-p", type=float, default=None, help="nucleus sampling of model agents")
    ev.add_argument("--max-tokens", type=positive_int, default=256, metavar="N",
                    help="tokens per model turn (default 256)")
    ev.add_argument("--concurrency", type=positive_int, default=1, metavar="N",
                    help="episodes in flight at once for endpoint and scripted agents (default 1)")
    ev.add_argument("--env-workers", default="local", metavar="WHERE",
                    help="where environments run: local (default) or ray:N (N Ray actors; turngym[ray])")
    ev.add_argument("--request-timeout", type=_positive_seconds, default=60.0, metavar="SECONDS",
                    help="how long one endpoint request may take before it is retried (default 60; a "
                         "CPU server with long prompts may need more)")
    ev.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="NAME",
                    help="environment variable holding the endpoint's key (never written anywhere)")
    ev.add_argument("--lora", default=None, metavar="DIR", help="a peft adapter to put on an hf: model")
    ev.add_argument("--device", default=None, help="where an hf: or checkpoint: model runs (default: auto)")
    ev.add_argument("--out", default=None, metavar="DIR",
                    help="run directory (default: runs/eval/<agent>-<hash of the request>)")
    ev.add_argument("--no-report", action="store_true", help="do not write report.html")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")

    rv = sub.add_parser(
        "reverify", help="replay a run's episodes and report verifiers that now disagree",
        description="Replay every stored episode's actions through a fresh environment, recompute every "
                    "verifier, and list each episode whose signals, rewards or outcome now differ. "
                    "Exit code 1 when any differ.", epilog=epilog)
    rv.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by turngym eval")

    rp = sub.add_parser(
        "report", help="an HTML report of eval and training runs",
        description="Write one self-contained HTML file (works offline) with summary tables, intervals, "
                    "plots and a trajectory viewer for eval runs and turngym train runs.", epilog=epilog)
    rp.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="eval or training run directories")
    rp.add_argument("-o", "--output", default="report.html", metavar="FILE", help="(default report.html)")


def _console(stream: TextIO) -> Console:
    return Console(file=stream, markup=False, emoji=False, highlight=False,
                   width=None if stream.isatty() else 110)


def default_out(request: dict[str, Any]) -> Path:
    """``runs/eval/<agent>-<hash>``: the same request always names the same directory."""
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(request["agent"]))[-40:].strip("_")
    return Path("runs") / "eval" / f"{slug}-{digest}"


def cmd_eval(args: argparse.Namespace, out: TextIO, err: TextIO, resolve: Any, parse_kwargs: Any,
             usage_error: type[Exception]) -> int:
    """Run (or resume) an evaluation and print its summary table."""
    from turngym.agents.specs import AgentSpecError, build_agent, parse_agent_spec
    from turngym.bench.run import EvalError, EvalPlan, run_eval
    from turngym.core.runlock import RunLockedError

    console = _console(out)
    env_ids = [_with_module(text, resolve(text)) for text in args.env_ids]
    try:
        spec = parse_agent_spec(args.agent)
    except AgentSpecError as exc:
        raise usage_error(str(exc)) from exc
    temperature = args.temperature if args.temperature is not None else (0.7 if args.samples > 1 else 0.0)
    tasks: list[Any] = ([{"options": {"task_id": t}} for t in args.task_id] if args.task_id
                        else list(range(args.seed, args.seed + args.episodes)))
    sampling = {"temperature": temperature, "top_p": args.top_p, "max_tokens": args.max_tokens,
                "seed": args.seed}
    try:
        plan = EvalPlan(env_ids=env_ids, agent=str(spec), tasks=tasks, samples=args.samples,
                        env_kwargs=parse_kwargs(args.env_arg), max_turns=args.max_turns, sampling=sampling,
                        concurrency=args.concurrency, env_workers=args.env_workers)
    except EvalError as exc:
        raise usage_error(str(exc)) from exc
    if spec.kind == "checkpoint":
        from turngym.trainers.policies import policy_from_run

        actor = policy_from_run(spec.path, device=args.device)
    else:
        actor = build_agent(spec, seed=args.seed, temperature=temperature, top_p=args.top_p,
                            max_tokens=args.max_tokens, api_key_env=args.api_key_env, lora=args.lora,
                            device=args.device, timeout_s=args.request_timeout)
    # The run's identity names exactly what plays: the checkpoint step loaded, the adapter put on.
    if spec.kind == "checkpoint":
        plan = dataclasses.replace(plan, agent=str(actor.name))
    elif args.lora is not None:
        plan = dataclasses.replace(plan, agent=f"{spec}+lora:{Path(args.lora).resolve()}")
    run_dir = Path(args.out) if args.out else default_out(plan.identity())
    console.print(f"Evaluating {spec} on {', '.join(env_ids)}: {len(tasks)} task(s) x {args.samples} "
                  f"sample(s) each -> {run_dir}")
    try:
        summary = run_eval(plan, actor, run_dir, progress=not args.no_progress)
    except (EvalError, RunLockedError) as exc:
        raise usage_error(str(exc)) from exc
    show_summary(console, summary)
    console.print(f"Episodes: {(run_dir / 'episodes.jsonl').resolve()}")
    console.print(f"Summary:  {(run_dir / 'summary.json').resolve()}")
    if not args.no_report:
        from turngym.bench.report import build_report

        report = build_report([run_dir], run_dir / "report.html")
        console.print(f"Report:   {Path(report).resolve()}")
    return 0


def _with_module(text: str, env_id: str) -> str:
    """``module:Foo-v0`` -> ``module:turngym/Foo-v0``: the form that ``gymnasium.make`` imports in
    any process (Ray actors, ``turngym reverify`` later), so custom environments keep working."""
    module, sep, _ = text.partition(":")
    return f"{module}:{env_id}" if sep and module else env_id


def show_summary(console: Console, summary: dict[str, Any]) -> None:
    """One column per (environment, agent), one row per statistic; means with 95% intervals."""
    groups = summary["groups"]
    table = Table(title="evaluation (values with 95% stratified bootstrap intervals)")
    table.add_column("", no_wrap=True)
    for group in groups:
        table.add_column(f"{group['env_id'].removeprefix('turngym/')}\n{group['agent']}", overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("episodes (failed)", lambda g: f"{g['episodes']} ({g['failed']})"),
        ("tasks x samples", lambda g: f"{g['tasks']} x {g['runs_per_task']['min']}"),
        ("mean outcome", lambda g: _triple(g["mean_outcome"])),
        ("IQM outcome", lambda g: _triple(g["iqm_outcome"])),
        ("success rate", lambda g: _triple(g["success_rate"])),
        ("pass@k", lambda g: " ".join(f"@{k}:{v:.2f}" for k, v in g["pass_at_k"].items())),
        ("pass^k", lambda g: " ".join(f"^{k}:{v:.2f}" for k, v in g["pass_hat_k"].items())),
        ("invalid actions", lambda g: "n/a" if g.get("invalid_action_rate") is None
         else f"{g['invalid_action_rate']:.1%}"),
        ("turns per episode", lambda g: f"{g['turns_mean']:.2f}"),
    ]
    for label, cell in rows:
        table.add_row(label, *[cell(g) for g in groups])
    console.print(table)


def _triple(values: list[float]) -> str:
    value, low, high = values
    return f"{value:.2f} [{low:.2f}-{high:.2f}]"


def cmd_reverify(args: argparse.Namespace, out: TextIO, usage_error: type[Exception]) -> int:
    """Replay a run and list what changed; 1 when anything did."""
    from turngym.bench.reverify import reverify_records
    from turngym.bench.run import EvalError, load_run

    console = _console(out)
    try:
        plan, records = load_run(args.run_dir)
    except (EvalError, FileNotFoundError) as exc:
        raise usage_error(str(exc)) from exc
    makes = {env.partition(":")[2] if ":" in env else env: env for env in plan.get("env_ids", [])}
    differences = reverify_records(records, plan.get("env_kwargs"), make_ids=makes)
    for difference in differences:
        console.print(f"{difference.episode_id} ({difference.env_id}):")
        for problem in difference.problems:
            console.print(f"  {problem}")
    console.print(f"{len(records)} episode(s) replayed; {len(differences)} differ.")
    return 1 if differences else 0


def cmd_report(args: argparse.Namespace, out: TextIO, usage_error: type[Exception]) -> int:
    """Write the HTML report of the given runs."""
    from turngym.bench.report import build_report

    for run_dir in args.run_dirs:
        if not Path(run_dir).is_dir():
            raise usage_error(f"{run_dir!r} is not a directory (give eval or training run directories)")
    try:
        path = build_report(args.run_dirs, args.output)
    except ValueError as exc:
        raise usage_error(str(exc)) from exc
    _console(out).print(f"Report: {Path(path).resolve()}")
    return 0
