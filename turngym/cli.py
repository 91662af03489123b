"""The ``turngym`` command.

    turngym list                      registered environments and what each is
    turngym play ENV_ID [--seed N]    play an environment yourself in the terminal
    turngym train CONFIG [--set k=v]  train a policy (configs/demo_cpu.yaml is the demo)
    turngym bench [ENV_ID ...]        score the oracle and random baselines
    turngym --version
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

import turngym
from turngym.core.messages import Message
from turngym.core.registry import full_id

PLAY_HELP = """Type an action and press Enter; it is sent as the assistant's turn.
A line ending in a backslash continues on the next line.
  :oracle            take the environment's reference action (shown first)
  :hint              show the reference action without taking it
  :tool NAME {json}  send an OpenAI tool call, e.g. :tool search {"query": "x"}
  :reset             start a new episode
  :help              this help
  :quit              leave"""


def _console(stream: TextIO) -> Console:
    interactive = stream.isatty() if hasattr(stream, "isatty") else False
    return Console(
        file=stream,
        force_terminal=interactive,
        color_system="auto" if interactive else None,
        width=None if interactive else 100,
        soft_wrap=not interactive,
        highlight=False,
    )


def _parse_kwargs(pairs: Sequence[str]) -> dict[str, Any]:
    """``["max_turns=4", "level=easy"]`` -> ``{"max_turns": 4, "level": "easy"}`` (JSON values)."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env-arg expects KEY=VALUE, got {pair!r}")
        try:
            kwargs[key] = json.loads(raw)
        except json.JSONDecodeError:
            kwargs[key] = raw
    return kwargs


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """Print the registered environments."""
    console = _console(out)
    entries = turngym.list_envs()
    if not entries:
        console.print("No turngym environments are registered.")
        return 0
    table = Table(title="turngym environments", show_lines=False)
    table.add_column("id", no_wrap=True)
    table.add_column("description")
    for entry in entries:
        table.add_row(entry.id, entry.description)
    console.print(table)
    return 0


def _show_messages(console: Console, messages: list[Message]) -> None:
    for message in messages:
        role = message.get("role", "?")
        content = message.get("content") or ""
        if message.get("tool_calls"):
            content += " " + json.dumps(message["tool_calls"], ensure_ascii=False)
        console.print(f"[bold]{role}[/bold]: {content}", markup=True)


def _read_action(stdin: TextIO, console: Console) -> str | None:
    console.print("action> ", end="")
    lines = []
    while True:
        line = stdin.readline()
        if not line:
            return None if not lines else "\n".join(lines)
        line = line.rstrip("\n")
        if line.endswith("\\"):
            lines.append(line[:-1])
            continue
        lines.append(line)
        return "\n".join(lines)


def cmd_play(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    """Let a person play ``args.env_id``: observations out, actions in."""
    console = _console(out)
    try:
        env = turngym.make(full_id(args.env_id), **_parse_kwargs(args.env_arg))
    except Exception as exc:  # a wrong id or argument is the person's mistake: say so plainly
        known = ", ".join(e.id for e in turngym.list_envs()) or "(none)"
        console.print(f"Cannot make {args.env_id!r}: {exc}\nRegistered: {known}")
        return 2
    options = {"task_id": args.task_id} if args.task_id else None
    seed = args.seed
    console.print(PLAY_HELP)

    def start() -> None:
        observation, info = env.reset(seed=seed, options=options)
        console.rule(f"{args.env_id} · task {info.get('task_id')}")
        _show_messages(console, observation)

    start()
    done = False
    total = 0.0
    while True:
        line = _read_action(stdin, console)
        if line is None or line.strip() == ":quit":
            console.print("bye")
            return 0
        command = line.strip()
        if command == ":help":
            console.print(PLAY_HELP)
            continue
        if command == ":reset":
            seed = None if seed is None else seed + 1
            done, total = False, 0.0
            start()
            continue
        if done:
            console.print("The episode is over: :reset to play again, :quit to leave.")
            continue
        action: Any = line
        if command in (":oracle", ":hint"):
            reference = env.unwrapped.oracle_action()  # type: ignore[attr-defined]
            console.print(f"reference action: {reference!r}", markup=False)
            if command == ":hint" or reference is None:
                continue
            action = reference
        elif command.startswith(":tool"):
            parts = command.split(maxsplit=2)
            if len(parts) < 2:
                console.print('usage: :tool NAME {"arg": "value"}')
                continue
            action = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_play",
                        "type": "function",
                        "function": {"name": parts[1], "arguments": parts[2] if len(parts) > 2 else "{}"},
                    }
                ],
            }
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
        _show_messages(console, observation)
        signals = ", ".join(f"{k}={v:g}" for k, v in info.get("signals", {}).items())
        console.print(f"signals: {signals}", markup=False)
        console.print(f"reward: {reward:g} (total {total:g})  turn {info.get('turn')}", markup=False)
        if terminated or truncated:
            done = True
            why = "terminated" if terminated else f"truncated ({info.get('truncated_reason', 'limit')})"
            outcome = info.get("outcome")
            tail = f", outcome {outcome:g}" if outcome is not None else ""
            console.print(f"Episode {why}{tail}. :reset to play again, :quit to leave.")


