"""MatchTIR matching: similarity by hand, Hungarian = brute force, Sinkhorn -> Hungarian."""

from __future__ import annotations

import numpy as np
import pytest

from turngym.core.actions import ParsedCall
from turngym.verifiers.tool_match import (
    ToolCallMatcher,
    brute_force_assignment,
    call_similarity,
    hungarian_assignment,
    similarity_matrix,
    sinkhorn_plan,
    values_equal,
)


def test_similarity_follows_matchtirs_formula_by_hand():
    gold = ("transfer", {"source": "a", "target": "b", "amount": 10})
    assert call_similarity(gold, gold) == 1.0
    # name 1, Jaccard {source, amount}/{source, target, amount} = 2/3, one value right: / (2 + 3)
    partial = ("transfer", {"source": "a", "amount": 5})
    assert call_similarity(partial, gold) == pytest.approx((1 + 2 / 3 + 1) / 5)
    # an extra argument lowers the Jaccard term only
    assert call_similarity(("transfer", {**gold[1], "memo": "x"}), gold) == pytest.approx((1 + 3 / 4 + 3) / 5)
    assert call_similarity(("deposit", gold[1]), gold) == 0.0
    assert call_similarity(ParsedCall("ls", {}), ("ls", {})) == 1.0


def test_values_are_compared_after_type_coercion():
    assert values_equal(1, 1.0) and values_equal("2.5", 2.5) and values_equal((1, "a"), [1, "a"])
    assert values_equal({"k": [1, 2]}, {"k": (1.0, 2)})
    assert not values_equal(True, 1) and not values_equal("x", 1) and not values_equal([1], [1, 2])
    with pytest.raises(TypeError, match="ParsedCall or a"):
        call_similarity("ls()", ("ls", {}))


@pytest.mark.parametrize("seed", range(60))
def test_hungarian_equals_brute_force_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(0, 6)), int(rng.integers(0, 6))
    sim = rng.random((m, n)) * (rng.random((m, n)) < 0.7)  # some exact zeros (different tools)
    assigned, total = hungarian_assignment(sim)
    assert total == pytest.approx(brute_force_assignment(sim))
    chosen = assigned[assigned >= 0]
    assert len(set(chosen.tolist())) == len(chosen)  # one-to-one
    assert total == pytest.approx(sum(sim[i, j] for i, j in enumerate(assigned) if j >= 0))


def test_hungarian_beats_greedy_where_greedy_is_wrong():
    sim = np.array([[0.9, 0.8], [0.85, 0.0]])  # greedy takes 0.9 and ends at 0.9; optimum 1.65
    assert hungarian_assignment(sim)[1] == pytest.approx(1.65)
    assert brute_force_assignment(sim) == pytest.approx(1.65)


@pytest.mark.parametrize("seed", range(20))
def test_sinkhorn_converges_to_hungarian_as_temperature_goes_to_zero(seed):
    rng = np.random.default_rng(100 + seed)
    m, n = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    sim = rng.random((m, n)) * (rng.random((m, n)) < 0.8)
    k = max(m, n)
    hard = hungarian_assignment(sim)[1]
    temperatures = (1.0, 0.1, 0.01, 0.001)
    gaps = [hard - k * float((sinkhorn_plan(sim, t) * sim).sum()) for t in temperatures]
    for t, gap in zip(temperatures, gaps):
        # never above the optimum; below it by at most the entropy term k * t * log(k^2)
        assert -1e-6 <= gap <= k * t * 2 * np.log(k) + 1e-6
    assert gaps[-1] < 0.02 and gaps[-1] <= gaps[0] + 1e-9


def test_sinkhorn_plan_concentrates_on_a_unique_optimum():
    sim = np.array([[0.9, 0.2, 0.0], [0.1, 0.8, 0.3]])
    plan = sinkhorn_plan(sim, 0.001)
    assert (3 * plan).round(3).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def test_sinkhorn_marginals_are_uniform_on_the_padded_problem():
    sim = np.random.default_rng(0).random((2, 4))
    plan = sinkhorn_plan(sim, 0.05)
    assert plan.sum(axis=1) == pytest.approx(np.full(2, 0.25), abs=1e-6)
    assert plan.sum() == pytest.approx(0.5, abs=1e-6)  # the two dummy rows carry the rest
    with pytest.raises(ValueError, match="temperature"):
        sinkhorn_plan(sim, 0.0)


def test_stage_reward_charges_extra_and_missing_calls():
    gold = [("cd", {"folder": "docs"}), ("ls", {})]
    hard = ToolCallMatcher("hard")
    perfect = hard.score(list(reversed(gold)), gold)
    assert (perfect.precision, perfect.recall, perfect.reward) == (1.0, 1.0, 1.0)
    assert perfect.assignment == (1, 0)
    missing = hard.score(gold[:1], gold)
    assert (missing.precision, missing.recall) == (1.0, 0.5) and missing.reward == pytest.approx(2 / 3)
    extra = hard.score([*gold, ("rm", {"file": "x"})], gold)
    assert extra.precision == pytest.approx(2 / 3) and extra.recall == 1.0
    assert extra.matched[2] == 0.0 and extra.assignment[2] == -1
    assert hard.score([], []).reward == 1.0  # nothing wanted, nothing done
    assert hard.score([("ls", {})], []).reward == 0.0
    assert hard.score([], gold).reward == 0.0
    soft = ToolCallMatcher("soft", temperature=0.001).score([*gold, ("rm", {"file": "x"})], gold)
    assert soft.reward == pytest.approx(extra.reward, abs=1e-3)
    with pytest.raises(ValueError, match="strategy"):
        ToolCallMatcher("greedy")


def test_similarity_matrix_shape():
    assert similarity_matrix([("a", {})], [("a", {}), ("b", {})]).tolist() == [[1.0, 0.0]]
