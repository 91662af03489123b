"""Benchmark statistics against hand-computed values (pass@k, pass^k, IQM, bootstrap, profiles, summaries)."""

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from turngym.bench import stats
from turngym.core.trajectory import EpisodeRecord, TurnRecord

# ----- pass@k / pass^k -----------------------------------------------------------------------


def test_pass_at_k_hand_values():
    assert stats.pass_at_k(5, 2, 2) == pytest.approx(0.7)  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert stats.pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 = c/n
    assert stats.pass_at_k(4, 1, 3) == pytest.approx(0.75)  # 1 - C(3,3)/C(4,3) = 1 - 1/4


def test_pass_at_k_c_zero_and_c_equals_n():
    assert stats.pass_at_k(6, 0, 3) == 0.0
    assert stats.pass_at_k(6, 6, 3) == 1.0
    assert stats.pass_at_k(3, 1, 3) == 1.0  # n - c = 2 < k = 3: every draw of 3 holds the success


def test_pass_at_k_equals_the_binomial_formula_everywhere_small():
    for n in range(1, 16):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
                assert stats.pass_at_k(n, c, k) == pytest.approx(float(exact), abs=1e-12), (n, c, k)


def test_pass_at_k_is_stable_where_binomials_overflow_floats():
    n, c, k = 2000, 7, 500
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))  # C(2000, 500) ~ 1e486: no float holds it
    assert stats.pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-10)


def test_k_greater_than_n_is_refused_with_the_largest_usable_k():
    with pytest.raises(ValueError, match=r"k=5 > n=3.*k <= 3"):
        stats.pass_at_k(3, 0, 5)
    with pytest.raises(ValueError, match="k=4 > n=2"):
        stats.pass_hat_k(2, 2, 4)
    with pytest.raises(ValueError, match="k must be >= 1"):
        stats.pass_at_k(3, 1, 0)
    with pytest.raises(ValueError, match=r"c \(successful samples\) must be in \[0, n=3\]"):
        stats.pass_at_k(3, 4, 1)


def test_pass_hat_k_hand_values():
    assert stats.pass_hat_k(5, 3, 2) == pytest.approx(0.3)  # C(3,2)/C(5,2) = 3/10
    assert stats.pass_hat_k(8, 4, 3) == pytest.approx(4 / 56)  # C(4,3)/C(8,3)
    assert stats.pass_hat_k(5, 2, 3) == 0.0  # fewer successes than k
    assert stats.pass_hat_k(5, 0, 1) == 0.0
    assert stats.pass_hat_k(5, 5, 5) == 1.0
    assert stats.pass_hat_k(7, 3, 1) == pytest.approx(3 / 7) == stats.pass_at_k(7, 3, 1)


def test_pass_hat_k_equals_the_binomial_ratio_everywhere_small():
    for n in range(1, 13):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = Fraction(math.comb(c, k), math.comb(n, k))
                assert stats.pass_hat_k(n, c, k) == pytest.approx(float(exact), abs=1e-12), (n, c, k)


def test_means_over_tasks_and_one_task():
    successes = {"a": [1, 0, 0, 1, 0], "b": [0, 0, 0, 0, 0], "c": [1, 1, 1, 1, 1]}
    assert stats.mean_pass_at_k(successes, 2) == pytest.approx((0.7 + 0 + 1) / 3)
    assert stats.mean_pass_hat_k(successes, 2) == pytest.approx((0.1 + 0 + 1) / 3)  # C(2,2)/C(5,2) = 0.1
    assert stats.mean_pass_at_k({"only": [1, 0]}, 1) == pytest.approx(0.5)
    assert stats.max_k({"a": [1, 0, 1], "b": [0, 1]}) == 2
    with pytest.raises(ValueError, match="no tasks"):
        stats.mean_pass_at_k({}, 1)
    with pytest.raises(ValueError, match="task 'x' has no samples"):
        stats.mean_pass_hat_k({"x": []}, 1)


# ----- IQM ----------------------------------------------------------------------------------------


