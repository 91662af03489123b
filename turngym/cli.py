"""The ``turngym`` command.

    turngym list [--json]             registered environments and what each is
    turngym play ENV_ID [--seed N]    play an environment yourself in the terminal
    turngym train CONFIG [--set k=v]  train a policy with RL (configs/demo_cpu.yaml, demo_search.yaml)
    turngym sft CONFIG [--set k=v]    supervised warm start on trajectory records
    turngym demo [CONFIG] [--seed N]  the CPU demo (what `make demo` runs): evaluate, warm start, RL
    turngym bench [ENV_ID ...]        score the oracle and random baselines (a shortcut of eval)
    turngym eval ENV_ID... --agent A  benchmark any agent: oracle, random, hf:, checkpoint:, openai:
    turngym reverify RUN_DIR          replay a run's episodes; report verifiers that now disagree
    turngym report RUN_DIR... -o F    one HTML report of eval and training runs
    turngym --version

Everything that comes from an environment, a model or a person is printed
literally (no Rich markup or emoji codes). Results go to stdout, errors to
stderr. Exit codes: 0 success; 1 a runtime failure (an episode, the trainer or
an environment failed while running); 2 a usage or configuration error (bad
arguments, an unknown id, a bad config); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import json
import math
import sys
import traceback
from collections.abc import Sequence
from typing import Any, TextIO

import gymnasium as gym
from rich.console import Console
from rich.table import Table
from rich.text import Text

import turngym
from turngym import cli_eval
from turngym.core.messages import Message
from turngym.core.registry import full_id

EXIT_OK = 0
EXIT_FAILURE = 1
"""A runtime failure: something failed while running (an episode, the trainer)."""
EXIT_USAGE = 2
"""A usage or configuration error: bad arguments, an unknown id, a bad config file or value."""
EXIT_INTERRUPTED = 130
"""Interrupted by Ctrl-C (SIGINT), as shells report it."""

DESCRIPTION = (
    "turngym: Gymnasium environments for multi-turn LLM agents. List the environments, "
    "play one yourself, train a policy on one, or benchmark any agent against their verifiers."
)
EPILOG = ("exit codes: 0 success, 1 runtime failure, 2 usage or configuration error, "
          "130 interrupted (Ctrl-C)")


class UsageError(Exception):
    """A mistake in what the person asked for: reported on stderr, exit code 2."""


def _console(stream: TextIO) -> Console:
    """A console that prints text literally: no markup, no emoji codes, no highlighting."""
    interactive = stream.isatty() if hasattr(stream, "isatty") else False
    return Console(
        file=stream,
        force_terminal=interactive,
        color_system="auto" if interactive else None,
        width=None if interactive else 100,
        soft_wrap=not interactive,
        markup=False,
        emoji=False,
        highlight=False,
    )


def _parse_kwargs(pairs: Sequence[str]) -> dict[str, Any]:
    """``["max_turns=4", "level=easy"]`` -> ``{"max_turns": 4, "level": "easy"}`` (JSON values)."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--env-arg expects KEY=VALUE, got {pair!r}")
        try:
            kwargs[key] = json.loads(raw)
        except json.JSONDecodeError:
            kwargs[key] = raw
    return kwargs


def _registered_ids() -> list[str]:
    return [e.id for e in turngym.list_envs()]


