"""BFCL's own checker as the reference verdict, and mutated answers to compare on.

The only place (with ``benchmarks/tool_use.py``) where bfcl-eval's executor runs: its
``multi_turn_checker`` caches back-end instances in module globals keyed by model name
and task id, so every call here uses a fresh model name and removes its instances after.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from turngym.core.actions import ParsedCall
from turngym.envs.tool_use import bfcl
from turngym.envs.tool_use.env import ToolUseEnv

Answer = list[list[list[str]]]
"""BFCL's decoded model answer: per user turn, per assistant step, the call strings."""

MUTATIONS = ("drop_call", "wrong_value", "extra_call", "move_call")


@lru_cache(maxsize=1)
def raw_entries() -> dict[str, dict[str, Any]]:
    """BFCL's task entries by id (what its checker takes as ``test_entry``)."""
    out = {}
    for category in bfcl.CATEGORIES:
        path = bfcl.data_dir() / f"BFCL_v4_multi_turn_{category}.json"
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                out[entry["id"]] = entry
    return out


def render(call: ParsedCall) -> str:
    """A call as BFCL's decoded strings write it: ``name(key=literal, ...)``."""
    return f"{call.name}({', '.join(f'{k}={v!r}' for k, v in call.arguments.items())})"


def gold_answer(task: Any) -> Answer:
    """The gold calls as a model answer: one step per user turn."""
    return [[[render(c) for c in stage.gold]] if stage.gold else [] for stage in task.stages]


def bfcl_first_failure(task_id: str, answer: Answer) -> int | None:
    """The first user turn BFCL's ``multi_turn_checker`` fails (``None``: the answer is valid).

    BFCL stops at the first failing turn without naming it for state errors, so the
    checker runs on growing prefixes of the task.
    """
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker

    entry = raw_entries()[task_id]
    gold = _possible_answers()[task_id]
    category = task_id.rsplit("_", 1)[0]
    for end in range(1, len(gold) + 1):
        model_name = f"turngym_ref_{uuid.uuid4().hex}"
        try:
            verdict = multi_turn_checker(answer[:end], gold[:end], entry, category, model_name)
        finally:
            for key in [k for k in vars(multi_turn_utils) if k.startswith(model_name)]:
                delattr(multi_turn_utils, key)
        if not verdict["valid"]:
            return end - 1
    return None


@lru_cache(maxsize=1)
def _possible_answers() -> dict[str, list[list[str]]]:
    out = {}
    for category in bfcl.CATEGORIES:
        path = bfcl.data_dir() / "possible_answer" / f"BFCL_v4_multi_turn_{category}.json"
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                out[entry["id"]] = entry["ground_truth"]
    return out


def turngym_first_failure(env: ToolUseEnv, task_id: str, answer: Answer) -> int | None:
    """Play ``answer`` through the environment (Python-call text, one action per step, then
    an answer ending each turn) and return the first stage it judged failed."""
    env.reset(options={"task_id": task_id})
    verdicts: list[dict[str, Any]] = []
    for steps in answer:
        for step in steps:
            env.step("[" + ", ".join(step) + "]")
        _, _, terminated, truncated, info = env.step("Done.")
        if "stage_verdict" in info:
            verdicts.append(info["stage_verdict"])
        if terminated or truncated:
            break
    failed = [v["stage"] for v in verdicts if not v["passed"]]
    return min(failed) if failed else None


@dataclass(frozen=True)
class Case:
    """A task and an answer to judge, with how it was made."""

    task_id: str
    kind: str
    answer: Answer


def _changed(value: Any) -> Any:
    """A different value of the same type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.5
    if isinstance(value, str):
        return value + "_x"
    if isinstance(value, list):
        return [*value, value[0]] if value else ["x"]
    if isinstance(value, dict):
        return {**value, "extra_key": 1}
    return None


def mutate(task: Any, kind: str, rng: np.random.Generator) -> Answer | None:
    """``task``'s gold answer with one mistake of ``kind`` (``None`` if it cannot have one).

    Each turn's calls go in one step or one step per call, at random.
    """
    stages = [[c for c in stage.gold] for stage in task.stages]
    busy = [i for i, s in enumerate(stages) if s]
    if not busy:
        return None
    s = busy[int(rng.integers(len(busy)))]
    if kind == "drop_call":
        stages[s].pop(int(rng.integers(len(stages[s]))))
    elif kind == "wrong_value":
        candidates = [(i, j) for i in busy for j, c in enumerate(stages[i]) if c.arguments]
        if not candidates:
            return None
        i, j = candidates[int(rng.integers(len(candidates)))]
        call = stages[i][j]
        key = sorted(call.arguments)[int(rng.integers(len(call.arguments)))]
        stages[i][j] = ParsedCall(call.name, {**call.arguments, key: _changed(call.arguments[key])})
    elif kind == "extra_call":
        pool = [c for i in busy for c in stages[i] if i != s] or stages[s]
        extra = pool[int(rng.integers(len(pool)))]
        stages[s].insert(int(rng.integers(len(stages[s]) + 1)), extra)
    elif kind == "move_call":
        if s + 1 < len(stages):
            stages[s + 1].insert(0, stages[s].pop())
        elif s > 0:
            stages[s - 1].append(stages[s].pop(0))
        else:
            return None
    else:
        raise ValueError(f"unknown mutation {kind!r}")
    split = bool(rng.integers(2))
    return [[[render(c)] for c in calls] if split else ([[render(c) for c in calls]] if calls else [])
            for calls in stages]


def cases(n_per_kind: int, seed: int = 0) -> list[Case]:
    """``n_per_kind`` mutated answers of each kind, over tasks drawn across all categories."""
    rng = np.random.default_rng(seed)
    tasks = bfcl.load_tasks("all")
    out: list[Case] = []
    for kind in MUTATIONS:
        made = 0
        while made < n_per_kind:
            task = tasks[int(rng.integers(len(tasks)))]
            answer = mutate(task, kind, rng)
            if answer is not None:
                out.append(Case(task.task_id, kind, answer))
                made += 1
    return out