def test_iqm_hand_values_and_ties():
    assert stats.iqm([4, 1, 3, 2]) == pytest.approx(2.5)  # cut 1 each end of [1,2,3,4]: mean(2, 3)
    assert stats.iqm([0, 1, 1, 1]) == pytest.approx(1.0)  # tied values are cut by position
    assert stats.iqm([1, 2, 2, 2, 2, 9, 9, 9]) == pytest.approx(3.75)  # g = 2: mean(2, 2, 2, 9)
    assert stats.iqm([5.0] * 8) == 5.0
    assert stats.iqm([1, 2, 10]) == pytest.approx(13 / 3)  # n < 4: nothing cut
    assert stats.iqm([1, 2, 3, 4, 100]) == pytest.approx(3.0)  # g = floor(1.25) = 1: mean(2, 3, 4)
    assert stats.iqm([7]) == 7.0


def test_iqm_of_nothing_is_a_clear_error():
    with pytest.raises(ValueError, match="IQM of no scores"):
        stats.iqm([])


# ----- stratified bootstrap -------------------------------------------------------------------------


def test_stratified_bootstrap_resamples_within_tasks_only():
    # Every task is constant, so every stratified draw has the same pooled mean: a zero-width
    # interval. A bootstrap that pooled the runs first would not.
    scores = {"hard": [0.0, 0.0, 0.0], "easy": [1.0, 1.0, 1.0]}
    for aggregate in ("mean", "iqm", "median"):
        interval = stats.bootstrap_interval(scores, aggregate, resamples=500, seed=1)
        assert (interval.low, interval.value, interval.high) == (0.5, 0.5, 0.5), aggregate


def test_bootstrap_interval_of_one_task_matches_the_exact_resampling_distribution():
    # Two runs [0, 1]: a redraw's mean is 0, 0.5 or 1 with chances 1/4, 1/2, 1/4.
    scores = {"t": [0.0, 1.0]}
    wide = stats.bootstrap_interval(scores, resamples=4000, confidence=0.95, seed=0)
    assert (wide.value, wide.low, wide.high) == (0.5, 0.0, 1.0)
    narrow = stats.bootstrap_interval(scores, resamples=4000, confidence=0.4, seed=0)  # 30%/70% quantiles
    assert (narrow.low, narrow.high) == (0.5, 0.5)


def test_one_run_per_task_gives_a_point_interval():
    interval = stats.bootstrap_interval({"a": [0.2], "b": [0.8]}, "iqm", resamples=100)
    assert interval.to_list() == [0.5, 0.5, 0.5]


def test_bootstrap_is_seeded_and_reproducible():
    rng = np.random.default_rng(5)
    scores = {f"t{i}": rng.random(4).tolist() for i in range(6)}
    first = stats.bootstrap_interval(scores, "iqm", resamples=300, seed=3)
    again = stats.bootstrap_interval(scores, "iqm", resamples=300, seed=3)
    other = stats.bootstrap_interval(scores, "iqm", resamples=300, seed=4)
    assert first == again and first != other
    assert first.low < first.value < first.high
    blocks = list(stats.stratified_resamples(scores, 300, np.random.default_rng(0), chunk=7))
    assert [b.shape for b in blocks[-2:]] == [(7, 24), (300 % 7, 24)]
    assert sum(len(b) for b in blocks) == 300


def test_bootstrap_bad_input_is_named():
    with pytest.raises(ValueError, match="no tasks"):
        stats.bootstrap_interval({})
    with pytest.raises(ValueError, match="task 'a' has no runs"):
        stats.bootstrap_interval({"a": []})
    with pytest.raises(ValueError, match="unknown aggregate 'max'; known"):
        stats.bootstrap_interval({"a": [1.0]}, "max")
    with pytest.raises(ValueError, match="confidence must be in"):
        stats.bootstrap_interval({"a": [1.0]}, confidence=95)
    with pytest.raises(ValueError, match="non-finite"):
        stats.bootstrap_interval({"a": [float("nan")]})


# ----- performance profiles and paired comparisons ---------------------------------------------------


