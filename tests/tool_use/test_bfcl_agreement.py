"""turngym's stage verdicts agree with bfcl-eval's own multi_turn_checker.

For each case the first user turn judged failed must be the same (or both valid).
Mutations: a dropped call, a wrong argument value, an extra call (a gold call of another
turn), a call moved to the neighbouring turn; calls go in one step or one per step.
Known BFCL data bugs (listed in turngym.envs.tool_use.bfcl) do not show up as
disagreements: BFCL's executor runs calls as written and so does this environment.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.tool_use import bfcl_reference as ref
from turngym.envs.tool_use import bfcl
from turngym.envs.tool_use.env import ToolUseEnv


@pytest.fixture(scope="module")
def env():
    return ToolUseEnv("bfcl")


def _disagreements(env, cases):
    out = []
    for case in cases:
        expected = ref.bfcl_first_failure(case.task_id, case.answer)
        got = ref.turngym_first_failure(env, case.task_id, case.answer)
        if expected != got:
            out.append((case.task_id, case.kind, expected, got))
    return out


def test_gold_answers_agree_on_a_sample_across_categories(env):
    tasks = bfcl.load_tasks("all")[::20]
    assert {t.category for t in tasks} == set(bfcl.CATEGORIES)
    cases = [ref.Case(t.task_id, "gold", ref.gold_answer(t)) for t in tasks]
    assert _disagreements(env, cases) == []
    assert all(ref.bfcl_first_failure(c.task_id, c.answer) is None for c in cases[:3])


@pytest.mark.parametrize("lazy_gold", [True, False])
def test_200_mutated_answers_agree_with_bfcl(lazy_gold):
    env = ToolUseEnv("bfcl", lazy_gold=lazy_gold)
    cases = ref.cases(n_per_kind=50, seed=0)
    assert len(cases) == 200
    verdicts = Counter()
    disagreements = []
    for case in cases:
        expected = ref.bfcl_first_failure(case.task_id, case.answer)
        got = ref.turngym_first_failure(env, case.task_id, case.answer)
        verdicts[(case.kind, expected is None)] += 1
        if expected != got:
            disagreements.append((case.task_id, case.kind, expected, got))
    assert disagreements == []
    # The mutations are real mistakes: dropped calls, wrong values and moved calls fail.
    for kind in ("drop_call", "wrong_value", "move_call"):
        assert verdicts[(kind, False)] >= 40, verdicts


@pytest.mark.slow
@pytest.mark.parametrize("lazy_gold", [True, False])
def test_all_800_gold_answers_and_800_mutants_agree_with_bfcl(lazy_gold):
    env = ToolUseEnv("bfcl", lazy_gold=lazy_gold)
    gold = [ref.Case(t.task_id, "gold", ref.gold_answer(t)) for t in bfcl.load_tasks("all")]
    assert _disagreements(env, gold) == []
    assert _disagreements(env, ref.cases(n_per_kind=200, seed=1)) == []