def resolve_env_id(text: str) -> str:
    """The full registered id for ``text``: ``Foo-v0``, ``turngym/Foo-v0`` or ``module:Foo-v0``.

    ``module:Env-v0`` imports ``module`` first (which registers the environment), as
    ``gymnasium.make`` does. An id that is not registered raises :class:`UsageError`.
    """
    module, sep, name = text.partition(":")
    if not sep:
        module, name = "", text
    if sep and (not module or not name):
        raise UsageError(f"environment id {text!r}: expected ENV_ID or module:ENV_ID")
    if module:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise UsageError(f"cannot import {module!r} (from {text!r}) to register its environments: "
                             f"{exc}") from exc
    env_id = full_id(name)
    if env_id not in gym.registry:
        known = _registered_ids()
        close = difflib.get_close_matches(env_id, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(
            f"unknown environment {text!r}{hint}; registered: {', '.join(known) or '(none)'}. "
            "`turngym list` describes them; a custom environment is given as module:Env-v0 "
            "(importing module registers it)."
        )
    return env_id


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


# ----- list ------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """Print the registered environments (a table, or JSON with ``--json``)."""
    entries = turngym.list_envs()
    if args.json:
        rows = [{"id": e.id, "description": e.description, "entry_point": e.entry_point} for e in entries]
        out.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK
    console = _console(out)
    if not entries:
        console.print("No turngym environments are registered.")
        return EXIT_OK
    table = Table(title="turngym environments", show_lines=False)
    table.add_column("id", no_wrap=True)
    table.add_column("description")
    for entry in entries:
        table.add_row(entry.id, entry.description)
    console.print(table)
    return EXIT_OK


# ----- play ------------------------------------------------------------------------------


def _show_messages(console: Console, messages: list[Message]) -> None:
    for message in messages:
        role = str(message.get("role", "?"))
        content = message.get("content") or ""
        if message.get("tool_calls"):
            content += " " + json.dumps(message["tool_calls"], ensure_ascii=False)
        console.print(Text.assemble((role, "bold"), ": ", str(content)))


def _format_action(action: Any) -> str:
    """An action as a person reads it: text as is, a message dict as indented JSON."""
    if isinstance(action, str):
        return action
    return json.dumps(action, indent=2, ensure_ascii=False)


def _example_value(schema: Any) -> Any:
    kind = schema.get("type", "string") if isinstance(schema, dict) else "string"
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return {"integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}.get(kind, "...")


def _play_help(env: gym.Env) -> str:
    """How to play, with a ``:tool`` example for a tool this environment has (if any)."""
    inner = env.unwrapped
    tools = list(getattr(inner, "tools", ()) or ())
    lines = [
        "Type an action and press Enter; it is sent as the assistant's turn (an empty line sends nothing).",
        "A line ending in a backslash continues on the next line; for longer text type :multi,",
        "then the lines, then a line holding only a dot (.).",
        "  :oracle            take the environment's reference action (shown first)",
        "  :hint              show the reference action without taking it",
    ]
    if tools and "tool_calls" in tuple(getattr(inner, "action_formats", ("tool_calls",))):
        tool = tools[0]
        properties = dict(tool.parameters.get("properties") or {})
        required = list(tool.parameters.get("required") or properties)
        example = {name: _example_value(properties.get(name)) for name in required}
        lines.append(f"  :tool NAME {{json}}  send an OpenAI tool call, e.g. :tool {tool.name} "
                     f"{json.dumps(example, ensure_ascii=False)}")
        lines.append(f"                     tools here: {', '.join(t.name for t in tools)}")
    elif tools:
        lines.append("  (this environment does not take OpenAI tool calls: :tool is not available)")
    else:
        lines.append("  (this environment has no tools: :tool is not available)")
    lines += [
        "  :multi             type several lines, end with a line holding only a dot (.)",
        "  :reset             start a new episode",
        "  :help              this help",
        "  :quit              leave (or Ctrl-D)",
    ]
    return "\n".join(lines)


class _LineReader:
    """Reads the person's lines: through ``input()`` (readline editing and history) when
    stdin is the terminal, else line by line from the given stream."""

    def __init__(self, stdin: TextIO, out: TextIO, console: Console) -> None:
        self.stdin = stdin
        self.console = console
        self.terminal = (stdin is sys.stdin and out is sys.stdout and _isatty(stdin) and _isatty(out))
        if self.terminal:
            with contextlib.suppress(ImportError):  # not on every platform
                import readline  # noqa: F401  (importing it gives input() editing and history)

    def read(self, prompt: str) -> str | None:
        """One line without its newline; ``None`` at end of input (Ctrl-D)."""
        if self.terminal:
            try:
                return input(prompt)
            except EOFError:
                return None
        self.console.print(prompt, end="")
        line = self.stdin.readline()
        if not line:
            return None
        return line.rstrip("\n")

    def action(self) -> str | None:
        """The next action's text ("" for an empty line); ``None`` at end of input."""
        line = self.read("action> ")
        if line is None:
            return None
        if line.strip() == ":multi":
            self.console.print("multi-line: end with a line holding only a dot (.)")
            lines: list[str] = []
            while True:
                more = self.read("...> ")
                if more is None or more == ".":
                    return "\n".join(lines)
                lines.append(more)
        lines = []
        while line.endswith("\\"):
            lines.append(line[:-1])
            more = self.read("...> ")
            if more is None:
                return "\n".join(lines)
            line = more
        lines.append(line)
        return "\n".join(lines)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _task_id_help(env: gym.Env) -> str:
    tasks = getattr(env.unwrapped, "tasks", None)
    ids: list[str] = []
    if isinstance(tasks, Sequence):
        ids = [str(t.task_id) for t in tasks[:5] if hasattr(t, "task_id")]
    sample = f"; some ids: {', '.join(ids)}" if ids else ""
    return (f"Play without --task-id to get a task from --seed; each episode's header shows its "
            f"task id{sample}.")


def cmd_play(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    """Let a person play ``args.env_id``: observations out, actions in."""
    console = _console(out)
    env_id = resolve_env_id(args.env_id)
    kwargs = _parse_kwargs(args.env_arg)
    try:
        env = turngym.make(env_id, **kwargs)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"cannot make {env_id} with {kwargs}: {exc}") from exc
    try:
        return _play(env, env_id, args, stdin, console)
    finally:
        env.close()


def _play(env: gym.Env, env_id: str, args: argparse.Namespace, stdin: TextIO, console: Console) -> int:
    options = {"task_id": args.task_id} if args.task_id else None
    seed = args.seed
    help_text = _play_help(env)
    reader = _LineReader(stdin, console.file, console)

    def start() -> None:
        observation, info = env.reset(seed=seed, options=options)
        console.rule(Text(f"{env_id} · task {info.get('task_id')}"))
        _show_messages(console, observation)

    try:
        start()
    except ValueError as exc:
        if options is None:
            raise
        raise UsageError(f"--task-id {args.task_id!r}: {exc}. {_task_id_help(env)}") from exc
    console.print(help_text)
    done = False
    total = 0.0
    try:
        while True:
            line = reader.action()
            if line is None or line.strip() == ":quit":
                console.print("bye")
                return EXIT_OK
            command = line.strip()
            if not command:
                continue  # an empty line sends nothing
            if command == ":help":
                console.print(help_text)
                continue
            if command == ":reset":
                seed = None if seed is None else seed + 1
                options = None
                done, total = False, 0.0
                start()
                continue
            if done:
                console.print("The episode is over: :reset to play again, :quit to leave.")
                continue
            action: Any = line
            if command in (":oracle", ":hint"):
                reference = env.unwrapped.oracle_action()  # type: ignore[attr-defined]
                if reference is None:
                    console.print("This environment has no reference action here.")
                    continue
                text = _format_action(reference)
                console.print(("reference action:\n" if "\n" in text else "reference action: ") + text)
                if command == ":hint":
                    continue
                action = reference
            elif command.startswith(":tool"):
                parts = command.split(maxsplit=2)
                if len(parts) < 2:
                    console.print('usage: :tool NAME {"arg": "value"}  (see :help)')
                    continue
                action = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "call_play", "type": "function", "function": {
                        "name": parts[1], "arguments": parts[2] if len(parts) > 2 else "{}"}}],
                }
            elif command.startswith(":"):
                console.print(f"unknown command {command.split()[0]}; :help lists the commands "
                              "(to send text that starts with ':', use :multi)")
                continue
            observation, reward, terminated, truncated, info = env.step(action)
            total += reward
            _show_messages(console, observation)
            signals = ", ".join(f"{k}={v:g}" for k, v in info.get("signals", {}).items())
            console.print(f"signals: {signals}")
            console.print(f"reward: {reward:g} (total {total:g})  turn {info.get('turn')}")
            if terminated or truncated:
                done = True
                why = "terminated" if terminated else f"truncated ({info.get('truncated_reason', 'limit')})"
                outcome = info.get("outcome")
                tail = f", outcome {outcome:g}" if outcome is not None else ""
                console.print(f"Episode {why}{tail}. :reset to play again, :quit to leave.")
    except KeyboardInterrupt:
        console.print("\ninterrupted: bye")
        return EXIT_INTERRUPTED