def test_performance_profile_hand_values():
    scores = {"a": [0.0, 0.5, 1.0], "b": [1.0, 1.0, 1.0]}
    runs = stats.performance_profile(scores, [0.0, 0.5, 1.0], kind="runs", resamples=200)
    assert runs.fraction == pytest.approx([5 / 6, 4 / 6, 0.0])  # scores strictly above tau
    tasks = stats.performance_profile(scores, [0.0, 0.5, 1.0], kind="tasks", resamples=200)
    assert tasks.fraction == pytest.approx([1.0, 0.5, 0.0])  # task means 0.5 and 1
    for profile in (runs, tasks):
        assert all(lo <= f + 1e-12 and f <= hi + 1e-12
                   for lo, f, hi in zip(profile.low, profile.fraction, profile.high))
    constant = stats.performance_profile({"a": [0.0, 0.0], "b": [1.0, 1.0]}, [0.5], resamples=50)
    assert (constant.low, constant.fraction, constant.high) == ([0.5], [0.5], [0.5])
    with pytest.raises(ValueError, match="kind must be 'runs' or 'tasks'"):
        stats.performance_profile(scores, [0.5], kind="episodes")
    with pytest.raises(ValueError, match="taus is empty"):
        stats.performance_profile(scores, [])


def test_paired_difference_on_shared_tasks():
    a = {"t1": [0.0, 0.0], "t2": [1.0, 1.0], "only_a": [1.0]}
    b = {"t1": [1.0, 1.0], "t2": [1.0, 1.0], "t3": [0.0]}
    result = stats.paired_difference(a, b, resamples=200)
    assert (result.mean_a, result.mean_b, result.tasks) == (0.5, 1.0, 2)
    assert result.difference.to_list() == [0.5, 0.5, 0.5]  # constant within tasks: no spread
    assert (result.only_in_a, result.only_in_b) == (["only_a"], ["t3"])
    noisy = stats.paired_difference({"t": [0.0, 1.0, 0.0, 1.0]}, {"t": [1.0, 1.0, 1.0, 0.0]}, resamples=500)
    assert noisy.difference.value == pytest.approx(0.25)
    assert noisy.difference.low < 0.25 < noisy.difference.high
    with pytest.raises(ValueError, match="share no task"):
        stats.paired_difference({"x": [1.0]}, {"y": [1.0]})


# ----- episodes and the summary ---------------------------------------------------------------------


def _episode(task, outcome, *, env="turngym/A-v0", agent="oracle", status="ok", turns=None, wall=None):
    turns = turns if turns is not None else [TurnRecord(0, "x", signals={"valid_action": 1.0})]
    return EpisodeRecord(
        episode_id=f"{task}-{outcome}-{status}-{len(turns)}", env_id=env, task_id=task, outcome=outcome,
        status=status, agent=agent, turns=turns, metadata={"wall_s": wall} if wall is not None else {},
    )


def test_episode_metrics_and_the_failed_episode_rule():
    turns = [
        TurnRecord(0, "bad", action_ids=[1, 2, 3], signals={"valid_action": 0.0}),
        TurnRecord(1, "good", action_ids=[4, 5], signals={"valid_action": 1.0}),
        TurnRecord(2, "no signal", action_ids=[6]),
    ]
    m = stats.episode_metrics(_episode("t", 1.0, turns=turns, wall=2.5))
    assert (m.outcome, m.success, m.failed, m.turns, m.invalid_turns, m.tokens, m.wall_s) == (
        1.0, True, False, 3, 1, 6, 2.5)
    crashed = stats.episode_metrics(_episode("t", 1.0, status="error"))  # outcome ignored: it failed
    assert (crashed.outcome, crashed.success, crashed.failed, crashed.tokens, crashed.wall_s) == (
        0.0, False, True, None, None)
    unscored = stats.episode_metrics(_episode("t", None))
    assert (unscored.outcome, unscored.failed) == (0.0, False)
    assert stats.episode_metrics(_episode("t", 0.999999999999)).success