def cmd_train(args: argparse.Namespace, out: TextIO) -> int:
    """Train from a config file; say where the metrics, curves and trajectories are."""
    from turngym.trainers.config import ConfigError, load_config
    from turngym.trainers.loop import Trainer, steps_summary
    from turngym.trainers.metrics import read_metrics

    console = _console(out)
    try:
        config = load_config(args.config, args.set)
        trainer = Trainer(config, console=console)
    except ConfigError as exc:
        console.print(f"Configuration error: {exc}", markup=False)
        return 2
    console.print(f"Training {config.model.path} on {config.env.id} with {config.algorithm.estimator} "
                  f"for {config.train.steps} steps (from step {trainer.step})", markup=False)
    run_dir = trainer.run()
    rows = read_metrics(run_dir / "metrics.jsonl")
    summary = steps_summary(rows)
    console.print(
        f"Mean reward, first 20% of steps: {summary['first_20pct']:.3f}; "
        f"last 20%: {summary['last_20pct']:.3f}",
        markup=False,
    )
    console.print(f"Metrics:      {(run_dir / 'metrics.jsonl').resolve()}", markup=False)
    console.print(f"Curves:       {(run_dir / 'curves.png').resolve()}", markup=False)
    console.print(f"Trajectories: {(run_dir / 'trajectories').resolve()}", markup=False)
    console.print(f"Checkpoints:  {(run_dir / 'checkpoints').resolve()}", markup=False)
    return 0


def cmd_bench(args: argparse.Namespace, out: TextIO) -> int:
    """Score the scripted baselines on the given (default: every registered) environment."""
    from pathlib import Path

    from turngym.agents.scripted import OracleAgent, RandomAgent
    from turngym.bench.evaluate import evaluate

    console = _console(out)
    run_dir = Path(args.out)
    table = Table(title="oracle vs random baseline")
    for column in ("environment", "agent", "episodes", "mean outcome", "95% CI", "success", "turns"):
        table.add_column(column)
    wanted = [full_id(e) for e in args.env_ids] or [e.id for e in turngym.list_envs()]
    for entry in turngym.list_envs():
        if entry.id not in wanted or entry.id in args.skip:
            continue
        for agent in (OracleAgent(), RandomAgent(seed=0)):
            name = entry.id.split("/")[-1]
            path = run_dir / f"{name}-{agent.name}.jsonl"
            _, summary = evaluate(entry.id, agent, episodes=args.episodes, out=path)
            low, high = summary.outcome_ci95
            table.add_row(
                entry.id, agent.name, str(summary.episodes), f"{summary.mean_outcome:.3f}",
                f"[{low:.2f}, {high:.2f}]", f"{summary.success_rate:.0%}", f"{summary.mean_turns:.1f}",
            )
    console.print(table)
    console.print(f"Trajectories: {run_dir.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``turngym`` command."""
    parser = argparse.ArgumentParser(prog="turngym", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"turngym {turngym.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered environments and what each is")
    play = sub.add_parser("play", help="play an environment in the terminal")
    play.add_argument("env_id")
    play.add_argument("--seed", type=int, default=0)
    play.add_argument("--task-id", default=None)
    play.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                      help="keyword argument for the environment (JSON value), repeatable")
    train = sub.add_parser("train", help="train a policy from a YAML or TOML config")
    train.add_argument("config")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. --set optim.lr=3e-4 (repeatable)")
    bench = sub.add_parser("bench", help="score the oracle and random baselines")
    bench.add_argument("env_ids", nargs="*", help="environment ids (default: all registered)")
    bench.add_argument("--episodes", type=int, default=20)
    bench.add_argument("--out", default="runs/bench")
    bench.add_argument("--skip", action="append", default=[], help="environment id to skip")
    return parser


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run the command; ``stdin``/``stdout`` default to the process's streams (tests pass their own)."""
    args = build_parser().parse_args(argv)
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if args.command == "list":
        return cmd_list(args, stdout)
    if args.command == "play":
        return cmd_play(args, stdin, stdout)
    if args.command == "train":
        return cmd_train(args, stdout)
    if args.command == "bench":
        return cmd_bench(args, stdout)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    raise SystemExit(main())