# ----- train -----------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Train from a config file; say where the metrics, curves and trajectories are."""
    from turngym.core.runlock import RunLockedError
    from turngym.trainers.checkpoint import CheckpointError
    from turngym.trainers.config import ConfigError, load_config
    from turngym.trainers.loop import Trainer, steps_summary
    from turngym.trainers.metrics import read_metrics
    from turngym.trainers.preflight import check_model

    console = _console(out)
    try:
        config = load_config(args.config, args.set)
        check_model(config)
        trainer = Trainer(config, console=console)
    except ConfigError as exc:
        _error(err, f"Configuration error: {exc}")
        return EXIT_USAGE
    except (RunLockedError, CheckpointError) as exc:  # a live holder, or no checkpoint to resume from
        _error(err, f"turngym train: {exc}")
        return EXIT_FAILURE
    console.print(f"Training {config.model.path} on {config.env.id} with {config.algorithm.estimator} "
                  f"for {config.train.steps} steps (from step {trainer.step})")
    with trainer:
        run_dir = trainer.run()
    rows = read_metrics(run_dir / "metrics.jsonl")
    summary = steps_summary(rows)
    console.print(
        f"Mean reward, first 20% of steps: {summary['first_20pct']:.3f}; "
        f"last 20%: {summary['last_20pct']:.3f}"
    )
    console.print(f"Metrics:      {(run_dir / 'metrics.jsonl').resolve()}")
    console.print(f"Curves:       {(run_dir / 'curves.png').resolve()}")
    console.print(f"Trajectories: {(run_dir / 'trajectories').resolve()}")
    console.print(f"Checkpoints:  {(run_dir / 'checkpoints').resolve()}")
    return EXIT_OK