def test_summarize_hand_values():
    bad_turn = [TurnRecord(0, "?", signals={"valid_action": 0.0, "evidence_gain": 0.5})]
    good_turns = [TurnRecord(0, "a", signals={"valid_action": 1.0, "evidence_gain": 1.0}),
                  TurnRecord(1, "b", signals={"valid_action": 1.0})]
    records = [
        _episode("t1", 1.0, turns=good_turns, wall=1.0),
        _episode("t1", 0.0, turns=bad_turn, wall=3.0),
        _episode("t2", 1.0, turns=good_turns),
        _episode("t2", 0.5, status="error", turns=bad_turn),  # failed: scores 0
        _episode("t1", 1.0, agent="random"),
    ]
    summary = stats.summarize(records, resamples=200)
    json.dumps(summary, allow_nan=False)  # JSON-ready
    oracle, random_agent = summary["groups"]
    assert (oracle["agent"], random_agent["agent"]) == ("oracle", "random")
    assert (oracle["episodes"], oracle["failed"], oracle["tasks"]) == (4, 1, 2)
    assert oracle["runs_per_task"] == {"min": 2, "max": 2}
    assert oracle["mean_outcome"][0] == pytest.approx(0.5)  # (1 + 0 + 1 + 0) / 4
    assert oracle["success_rate"][0] == pytest.approx(0.5)
    assert oracle["mean_outcome"][1] <= 0.5 <= oracle["mean_outcome"][2]
    assert oracle["invalid_action_rate"] == pytest.approx(2 / 6)  # 2 invalid of 2+1+2+1 turns
    assert oracle["turns_mean"] == pytest.approx(1.5)
    assert oracle["tokens_mean"] is None and oracle["wall_s_mean"] == pytest.approx(2.0)
    # per task: t1 c=1 of n=2, t2 c=1 of n=2 -> pass@1 = 0.5, pass@2 = 1, pass^2 = 0
    assert oracle["pass_at_k"] == pytest.approx({"1": 0.5, "2": 1.0})
    assert oracle["pass_hat_k"] == pytest.approx({"1": 0.5, "2": 0.0})
    assert random_agent["runs_per_task"] == {"min": 1, "max": 1}
    assert random_agent["mean_outcome"] == [1.0, 1.0, 1.0]
    gain = summary["signals"]["turngym/A-v0"]["evidence_gain"]
    assert gain == {"mean": pytest.approx((1 + 1 + 0.5 + 0.5) / 4), "turns": 4}
    assert summary["signals"]["turngym/A-v0"]["valid_action"]["turns"] == 7
    assert "failed" in summary["settings"]["failed_episodes"]


def test_summarize_of_nothing_is_a_clear_error():
    with pytest.raises(ValueError, match="no episodes to summarise"):
        stats.summarize([])


def test_performance_profile_matches_a_direct_count_at_ties_and_outside_the_range():
    rng = np.random.default_rng(2)
    scores = {f"t{i}": rng.integers(0, 5, size=3).astype(float).tolist() for i in range(20)}
    taus = [-1.0, 0.0, 1.0, 2.5, 4.0, 7.0]  # exact score values (ties), between, below and above all
    pooled = np.concatenate([np.asarray(v) for v in scores.values()])
    direct = [float((pooled > tau).mean()) for tau in taus]
    assert stats.performance_profile(scores, taus, resamples=20).fraction == pytest.approx(direct, abs=1e-12)


def test_tasks_with_different_run_counts():
    # Constant within each task: zero-width intervals at the pooled value, whatever the run counts.
    interval = stats.bootstrap_interval({"a": [0.0, 0.0], "b": [1.0, 1.0, 1.0]}, resamples=200)
    assert interval.to_list() == [pytest.approx(0.6)] * 3  # 3 of 5 runs score 1
    # Task means 1, 0.5, 0 (tasks of 3, 2 and 3 runs; the draws hold a and c before b).
    ragged = {"a": [1.0, 1.0, 1.0], "b": [0.5, 0.5], "c": [0.0, 0.0, 0.0]}
    profile = stats.performance_profile(ragged, [0.4, 0.75], kind="tasks", resamples=100)
    assert profile.fraction == pytest.approx([2 / 3, 1 / 3])
    paired = stats.paired_difference({"a": [0.0], "b": [1.0, 1.0]}, {"a": [1.0, 1.0, 1.0], "b": [1.0]})
    assert paired.difference.to_list() == [0.5, 0.5, 0.5]
