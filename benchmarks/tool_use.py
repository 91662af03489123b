"""ToolUse speed: replaying BFCL's gold calls through turngym vs through bfcl-eval's executor.

Both sides run the same call sequences (every gold call of every BFCL v4 multi-turn task,
user turn by user turn) with fresh back-end state every episode:

* turngym: ``ToolUseEnv`` episodes, ``reset`` then ``step(env.oracle_action())`` until the
  end (each user turn: one action with all its gold calls as OpenAI tool calls, then a
  text answer; no agent or recording around it), which also runs the gold
  calls a second time on the reference back-ends and judges every turn (state check,
  response check, MatchTIR matching, anchors);
* bfcl-eval: ``execute_multi_turn_func_call`` on each turn's gold call strings, with a new
  model name per episode (its instances are cached in module globals by model name and
  task id; they are deleted after each episode, outside the timed region).

* bfcl-eval's ``multi_turn_checker`` on the same answers: execution of the answer and of
  the ground truth plus the per-turn checks, i.e. the work turngym's episodes do.

Prints one JSON object: per side the seconds, episodes, calls, calls per second (and
env steps per second for turngym), ``speedup`` = turngym calls/s over the executor's, and
``speedup_vs_checker`` = turngym calls/s over the checker's.
Run: ``python benchmarks/tool_use.py [--limit N] [--categories base,miss_func]``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

from turngym.envs.tool_use import bfcl
from turngym.envs.tool_use.env import ToolUseEnv


def render(call) -> str:
    return f"{call.name}({', '.join(f'{k}={v!r}' for k, v in call.arguments.items())})"


def run_turngym(tasks: list) -> dict:
    env = ToolUseEnv("bfcl")
    steps = calls = 0
    failed = []
    start = time.perf_counter()
    for task in tasks:
        env.reset(options={"task_id": task.task_id})
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.oracle_action())
            steps += 1
            done = terminated or truncated
        calls += task.n_gold_calls
        if info.get("outcome") != 1.0:
            failed.append(task.task_id)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "episodes": len(tasks), "env_steps": steps, "calls": calls,
            "env_steps_per_s": round(steps / seconds, 1), "calls_per_s": round(calls / seconds, 1),
            "oracle_failures": failed}


def run_bfcl(tasks: list, entries: dict) -> dict:
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils

    calls = invocations = 0
    seconds = 0.0
    for task in tasks:
        entry = entries[task.task_id]
        model = f"bench_{uuid.uuid4().hex}"
        start = time.perf_counter()
        for stage in task.stages:
            strings = [render(c) for c in stage.gold]
            multi_turn_utils.execute_multi_turn_func_call(
                strings, entry["initial_config"], entry["involved_classes"], model, task.task_id,
                long_context=task.long_context, is_evaL_run=True,
            )
            calls += len(strings)
            invocations += 1
        seconds += time.perf_counter() - start
        for key in [k for k in vars(multi_turn_utils) if k.startswith(model)]:
            delattr(multi_turn_utils, key)
    return {"seconds": round(seconds, 3), "episodes": len(tasks), "executor_calls": invocations,
            "calls": calls, "calls_per_s": round(calls / seconds, 1)}


def run_bfcl_checker(tasks: list, entries: dict) -> dict:
    """bfcl-eval's ``multi_turn_checker`` on the gold answers: it executes the same calls as
    the model's answer *and* as the ground truth and checks every turn, the work turngym's
    environment does."""
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker

    calls = 0
    seconds = 0.0
    invalid = []
    for task in tasks:
        entry = entries[task.task_id]
        answer = [[[render(c) for c in stage.gold]] if stage.gold else [] for stage in task.stages]
        gold = [[render(c) for c in stage.gold] for stage in task.stages]
        model = f"bench_{uuid.uuid4().hex}"
        start = time.perf_counter()
        verdict = multi_turn_checker(answer, gold, entry, task.category, model)
        seconds += time.perf_counter() - start
        calls += task.n_gold_calls
        if not verdict["valid"]:
            invalid.append(task.task_id)
        for key in [k for k in vars(multi_turn_utils) if k.startswith(model)]:
            delattr(multi_turn_utils, key)
    return {"seconds": round(seconds, 3), "episodes": len(tasks), "calls": calls,
            "calls_per_s": round(calls / seconds, 1), "invalid": invalid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--categories", default="all", help="comma-separated BFCL categories, or all")
    parser.add_argument("--limit", type=int, default=None, help="first N tasks only")
    args = parser.parse_args()
    categories = "all" if args.categories == "all" else args.categories.split(",")
    tasks = bfcl.load_tasks(categories)[: args.limit]
    entries = {}
    for category in bfcl.CATEGORIES:
        path = bfcl.data_dir() / f"BFCL_v4_multi_turn_{category}.json"
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                entries[entry["id"]] = entry
    run_turngym(tasks[:5])  # warm-up: imports and caches on both sides
    run_bfcl(tasks[:5], entries)
    run_bfcl_checker(tasks[:5], entries)
    turngym_side = run_turngym(tasks)
    bfcl_side = run_bfcl(tasks, entries)
    checker_side = run_bfcl_checker(tasks, entries)
    print(json.dumps({
        "benchmark": "tool_use_bfcl_replay",
        "tasks": len(tasks),
        "turngym": turngym_side,
        "bfcl_eval": bfcl_side,
        "bfcl_eval_checker": checker_side,
        "speedup": round(turngym_side["calls_per_s"] / bfcl_side["calls_per_s"], 2),
        "speedup_vs_checker": round(turngym_side["calls_per_s"] / checker_side["calls_per_s"], 2),
    }))


if __name__ == "__main__":
    main()
