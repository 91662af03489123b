"""ToolUse speed: replaying BFCL's calls through turngym vs through bfcl-eval's executor.

Both sides run the same call sequences (every BFCL v4 multi-turn task, user turn by user
turn) with fresh back-end state every episode:

* turngym: ``ToolUseEnv`` episodes, ``reset`` then one step per user turn with all its calls
  (OpenAI tool calls; ``env.oracle_action()`` for the gold calls), then a text answer (no agent
  or recording around it). Each episode's back-ends are a fresh copy of the task's initial
  state; on top of executing the calls, every stage is judged (state check, response check,
  MatchTIR matching) and every step hashes the back-ends' state for ``info["anchor"]``. Two
  environments take turns on the same sequences: ``turngym`` (``lazy_gold=True``, the
  default: while every back-end has run exactly the gold calls, which deterministic back-ends
  make equivalent to the gold run's state and results, the gold calls are not run and states
  not compared; from the first stage off them, the gold run starts and every stage is
  compared; result texts and state hashes remembered per call history) and
  ``turngym_no_lazy_gold`` (``lazy_gold=False``: the gold calls run alongside, or are read
  from the task's cached run, states are compared at every stage, and nothing is taken from
  call histories: every result text written out, every state hash of a called back-end
  computed). BFCL's catalog
  is declared deterministic (``Catalog.deterministic``), which the lazy side rests on;
* bfcl-eval: ``execute_multi_turn_func_call`` on each turn's call strings, with a new model
  name per episode (its instances are cached in module globals by model name and task id;
  they are deleted after each episode, outside the timed region), i.e. fresh instances
  loaded by ``_load_scenario`` every episode and nothing checked;
* bfcl-eval's ``multi_turn_checker`` on the same answers: execution of the answer and of
  the ground truth plus the per-turn checks, i.e. the work turngym's episodes do (it stops
  at the first failing turn, so on mutated answers it does less).

Workloads (each on the gold calls and on ``mutated`` ones):

* ``cold``: every task once, in a new environment with turngym's per-process caches
  emptied first (nothing of the task cached: turngym loads its back-ends, and runs the gold
  calls alongside where it needs them, as for a task seen once);
* ``grouped``: every task ``--group`` times in a row (a GRPO-style group of rollouts), in
  one environment: turngym loads a task's back-ends once and unpickles a fresh copy of each
  per episode (on the first call that goes to it), reads the gold run from its per-task
  cache from the second episode on, remembers (lazy side only) state hashes and result texts
  per call history, and parses per argument string (see ``turngym.envs.tool_use.env``); the
  executor and the checker run every episode from scratch, as they always do;
* ``mutated``: the gold calls with the last call of the first user turn that has calls
  dropped, so that the calls leave the gold ones there and the lazy gold run cannot apply
  from then on: the gold run starts (live in ``cold``, the task's cached run in
  ``grouped``) and every later stage compares states.

To keep the load of a shared machine from deciding the ratio, the tasks are timed in
chunks, the sides taking turns on each chunk (in rotating order); each side's seconds are
the sum over chunks. Prints one JSON object: per workload and side the seconds, episodes,
calls, calls per second (and env steps per second for turngym), ``speedup`` = turngym calls/s
over the executor's, ``speedup_no_lazy_gold`` the same for ``turngym_no_lazy_gold``, and
``speedup_vs_checker``; the load average (1 minute) before and after each workload.
Run: ``python benchmarks/tool_use.py [--limit N] [--categories base,miss_func] [--group 8]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid

from turngym.core.actions import ParsedCall
from turngym.envs.tool_use import bfcl
from turngym.envs.tool_use.env import ToolUseEnv
from turngym.envs.tool_use.gold import TaskCaches, clear_caches

TURNGYM_DOES = ("ToolUseEnv reset + one step per user turn with its calls (OpenAI tool_calls) + an answer: "
                "fresh back-end state per episode (a back-end is unpickled from the task's template on the "
                "first call that goes to it; until then the episode reads a shared instance nothing calls), "
                "calls parsed from OpenAI tool_calls and dispatched by name, every stage judged (state "
                "check, response check, MatchTIR matching), info['anchor'] state hash every step; per-task "
                "caches: back-end template, gold run (from a task's 2nd episode, where needed); per "
                "environment: parses of argument strings; per process: system prompts per tool set")
LAZY_DOES = ("lazy_gold=True (default): while every back-end has run exactly the gold calls (call-history "
             "digests equal; the back-ends are deterministic: tests/tool_use/test_determinism.py), a stage "
             "passes without running the gold calls or comparing states; from the first stage off them "
             "the gold run starts (live in a task's first episode, else the task's cached run) and every "
             "stage is compared; state hash and text of a dict result remembered per call history (the "
             "call still runs)")
STRICT_DOES = ("lazy_gold=False: the gold calls run alongside (a task's first episode) or are read from the "
               "task's cached run, states are compared at every stage; nothing remembered per call "
               "history: every result text written out, every state hash of a called back-end computed")
EXECUTOR_DOES = ("bfcl-eval execute_multi_turn_func_call per turn, new model name per episode (fresh "
                 "_load_scenario instances), eval() of call strings, nothing checked")
CHECKER_DOES = ("bfcl-eval multi_turn_checker per episode: executes the answer and the ground truth on "
                "fresh instances and checks every turn (state and response), stopping at the first failure")
SIDES = ("turngym", "turngym_no_lazy_gold", "bfcl_eval", "bfcl_eval_checker")

Answer = list[list[ParsedCall]]
"""The calls an episode makes, per user turn (each turn's calls in one step)."""


def render(call: ParsedCall) -> str:
    return f"{call.name}({', '.join(f'{k}={v!r}' for k, v in call.arguments.items())})"


def gold_answer(task) -> Answer:
    return [list(stage.gold) for stage in task.stages]


def mutated_answer(task) -> Answer:
    """The gold calls with the last call of the first user turn that has calls dropped."""
    answer = gold_answer(task)
    first = next((i for i, calls in enumerate(answer) if calls), None)
    if first is not None:
        answer[first] = answer[first][:-1]
    return answer


def _action(calls: list[ParsedCall], turn: int):
    """The assistant message making ``calls``: OpenAI tool calls, or Python-call text where an
    argument does not survive JSON (a tuple), as ``ToolUseEnv.oracle_action`` does."""
    if all(repr(json.loads(json.dumps(c.arguments))) == repr(c.arguments) for c in calls):
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{turn}_{i}", "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for i, c in enumerate(calls)]}
    return "[" + ", ".join(render(c) for c in calls) + "]"