# ----- bench -----------------------------------------------------------------------------


def _interval(low: float, high: float) -> str:
    """``[0.12, 0.50]``, or ``n/a`` when the interval is undefined (too few episodes)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"[{low:.2f}, {high:.2f}]"


def cmd_bench(args: argparse.Namespace, out: TextIO) -> int:
    """Score the scripted baselines on the given (default: every registered) environment."""
    from pathlib import Path

    from turngym.agents.scripted import OracleAgent, RandomAgent
    from turngym.bench.evaluate import evaluate

    console = _console(out)
    run_dir = Path(args.out)
    wanted = [resolve_env_id(e) for e in args.env_ids] or _registered_ids()
    skip = {full_id(s.partition(":")[2] if ":" in s else s) for s in args.skip}
    unknown_skips = sorted(skip - set(_registered_ids()) - set(wanted))
    if unknown_skips:
        raise UsageError(f"--skip {', '.join(unknown_skips)}: not a registered environment; "
                         f"registered: {', '.join(_registered_ids())}")
    chosen = [env_id for env_id in dict.fromkeys(wanted) if env_id not in skip]
    if not chosen:
        raise UsageError("nothing to run: every environment asked for is skipped")
    table = Table(title="oracle vs random baseline")
    for column in ("environment", "agent", "episodes", "mean outcome", "95% CI", "success", "turns"):
        table.add_column(column)
    for env_id in chosen:
        for agent in (OracleAgent(), RandomAgent(seed=0)):
            name = env_id.split("/")[-1]
            path = run_dir / f"{name}-{agent.name}.jsonl"
            _, summary = evaluate(env_id, agent, episodes=args.episodes, out=path)
            low, high = summary.outcome_ci95
            table.add_row(
                env_id, agent.name, str(summary.episodes), f"{summary.mean_outcome:.3f}",
                _interval(low, high), f"{summary.success_rate:.0%}", f"{summary.mean_turns:.1f}",
            )
    console.print(table)
    console.print(f"Trajectories: {run_dir.resolve()}")
    return EXIT_OK


# ----- the command -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``turngym`` command."""
    parser = argparse.ArgumentParser(prog="turngym", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"turngym {turngym.__version__}",
                        help="print turngym's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = sub.add_parser("list", help="registered environments and what each is",
                             description="List the registered turngym environments with a one-line "
                                         "description of each.", epilog=EPILOG)
    listing.add_argument("--json", action="store_true",
                         help="print a JSON list of {id, description, entry_point} instead of a table")

    play = sub.add_parser("play", help="play an environment yourself in the terminal",
                          description="Play an environment yourself: its messages are printed, you type "
                                      "the assistant's turns. :help inside lists the commands.",
                          epilog=EPILOG)
    play.add_argument("env_id", metavar="ENV_ID",
                      help="environment id (Foo-v0, turngym/Foo-v0, or module:Foo-v0 for a custom one)")
    play.add_argument("--seed", type=int, default=0,
                      help="reset seed that picks the task (default 0; :reset moves to the next seed)")
    play.add_argument("--task-id", default=None, metavar="ID",
                      help="play this task exactly instead of one picked by --seed")
    play.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                      help="keyword argument for the environment (JSON value), repeatable")

    train = sub.add_parser("train", help="train a policy from a YAML or TOML config",
                           description="Train a policy with a credit-assignment estimator, as the config "
                                       "file says (configs/demo_cpu.yaml is the CPU demo). Everything in "
                                       "the config is checked before any model loads.", epilog=EPILOG)
    train.add_argument("config", metavar="CONFIG", help="a .yaml, .yml or .toml config file")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. --set optim.lr=3e-4 (repeatable)")

    sft = sub.add_parser("sft", help="supervised warm start on trajectory records (loss on action tokens)",
                         description="Fine-tune a policy (LoRA or full) on episodes in the records format: "
                                     "oracle trajectories, filtered eval runs or any records file; the loss "
                                     "covers the policy's own action tokens only, token in and token out. "
                                     "configs/demo_sft.yaml is an example; checkpoints and resume work as in "
                                     "train.", epilog=EPILOG)
    sft.add_argument("config", metavar="CONFIG", help="a .yaml, .yml or .toml SFT config file")
    sft.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value, e.g. --set optim.lr=1e-4 (repeatable)")

    demo = sub.add_parser("demo", help="the CPU demo (what make demo runs): warm start, RL, evaluations",
                          description="SmolLM2-135M-Instruct with LoRA: evaluate on held-out tasks, a warm "
                                      "start on oracle trajectories, evaluate, RL with turn-level credit, "
                                      "evaluate; one table, curves.png, demo.json and an HTML report.",
                          epilog=EPILOG)
    from turngym.trainers.demo import add_demo_arguments

    add_demo_arguments(demo)

    bench = sub.add_parser("bench", help="score the oracle and random baselines",
                           description="Score the scripted oracle and random baselines on environments, "
                                       "with 95% confidence intervals; trajectories are written as JSON "
                                       "lines.", epilog=EPILOG)
    bench.add_argument("env_ids", nargs="*", metavar="ENV_ID",
                       help="environment ids, or module:Env-v0 for custom ones (default: all registered)")
    bench.add_argument("--episodes", type=_positive_int, default=20, metavar="N",
                       help="episodes per environment and agent (a whole number >= 1; default 20)")
    bench.add_argument("--out", default="runs/bench", metavar="DIR",
                       help="directory for the trajectories (default runs/bench)")
    bench.add_argument("--skip", action="append", default=[], metavar="ENV_ID",
                       help="environment id to leave out (short or full id), repeatable")
    cli_eval.add_parsers(sub, EPILOG, _positive_int)
    return parser


