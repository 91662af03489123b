"""Hand-computed values for every estimator: ragged groups, singleton groups, zero
variance, equal rewards, exact zeros, shuffled turns, min-form returns, diagnostics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from turngym.trainers.advantages import (
    TurnBatch,
    a2tgpo_advantages,
    estimate,
    gigpo_advantages,
    grpo_advantages,
    igpo_advantages,
    mapo_advantages,
    mt_grpo_advantages,
    rloo_advantages,
    turn_discounted_advantages,
)

EPS = 1e-6
SQRT_HALF = math.sqrt(0.5)


def std_norm(x, pool):
    """norm(x; pool) written out: sample std (ddof=1) plus eps."""
    pool = np.asarray(pool, dtype=float)
    return (x - pool.mean()) / (pool.std(ddof=1) + EPS)


def shuffled(batch: TurnBatch, seed: int = 0) -> tuple[TurnBatch, np.ndarray]:
    """The same turns in a random row order, and the permutation used."""
    perm = np.random.default_rng(seed).permutation(batch.n_turns)
    fields = {
        name: None if getattr(batch, name) is None else getattr(batch, name)[perm]
        for name in ("anchors", "info_gain", "entropy")
    }
    return (
        TurnBatch(
            batch.group_ids[perm],
            batch.episode_ids[perm],
            batch.turn_index[perm],
            batch.rewards[perm],
            **fields,
        ),
        perm,
    )


# --------------------------------------------------------------------------- grpo / rloo


def test_grpo_statistics_are_over_episodes_not_rows():
    # verl-agent #138: a 3-turn episode must not weigh 3 times. Returns {1, 0}: +-1/sqrt(2)
    # whatever the lengths (over rows the mean would be 0.25).
    batch = TurnBatch.from_groups([[[1.0], [0.0, 0.0, 0.0]]])
    expected = 0.5 / (SQRT_HALF + EPS)
    np.testing.assert_allclose(
        grpo_advantages(batch).advantages, [expected, -expected, -expected, -expected]
    )


def test_grpo_gives_every_turn_of_an_episode_the_episode_term():
    # SkyRL #1492: earlier turns must not get zero advantage.
    batch = TurnBatch.from_groups([[[0.0, 0.0, 0.0, 1.0], [0.0, 0.0]]])
    adv = grpo_advantages(batch).advantages
    assert np.all(adv[:4] == adv[0]) and adv[0] > 0
    assert np.all(adv[4:] == adv[4]) and adv[4] < 0


def test_grpo_singleton_and_zero_variance_groups_are_zero_and_flagged():
    batch = TurnBatch(
        group_ids=["solo", "same", "same", "same", "ok", "ok"],
        episode_ids=[0, 1, 1, 2, 3, 4],
        turn_index=[0, 0, 1, 0, 0, 0],
        rewards=[5.0, 0.5, 0.5, 1.0, 1.0, 0.0],  # "same": both episodes return 1.0
    )
    result = grpo_advantages(batch)
    np.testing.assert_array_equal(result.advantages[:4], [0.0, 0.0, 0.0, 0.0])
    assert result.advantages[4] > 0 > result.advantages[5]
    report = result.diagnostics["pools"]["episode"]
    assert (report.n_pools, report.n_degenerate) == (3, 2)
    assert sorted(report.degenerate_group_ids.tolist()) == ["same", "solo"]


def test_equal_float_rewards_give_exact_zeros():
    # 0.1 * 3 is not exact in floating point: the std floor turns the noise into exact 0.
    batch = TurnBatch.from_groups([[[0.1, 0.1, 0.1], [0.3], [0.2, 0.1]]])
    for name in ("grpo", "rloo"):
        assert np.all(estimate(name, batch).advantages == 0.0), name
    # MT-GRPO: the episode term is exactly 0 too; only turn 0's pool {0.1, 0.2} has spread.
    np.testing.assert_array_equal(estimate("mt_grpo", batch).advantages[[1, 2, 3, 5]], 0.0)


def test_grpo_mean_variant():
    batch = TurnBatch.from_groups([[[1.0], [0.0], [2.0]]])
    result = grpo_advantages(batch, norm="mean")
    np.testing.assert_array_equal(result.advantages, [0.0, -1.0, 1.0])


def test_rloo_hand_values_and_singleton():
    # n = 4, returns 1, 0, 0, 3: A_i = R_i - mean of the other three.
    batch = TurnBatch.from_groups([[[1.0], [0.0, 0.0], [0.0], [1.0, 2.0]], [[7.0]]])
    expected_ep = [1 - 1.0, 0 - 4 / 3, 0 - 4 / 3, 3 - 1 / 3]
    expected = [expected_ep[0], expected_ep[1], expected_ep[1], expected_ep[2]]
    expected += [expected_ep[3], expected_ep[3], 0.0]
    result = rloo_advantages(batch)
    np.testing.assert_allclose(result.advantages, expected, atol=1e-12)
    assert result.diagnostics["pools"]["episode"].degenerate_group_ids.tolist() == [1]


# --------------------------------------------------------------------------- returns-based


def test_turn_discounted_with_gamma_and_ragged_lengths():
    # gamma = 0.5. A: r = [0, 0, 4] -> G = [1, 2, 4]; B: r = [2, 2] -> G = [3, 2];
    # C: r = [1] -> G = [1]. Turn 0 pool {1, 3, 1}; turn 1 pool {2, 2}: zero variance;
    # turn 2 has only A (m = 2): normalised over the group's G {1, 2, 4, 3, 2, 1}.
    batch = TurnBatch.from_groups([[[0, 0, 4], [2, 2], [1]]])
    result = turn_discounted_advantages(batch, gamma=0.5)
    everything = [1, 2, 4, 3, 2, 1]
    expected = [
        std_norm(1, [1, 3, 1]),
        0.0,
        std_norm(4, everything),
        std_norm(3, [1, 3, 1]),
        0.0,
        std_norm(1, [1, 3, 1]),
    ]
    np.testing.assert_allclose(result.advantages, expected, atol=1e-12)
    turn_report = result.diagnostics["pools"]["turn"]
    assert turn_report.degenerate_keys.tolist() == [1]
    assert result.diagnostics["fallback_turn_pools"] == 1


def test_turn_discounted_min_episodes_controls_the_fallback():
    batch = TurnBatch.from_groups([[[0, 0, 4], [2, 2], [1]]])
    # m = 4: no turn pool is large enough, every turn uses the group's G.
    result = turn_discounted_advantages(batch, gamma=0.5, min_episodes=4)
    everything = [1, 2, 4, 3, 2, 1]
    np.testing.assert_allclose(
        result.advantages, [std_norm(x, everything) for x in everything], atol=1e-12
    )


def test_min_form_returns_pure():
    # return_form="min": G_t = min_{k>=t} r_k. A: r = [3, 1, 2] -> G = [1, 1, 2];
    # B: r = [0, 5] -> G = [0, 5].
    batch = TurnBatch.from_groups([[[3, 1, 2], [0, 5]]])
    result = turn_discounted_advantages(batch, return_form="min", min_episodes=1)
    expected = [
        0.5 / (SQRT_HALF + EPS),  # turn 0 pool {1, 0}: +-1/sqrt(2)
        std_norm(1, [1, 5]),
        0.0,  # turn 2: A alone (m = 1 keeps the singleton pool: degenerate)
        -0.5 / (SQRT_HALF + EPS),
        std_norm(5, [1, 5]),
    ]
    np.testing.assert_allclose(result.advantages, expected, atol=1e-12)


def test_gigpo_pools_revisits_of_a_state_within_an_episode():
    # A visits s twice (r = [0, 1], gamma = 0.5: G = [0.5, 1]), B once (G = 0):
    # the pool of s is {0.5, 1, 0}.
    batch = TurnBatch.from_groups([[[0, 1], [0]]], anchors=[[["s", "s"], ["s"]]])
    result = gigpo_advantages(batch, gamma=0.5, omega=2.0)
    episode = 0.5 / (SQRT_HALF + EPS)
    pool = [0.5, 1.0, 0.0]
    expected = [
        episode + 2 * std_norm(0.5, pool),
        episode + 2 * std_norm(1.0, pool),
        -episode + 2 * std_norm(0.0, pool),
    ]
    np.testing.assert_allclose(result.advantages, expected, atol=1e-12)
    assert result.diagnostics["anchor_group_sizes"] == {3: 1}


def test_gigpo_anchors_only_match_within_a_group():
    batch = TurnBatch.from_groups(
        [[[1], [0]], [[1], [0]]], anchors=[[["s"], ["t"]], [["s"], ["t"]]]
    )
    result = gigpo_advantages(batch)
    assert result.diagnostics["anchor_group_sizes"] == {1: 4}
    np.testing.assert_array_equal(result.advantages, grpo_advantages(batch).advantages)
    report = result.diagnostics["pools"]["anchor"]
    assert report.n_degenerate == 4
    assert sorted(report.degenerate_keys.tolist()) == ["s", "s", "t", "t"]


def test_gigpo_similarity_grouping_merges_near_identical_text():
    anchors = [[["You are in room 12.", "x"], ["you are in  Room 12.", "y"], ["Hall", "z"]]]
    batch = TurnBatch.from_groups([[[0, 1], [0, 0], [0, 0]]], anchors=anchors)
    exact = gigpo_advantages(batch, gamma=1.0)
    similar = gigpo_advantages(batch, gamma=1.0, similarity_threshold=0.95)
    assert exact.diagnostics["anchor_group_sizes"] == {1: 6}
    assert similar.diagnostics["anchor_group_sizes"] == {1: 4, 2: 1}
    episode = grpo_advantages(batch).advantages
    # The merged pool holds the first turns of A and B: G = {1, 0}.
    step = [0.5 / (SQRT_HALF + EPS), 0, -0.5 / (SQRT_HALF + EPS), 0, 0, 0]
    np.testing.assert_allclose(similar.advantages, episode + step, atol=1e-12)
    # Leader clustering: with a very low threshold "y" and "hall" share a character with the
    # first cluster's representative and join it; "x" and "z" share none and stay alone.
    loose = gigpo_advantages(batch, similarity_threshold=0.01)
    assert loose.diagnostics["anchor_group_sizes"] == {1: 2, 4: 1}


def test_gigpo_similarity_rejects_non_text_anchors_and_bad_thresholds():
    batch = TurnBatch.from_groups([[[0], [1]]], anchors=[[[1]], [[2]]])
    with pytest.raises(TypeError, match="string anchors"):
        gigpo_advantages(batch, similarity_threshold=0.9)
    with pytest.raises(ValueError, match=r"similarity_threshold .* \(0, 1\]"):
        gigpo_advantages(batch, similarity_threshold=0.0)


def test_igpo_joint_keeps_exact_zeros_in_the_pool():
    # r' = A: [0, 0, 1], B: [0, 0]; joint pool {0, 0, 1, 0, 0}: zeros count.
    batch = TurnBatch.from_groups([[[9, 9, 1], [9, 0]]], info_gain=[[[0, 0, 7], [0, 7]]])
    result = igpo_advantages(batch)
    pool = [0, 0, 1, 0, 0]
    z_zero, z_one = std_norm(0, pool), std_norm(1, pool)
    expected = [2 * z_zero + z_one, z_zero + z_one, z_one, 2 * z_zero, z_zero]
    np.testing.assert_allclose(result.advantages, expected, atol=1e-12)


def test_igpo_separate_and_lambdas_and_gamma():
    batch = TurnBatch.from_groups([[[0, 1], [0, 0, 3]]], info_gain=[[[0.2, 0], [0.4, 0.0, 0]]])
    result = igpo_advantages(batch, mode="separate", lambda_ig=2.0, lambda_out=0.5, gamma=0.5)
    ig_pool = [0.4, 0.8, 0.0]  # lambda_ig * IG of the non-terminal turns
    out_pool = [0.5, 1.5]  # lambda_out * terminal rewards
    z = [std_norm(0.4, ig_pool), std_norm(0.5, out_pool)]
    w = [std_norm(0.8, ig_pool), std_norm(0.0, ig_pool), std_norm(1.5, out_pool)]
    expected = [
        z[0] + 0.5 * z[1],
        z[1],
        w[0] + 0.5 * w[1] + 0.25 * w[2],
        w[1] + 0.5 * w[2],
        w[2],
    ]
    np.testing.assert_allclose(result.advantages, expected, atol=1e-12)
    assert set(result.diagnostics["pools"]) == {"info_gain", "outcome"}


def test_a2tgpo_sqrt_scaling_and_clip_ranges():
    # One group, A: IG [1, 3, -], B: IG [0, 1, -], C: IG [2, -]; rewards give R = 1, 0, 0.
    batch = TurnBatch.from_groups(
        [[[0, 0, 1], [0, 0, 0], [0, 0]]], info_gain=[[[1, 3, 0], [0, 1, 0], [2, 0]]]
    )
    result = a2tgpo_advantages(batch, gamma=0.5, eps=0.2, kappa=1.0, eps_min=0.15, eps_max=0.25)
    z0 = {"A": std_norm(1, [1, 0, 2]), "B": std_norm(0, [1, 0, 2]), "C": std_norm(2, [1, 0, 2])}
    z1 = {"A": std_norm(3, [3, 1]), "B": std_norm(1, [3, 1])}
    outcome = {
        "A": std_norm(1, [1, 0, 0]),
        "B": std_norm(0, [1, 0, 0]),
        "C": std_norm(0, [1, 0, 0]),
    }
    expected = [
        (z0["A"] + 0.5 * z1["A"]) / math.sqrt(3) + outcome["A"],
        z1["A"] / math.sqrt(2) + outcome["A"],
        outcome["A"],
        (z0["B"] + 0.5 * z1["B"]) / math.sqrt(3) + outcome["B"],
        z1["B"] / math.sqrt(2) + outcome["B"],
        outcome["B"],
        z0["C"] / math.sqrt(2) + outcome["C"],
        outcome["C"],
    ]
    np.testing.assert_allclose(result.advantages, expected, atol=1e-12)
    z = [z0["A"], z1["A"], 0, z0["B"], z1["B"], 0, z0["C"], 0]
    clips = np.clip(0.2 * (1 + np.tanh(z)), 0.15, 0.25)
    np.testing.assert_allclose(result.clip_ranges, clips, atol=1e-15)
    assert result.clip_ranges[2] == 0.2  # terminal turns get eps
    assert result.clip_ranges.max() == 0.25 and result.clip_ranges.min() == 0.15


def test_mapo_extremes_are_turn_and_batch_normalisation():
    batch = TurnBatch.from_groups([[[0, 2], [0], [1, 0]], [[3, 1], [0]]])
    turn_only = mapo_advantages(batch, alpha=1.0).advantages
    batch_only = mapo_advantages(batch, alpha=0.0).advantages
    mixed = mapo_advantages(batch, alpha=0.3).advantages
    np.testing.assert_allclose(mixed, 0.3 * turn_only + 0.7 * batch_only, atol=1e-12)
    all_g = [2, 2, 0, 1, 0, 4, 1, 0]
    np.testing.assert_allclose(batch_only, [std_norm(g, all_g) for g in all_g], atol=1e-12)
    # Group 1, turn 1 holds only the first episode: degenerate, no fallback.
    assert turn_only[6] == 0.0
    np.testing.assert_allclose(turn_only[5], std_norm(4, [4, 0]))


def test_mt_grpo_lambda_zero_is_grpo():
    batch = TurnBatch.from_groups([[[1, 1], [0, 0], [2, 0, -1]]])
    np.testing.assert_array_equal(
        mt_grpo_advantages(batch, lambda_turn=0.0).advantages,
        grpo_advantages(batch).advantages,
    )


# --------------------------------------------------------------------------- order


@pytest.mark.parametrize(
    "name, params",
    [
        ("grpo", {}),
        ("rloo", {}),
        ("turn_discounted", {"gamma": 0.7}),
        ("gigpo", {}),
        ("gigpo", {"similarity_threshold": 0.8}),
        ("igpo", {"mode": "separate"}),
        ("a2tgpo", {}),
        ("mapo", {}),
        ("mt_grpo", {}),
    ],
)
def test_shuffled_turns_give_identical_results(name, params):
    batch = TurnBatch.from_groups(
        [[[0, 1, 0.5], [0, 0], [2]], [[1], [0, 0, 0, 1]]],
        anchors=[[["a", "b", "c"], ["a", "c"], ["b"]], [["a"], ["a", "b", "a", "b"]]],
        info_gain=[[[0.1, 0.0, 0], [0.3, 0], [0]], [[0], [0.2, 0.0, -0.1, 0]]],
    )
    reference = estimate(name, batch, **params)
    for seed in range(3):
        other, perm = shuffled(batch, seed)
        result = estimate(name, other, **params)
        np.testing.assert_array_equal(result.advantages, reference.advantages[perm])
        if reference.clip_ranges is not None:
            np.testing.assert_array_equal(result.clip_ranges, reference.clip_ranges[perm])
        assert result.diagnostics["advantage_mean"] == reference.diagnostics["advantage_mean"]


# --------------------------------------------------------------------------- diagnostics


def test_diagnostics_report_mean_std_and_params():
    batch = TurnBatch.from_groups([[[0, 1], [0], [0, 0, 2]], [[1]]])
    result = estimate("grpo", batch)
    diag = result.diagnostics
    assert diag["estimator"] == "grpo"
    assert diag["params"] == {
        "norm": "std",
        "norm_eps": 1e-6,
        "singleton": "zero",
        "preset": "turngym",
    }
    assert diag["advantage_mean"] == pytest.approx(result.advantages.mean())
    assert diag["advantage_std"] == pytest.approx(result.advantages.std())
    assert "degenerate=1" in repr(diag["pools"]["episode"])