def actions_of(answer: Answer) -> list[tuple]:
    """Per user turn, the action with its calls (``None``: no call) and how many calls it makes."""
    return [(_action(calls, turn) if calls else None, len(calls)) for turn, calls in enumerate(answer)]


def run_turngym(tasks: list, env: ToolUseEnv | None = None, actions: dict | None = None) -> dict:
    """Each task in ``tasks`` once (repeat a task in the list to replay it), in ``env``: the gold
    calls (``env.oracle_action()``), or ``actions[task_id]`` (see :func:`actions_of`)."""
    env = env if env is not None else ToolUseEnv("bfcl")
    steps = calls = 0
    failed = []
    start = time.perf_counter()
    for task in tasks:
        env.reset(options={"task_id": task.task_id})
        done = False
        if actions is None:
            while not done:
                _, _, terminated, truncated, info = env.step(env.oracle_action())
                steps += 1
                done = terminated or truncated
            calls += task.n_gold_calls
        else:
            for action, n_calls in actions[task.task_id]:
                if action is not None:
                    env.step(action)
                    steps += 1
                    calls += n_calls
                _, _, terminated, truncated, info = env.step("Done.")
                steps += 1
                if terminated or truncated:
                    break
        if info.get("outcome") != 1.0:
            failed.append(task.task_id)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "episodes": len(tasks), "env_steps": steps, "calls": calls,
            "failed_episodes": len(failed), "failed_tasks": sorted(set(failed))}


def _cleanup(model: str) -> None:
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils

    for key in [k for k in vars(multi_turn_utils) if k.startswith(model)]:
        delattr(multi_turn_utils, key)


def run_bfcl(tasks: list, entries: dict, answers: dict | None = None) -> dict:
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils

    calls = invocations = 0
    seconds = 0.0
    for task in tasks:
        entry = entries[task.task_id]
        answer = answers[task.task_id] if answers is not None else gold_answer(task)
        model = f"bench_{uuid.uuid4().hex}"
        start = time.perf_counter()
        for turn in answer:
            strings = [render(c) for c in turn]
            multi_turn_utils.execute_multi_turn_func_call(
                strings, entry["initial_config"], entry["involved_classes"], model, task.task_id,
                long_context=task.long_context, is_evaL_run=True,
            )
            calls += len(strings)
            invocations += 1
        seconds += time.perf_counter() - start
        _cleanup(model)
    return {"seconds": seconds, "episodes": len(tasks), "executor_calls": invocations, "calls": calls}