def _error(err: TextIO, message: str) -> None:
    err.write(message.rstrip("\n") + "\n")
    err.flush()


def main(
    argv: Sequence[str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command and return its exit code (see the module docstring).

    ``stdin``/``stdout``/``stderr`` default to the process's streams (tests pass their own).
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse has reported
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.command == "list":
            return cmd_list(args, stdout)
        if args.command == "play":
            return cmd_play(args, stdin, stdout)
        if args.command == "train":
            return cmd_train(args, stdout, stderr)
        if args.command == "bench":
            return cmd_bench(args, stdout)
        if args.command == "sft":
            from turngym.trainers.sft import sft_main

            return sft_main(args.config, args.set, _console(stdout))
        if args.command == "demo":
            from turngym.trainers.demo import run_demo_command

            return run_demo_command(args, _console(stdout))
        if args.command == "eval":
            return cli_eval.cmd_eval(args, stdout, stderr, resolve_env_id, _parse_kwargs, UsageError)
        if args.command == "reverify":
            return cli_eval.cmd_reverify(args, stdout, UsageError)
        if args.command == "report":
            return cli_eval.cmd_report(args, stdout, UsageError)
        raise AssertionError(f"unhandled command {args.command}")
    except UsageError as exc:
        _error(stderr, f"turngym {args.command}: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error(stderr, f"turngym {args.command}: interrupted")
        return EXIT_INTERRUPTED
    except Exception:
        _error(stderr, traceback.format_exc())
        _error(stderr, f"turngym {args.command}: failed (the traceback above says where)")
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
