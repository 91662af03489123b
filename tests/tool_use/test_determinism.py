"""BFCL's back-ends are deterministic: what ToolUseEnv's lazy gold run rests on.

With ``lazy_gold`` the environment does not run a task's gold calls while the agent's
back-ends have run exactly those calls: it takes their state and results to be the gold
run's. That holds when two runs of the same calls from a fresh load give the same results
and the same public attributes after every stage. These tests check it on two independent
loads of every one of the 800 tasks (a few seconds).
"""

from __future__ import annotations

from typing import Any

from turngym.core.actions import ParsedCall
from turngym.envs.tool_use import bfcl
from turngym.envs.tool_use.backends import BackendTemplate
from turngym.verifiers.tool_state import public_state, state_check, state_fingerprint


def _run(task: Any, catalog: Any, extra: ParsedCall | None = None) -> tuple[list, list, str]:
    """The gold calls on a fresh load (``extra`` first): results and public state after each
    stage, and the hash of the whole final state."""
    template = BackendTemplate({n: catalog.classes[n] for n in task.classes}, task.initial_config,
                               long_context=task.long_context, stateless=catalog.stateless)
    backends = template.instantiate()
    if extra is not None:
        backends.execute(extra)
    results, states = [], []
    for stage in task.stages:
        results.append([backends.execute(call)[0] for call in stage.gold])
        states.append({name: template.copy_instance(i) for name, i in backends.instances.items()})
    return results, states, state_fingerprint(backends.instances)


def _compare(task_id: str, run_a: tuple, run_b: tuple) -> list[tuple[str, int, str]]:
    (results_a, states_a, hash_a), (results_b, states_b, hash_b) = run_a, run_b
    out = []
    for index, (a, b) in enumerate(zip(states_a, states_b, strict=True)):
        if results_a[index] != results_b[index]:
            out.append((task_id, index, "results"))
        if not state_check(a, b).passed or not state_check(b, a).passed:
            out.append((task_id, index, "state"))
        # repr tells apart what == does not (1 and 1.0, a list and a tuple)
        if any(repr(public_state(a[n])) != repr(public_state(b[n])) for n in a):
            out.append((task_id, index, "repr"))
    if hash_a != hash_b:
        out.append((task_id, len(states_a) - 1, "private state"))
    return out


def _differences(tasks: list) -> list[tuple[str, int, str]]:
    catalog = bfcl.catalog()
    return [d for t in tasks for d in _compare(t.task_id, _run(t, catalog), _run(t, catalog))]


def test_one_more_call_shows_as_a_difference():
    catalog = bfcl.catalog()
    task = bfcl.load_tasks("base")[0]  # GorillaFileSystem and TwitterAPI
    extra = ParsedCall("mkdir", {"dir_name": "not_in_the_gold_run"})
    kinds = {kind for _, _, kind in _compare(task.task_id, _run(task, catalog), _run(task, catalog, extra))}
    assert {"state", "repr", "private state"} <= kinds


def test_two_runs_of_the_gold_calls_agree_after_every_stage_on_all_800_tasks():
    tasks = bfcl.load_tasks("all")
    assert len(tasks) == 800 and {t.category for t in tasks} == set(bfcl.CATEGORIES)
    assert _differences(tasks) == []
