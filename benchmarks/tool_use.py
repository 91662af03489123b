"""ToolUse speed: replaying BFCL's gold calls through turngym vs through bfcl-eval's executor.

Both sides run the same call sequences (every gold call of every BFCL v4 multi-turn task,
user turn by user turn) with fresh back-end state every episode:

* turngym: ``ToolUseEnv`` episodes, ``reset`` then ``step(env.oracle_action())`` until the
  end (each user turn: one action with all its gold calls as OpenAI tool calls, then a
  text answer; no agent or recording around it). Each episode's back-ends are a fresh
  copy of the task's initial state; on top of executing the calls, every stage is judged
  (state check against the gold run, response check, MatchTIR matching) and every step
  hashes the back-ends' state for ``info["anchor"]``;
* bfcl-eval: ``execute_multi_turn_func_call`` on each turn's gold call strings, with a new
  model name per episode (its instances are cached in module globals by model name and
  task id; they are deleted after each episode, outside the timed region), i.e. fresh
  instances loaded by ``_load_scenario`` every episode and nothing checked;
* bfcl-eval's ``multi_turn_checker`` on the same answers: execution of the answer and of
  the ground truth plus the per-turn checks, i.e. the work turngym's episodes do.

Two workloads:

* ``cold``: every task once, in a new environment with turngym's per-process caches
  emptied first (nothing of the task cached: turngym loads its back-ends and runs the gold
  calls alongside, as for a task seen once);
* ``grouped``: every task ``--group`` times in a row (a GRPO-style group of rollouts), in
  one environment: turngym loads a task's back-ends once and unpickles a fresh copy of each
  per episode (on the first call that goes to it), reads the gold run from its per-task
  cache from the second episode on, and remembers state hashes per call history (see
  ``turngym.envs.tool_use.env``); the executor and the checker run every episode from
  scratch, as they always do.

To keep the load of a shared machine from deciding the ratio, the tasks are timed in
chunks, the three sides taking turns on each chunk (in rotating order); each side's
seconds are the sum over chunks. Prints one JSON object per workload: per side the
seconds, episodes, calls, calls per second (and env steps per second for turngym),
``speedup`` = turngym calls/s over the executor's, and ``speedup_vs_checker``.
Run: ``python benchmarks/tool_use.py [--limit N] [--categories base,miss_func] [--group 8]``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

from turngym.envs.tool_use import bfcl
from turngym.envs.tool_use.env import ToolUseEnv
from turngym.envs.tool_use.gold import clear_caches

TURNGYM_DOES = ("ToolUseEnv reset + step(oracle_action()) per turn: fresh back-end state per episode (a "
                "back-end is unpickled from the task's template on the first call that goes to it; until "
                "then the episode reads a shared instance nothing calls), calls parsed from OpenAI "
                "tool_calls and dispatched by name, every stage judged (state check vs the gold run, "
                "response check, MatchTIR matching), info['anchor'] state hash every step; per-task "
                "caches: back-end template, gold run (from a task's 2nd episode), state hash per call "
                "history")
EXECUTOR_DOES = ("bfcl-eval execute_multi_turn_func_call per turn, new model name per episode (fresh "
                 "_load_scenario instances), eval() of call strings, nothing checked")
CHECKER_DOES = ("bfcl-eval multi_turn_checker per episode: executes the answer and the ground truth on "
                "fresh instances and checks every turn (state and response)")


def render(call) -> str:
    return f"{call.name}({', '.join(f'{k}={v!r}' for k, v in call.arguments.items())})"


def run_turngym(tasks: list, env: ToolUseEnv | None = None) -> dict:
    """Each task in ``tasks`` once (repeat a task in the list to replay it), in ``env``."""
    env = env if env is not None else ToolUseEnv("bfcl")
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
    return {"seconds": seconds, "episodes": len(tasks), "env_steps": steps, "calls": calls,
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
    return {"seconds": seconds, "episodes": len(tasks), "executor_calls": invocations, "calls": calls}


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
    return {"seconds": seconds, "episodes": len(tasks), "calls": calls, "invalid": invalid}


def _add(total: dict, part: dict) -> None:
    for key, value in part.items():
        if isinstance(value, list):
            total.setdefault(key, []).extend(value)
        else:
            total[key] = total.get(key, 0) + value


def _rates(side: dict) -> dict:
    seconds = side["seconds"]
    out = {**side, "seconds": round(seconds, 3), "calls_per_s": round(side["calls"] / seconds, 1)}
    if "env_steps" in side:
        out["env_steps_per_s"] = round(side["env_steps"] / seconds, 1)
    return out


def compare(tasks: list, entries: dict, group: int, chunk: int) -> dict:
    """Time the three sides on ``tasks`` (each ``group`` times in a row), chunk by chunk."""
    clear_caches()
    env = ToolUseEnv("bfcl")  # grouped: one environment, as a trainer keeps one per worker
    sides: list[dict] = [{}, {}, {}]

    def turngym_part(part: list) -> dict:
        if group > 1:
            return run_turngym(part, env)
        clear_caches()  # cold: every task's episode is its first (outside the timed region)
        return run_turngym(part, ToolUseEnv("bfcl"))

    for index, start in enumerate(range(0, len(tasks), chunk)):
        part = [t for t in tasks[start:start + chunk] for _ in range(group)]
        runners = [
            lambda p=part: turngym_part(p),
            lambda p=part: run_bfcl(p, entries),
            lambda p=part: run_bfcl_checker(p, entries),
        ]
        for k in range(3):
            which = (index + k) % 3
            _add(sides[which], runners[which]())
    turngym_side, bfcl_side, checker_side = (_rates(s) for s in sides)
    return {
        "group": group,
        "turngym": {**turngym_side, "does": TURNGYM_DOES},
        "bfcl_eval": {**bfcl_side, "does": EXECUTOR_DOES},
        "bfcl_eval_checker": {**checker_side, "does": CHECKER_DOES},
        "speedup": round(turngym_side["calls_per_s"] / bfcl_side["calls_per_s"], 2),
        "speedup_vs_checker": round(turngym_side["calls_per_s"] / checker_side["calls_per_s"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--categories", default="all", help="comma-separated BFCL categories, or all")
    parser.add_argument("--limit", type=int, default=None, help="first N tasks only")
    parser.add_argument("--group", type=int, default=8, help="episodes per task in the grouped workload")
    parser.add_argument("--chunk", type=int, default=50, help="tasks per timed chunk")
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
    print(json.dumps({
        "benchmark": "tool_use_bfcl_replay",
        "tasks": len(tasks),
        "cold": compare(tasks, entries, 1, args.chunk),
        "grouped": compare(tasks, entries, args.group, max(1, args.chunk // args.group)),
    }))


if __name__ == "__main__":
    main()
