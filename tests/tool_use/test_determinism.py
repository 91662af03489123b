"""Declared determinism: what ToolUseEnv's lazy gold run and history-keyed caches rest on.

With ``lazy_gold`` the environment does not run a task's gold calls while the agent's
back-ends have run exactly those calls: it takes their state and results to be the gold
run's. That holds when two runs of the same calls from a fresh load give the same results
and the same public attributes after every stage. These tests check it on two independent
loads of every one of the 800 BFCL tasks (a few seconds) and of generated tasks of every
level, the two catalogs declared deterministic; and that a catalog not declared so (a
back-end handing out numbers from a process-wide counter) is judged strictly, sees fresh
results every episode and refuses ``lazy_gold=True``.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.tool_use.test_caches import _true_anchor
from turngym.core.actions import ParsedCall, ToolSpec
from turngym.envs.tool_use import bfcl, generated
from turngym.envs.tool_use.backends import BackendTemplate
from turngym.envs.tool_use.env import ToolUseEnv
from turngym.envs.tool_use.gold import TaskCaches
from turngym.envs.tool_use.tasks import Catalog, Stage, ToolTask
from turngym.verifiers.tool_state import public_state, state_check, state_fingerprint

TICKETS = itertools.count()
"""Process-wide: not part of a back-end's (pickled) state, so equal call histories differ."""


class Clock:
    """A back-end that is not deterministic: every ticket is a new number."""

    def __init__(self) -> None:
        self.last = -1

    def _load_scenario(self, config: dict, long_context: bool = False) -> None:
        pass

    def tick(self) -> dict:
        """Returns a fresh ticket number."""
        self.last = next(TICKETS)
        return {"ticket": self.last}


def _clock_env(lazy_gold: bool | None, deterministic: bool = False) -> ToolUseEnv:
    catalog = Catalog(classes={"Clock": Clock}, tools={"Clock": (ToolSpec("tick", "A fresh ticket."),)},
                      deterministic=deterministic)
    task = ToolTask("t0", "custom", (Stage(("take a ticket",), (ParsedCall("tick", {}),)),), ("Clock",))
    return ToolUseEnv([task], catalog=catalog, lazy_gold=lazy_gold, caches=TaskCaches())


@pytest.mark.parametrize("lazy_gold", [None, False])
def test_a_catalog_not_declared_deterministic_is_judged_strictly_with_fresh_results(lazy_gold):
    env = _clock_env(lazy_gold)
    assert env.lazy_gold is False and env.deterministic is False
    seen = []
    for _ in range(3):
        _, info = env.reset(options={"task_id": "t0"})
        assert info["anchor"] == _true_anchor(env)
        before = next(TICKETS)
        obs, *_, info = env.step("[tick()]")  # the agent makes exactly the gold call
        assert info["anchor"] == _true_anchor(env)  # its state is hashed, not remembered
        seen.append(obs[-1]["content"])
        assert obs[-1]["content"] == f'Results:\ntick() -> {{"ticket": {before + 1}}}'  # it really ran
        *_, terminated, _, info = env.step("Done.")
        # a live gold run every episode drew the next ticket: results and state differ from the agent's
        assert next(TICKETS) == before + 3
        verdict = info["stage_verdicts"][0]
        assert terminated and info["outcome"] == 0.0
        assert (verdict["passed"], verdict["state_match"], verdict["response_match"]) == (False, False, False)
    assert len(set(seen)) == 3
    assert len(env._caches.result_texts) == 0
    assert all(key[2] == b"" for key in env._caches.fingerprints._data)  # only untouched back-ends
    assert len(env._caches.gold_runs) == 0


def test_lazy_gold_on_a_catalog_not_declared_deterministic_is_refused():
    with pytest.raises(ValueError, match=r"deterministic=True.*lazy_gold=False or None"):
        _clock_env(True)
    with pytest.raises(TypeError, match="lazy_gold must be True, False or None"):
        _clock_env("yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="deterministic must be True or False"):
        Catalog(classes={}, tools={}, deterministic="yes")  # type: ignore[arg-type]
    # What a declaration allows (the declaration is the user's word: the counter then is trusted).
    assert _clock_env(True, deterministic=True).lazy_gold is True
    assert ToolUseEnv("bfcl").lazy_gold is True and ToolUseEnv("generated").lazy_gold is True
    assert bfcl.catalog().deterministic and generated.catalog().deterministic


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


def test_two_runs_of_the_gold_calls_agree_on_generated_tasks_of_every_level():
    catalog = generated.catalog()
    tasks = [generated.generate_task(level, split, i)
             for level in generated.LEVELS for split in generated.SPLITS for i in range(40)]
    differences = [d for t in tasks for d in _compare(t.task_id, _run(t, catalog), _run(t, catalog))]
    assert differences == []
    assert {n for t in tasks for n in t.classes} == set(catalog.classes)