def run_bfcl_checker(tasks: list, entries: dict, answers: dict | None = None) -> dict:
    """bfcl-eval's ``multi_turn_checker`` on the answers: it executes the same calls as the
    model's answer *and* the ground truth and checks every turn, the work turngym's
    environment does (up to the first failing turn)."""
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker

    calls = 0
    seconds = 0.0
    invalid = []
    for task in tasks:
        entry = entries[task.task_id]
        mine = answers[task.task_id] if answers is not None else gold_answer(task)
        answer = [[[render(c) for c in turn]] if turn else [] for turn in mine]
        gold = [[render(c) for c in stage.gold] for stage in task.stages]
        model = f"bench_{uuid.uuid4().hex}"
        start = time.perf_counter()
        verdict = multi_turn_checker(answer, gold, entry, task.category, model)
        seconds += time.perf_counter() - start
        calls += sum(len(turn) for turn in mine)
        if not verdict["valid"]:
            invalid.append(task.task_id)
        _cleanup(model)
    return {"seconds": seconds, "episodes": len(tasks), "calls": calls, "invalid_episodes": len(invalid),
            "invalid_tasks": sorted(set(invalid))}


def _add(total: dict, part: dict) -> None:
    for key, value in part.items():
        if isinstance(value, list):
            total[key] = sorted(set(total.get(key, [])) | set(value))
        else:
            total[key] = total.get(key, 0) + value


def _rates(side: dict) -> dict:
    seconds = side["seconds"]
    out = {**side, "seconds": round(seconds, 3), "calls_per_s": round(side["calls"] / seconds, 1)}
    if "env_steps" in side:
        out["env_steps_per_s"] = round(side["env_steps"] / seconds, 1)
    return out


def compare(tasks: list, entries: dict, group: int, chunk: int, mutated: bool = False) -> dict:
    """Time the four sides on ``tasks`` (each ``group`` times in a row), chunk by chunk."""
    answers = {t.task_id: (mutated_answer(t) if mutated else gold_answer(t)) for t in tasks}
    actions = {t.task_id: actions_of(answers[t.task_id]) for t in tasks} if mutated else None
    clear_caches()
    load_before = os.getloadavg()[0]
    # grouped: one environment per side, as a trainer keeps one per worker; each turngym side
    # has caches of its own, so that neither reads what the other computed
    envs = {lazy: ToolUseEnv("bfcl", lazy_gold=lazy, caches=TaskCaches()) for lazy in (True, False)}
    sides: list[dict] = [{} for _ in SIDES]

    def turngym_part(part: list, lazy: bool) -> dict:
        if group > 1:
            return run_turngym(part, envs[lazy], actions)
        # cold: a new environment with empty caches, so every task's episode is its first
        return run_turngym(part, ToolUseEnv("bfcl", lazy_gold=lazy, caches=TaskCaches()), actions)

    for index, start in enumerate(range(0, len(tasks), chunk)):
        part = [t for t in tasks[start:start + chunk] for _ in range(group)]
        runners = [
            lambda p=part: turngym_part(p, True),
            lambda p=part: turngym_part(p, False),
            lambda p=part: run_bfcl(p, entries, answers),
            lambda p=part: run_bfcl_checker(p, entries, answers),
        ]
        for k in range(len(SIDES)):
            which = (index + k) % len(SIDES)
            _add(sides[which], runners[which]())
    lazy, strict, executor, checker = (_rates(s) for s in sides)
    failed, invalid = lazy.pop("failed_tasks"), checker.pop("invalid_tasks")
    strict_failed = strict.pop("failed_tasks")
    return {
        "group": group,
        "calls": "mutated" if mutated else "gold",
        "turngym": {**lazy, "does": f"{TURNGYM_DOES}; {LAZY_DOES}"},
        "turngym_no_lazy_gold": {**strict, "does": f"{TURNGYM_DOES}; {STRICT_DOES}"},
        "bfcl_eval": {**executor, "does": EXECUTOR_DOES},
        "bfcl_eval_checker": {**checker, "does": CHECKER_DOES},
        "speedup": round(lazy["calls_per_s"] / executor["calls_per_s"], 2),
        "speedup_no_lazy_gold": round(strict["calls_per_s"] / executor["calls_per_s"], 2),
        "speedup_vs_checker": round(lazy["calls_per_s"] / checker["calls_per_s"], 2),
        # the tasks judged failed (BFCL's verdict) are the same on every side; if not, which differ
        "failed_tasks": len(failed),
        "verdicts_agree": failed == strict_failed == invalid,
        **({} if failed == strict_failed == invalid else {"verdict_differences": {
            "turngym": sorted(set(failed) ^ set(invalid)),
            "turngym_no_lazy_gold": sorted(set(strict_failed) ^ set(invalid))}}),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
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
    grouped_chunk = max(1, args.chunk // args.group)
    print(json.dumps({
        "benchmark": "tool_use_bfcl_replay",
        "tasks": len(tasks),
        "cpus": os.cpu_count(),
        "cold": compare(tasks, entries, 1, args.chunk),
        "grouped": compare(tasks, entries, args.group, grouped_chunk),
        "cold_mutated": compare(tasks, entries, 1, args.chunk, mutated=True),
        "grouped_mutated": compare(tasks, entries, args.group, grouped_chunk, mutated=True),
    }))


if __name__ == "__main__":
    main()
