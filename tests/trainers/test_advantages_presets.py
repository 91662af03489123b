"""preset="paper" reproduces each estimator's authors' published code, on small cases whose
values are written down here from the authors' formulas (not from turngym's code).

Sources (read, not copied): verl ``trainer/ppo/core_algos.py`` (GRPO, RLOO), verl-agent's
``gigpo/core_gigpo.py`` (GiGPO), the IGPO authors' ``verl/trainer/ppo/core_algos.py`` (Feb
2026 release), SiliangZeng/Multi-Turn-RL-Agent ``mt_grpo_env_trainer.py`` (MT-GRPO), and
the A-TGPO ``turn-group-v1d`` code as quoted in a public reading of it (A^2TGPO).
"""

from __future__ import annotations

import math
import statistics
from difflib import SequenceMatcher

import numpy as np
import pytest

from turngym.trainers.advantages import (
    PRESETS,
    TurnBatch,
    combine,
    empg,
    estimate,
    estimator_params,
    get_estimator,
    list_modifiers,
)

OWN = [
    "a2tgpo",
    "combine",
    "gigpo",
    "grpo",
    "igpo",
    "mapo",
    "mt_grpo",
    "rloo",
    "turn_discounted",
]


def batch_for(name: str) -> TurnBatch:
    return TurnBatch.from_groups(
        [[[0, 1], [0, 0], [0.5, 0, 2]], [[1, 0]]],
        anchors=[[["a", "b"], ["a", "c"], ["a", "b", "d"]], [["a", "b"]]],
        info_gain=[[[1, 0], [0, 0], [2, 5, 0]], [[0.5, 0]]],
        entropy=[[[0.1, 0.2], [0.3, 0.1], [0.5, 0.2, 0.4]], [[0.2, 0.1]]],
    )


def run(name: str, batch: TurnBatch, **params):
    if name == "combine":
        params.setdefault("components", [(1.0, "grpo", {}), (0.5, "mt_grpo", {})])
    return estimate(name, batch, **params)


def authors_norm(values, eps=1e-6):
    """verl / MT-GRPO: (x - mean) / (torch.std(x) + eps), torch.std being the sample std."""
    mean = statistics.fmean(values)
    std = statistics.stdev(values)
    return [(v - mean) / (std + eps) for v in values]


# --------------------------------------------------------------------------- the parameter


def test_presets_are_turngym_and_paper():
    assert PRESETS == ("turngym", "paper")


@pytest.mark.parametrize("name", OWN)
def test_every_estimator_takes_a_preset_defaulting_to_turngym(name):
    assert estimator_params(name)["preset"] == "turngym"
    batch = batch_for(name)
    default = run(name, batch)
    np.testing.assert_array_equal(run(name, batch, preset="turngym").advantages, default.advantages)
    assert default.diagnostics["params"]["preset"] == "turngym"
    assert run(name, batch, preset="paper").diagnostics["params"]["preset"] == "paper"


@pytest.mark.parametrize("name", OWN)
@pytest.mark.parametrize("bad", ["official", "Paper", None, 1])
def test_unknown_preset_error_lists_the_presets(name, bad):
    with pytest.raises(
        ValueError,
        match=rf"estimator '{name}': unknown preset {bad!r}; accepted presets: 'turngym', 'paper'",
    ):
        run(name, batch_for(name), preset=bad)


def test_parameter_error_lists_preset_among_accepted():
    with pytest.raises(TypeError, match=r"accepted: .*preset='turngym'"):
        estimate("igpo", batch_for("igpo"), presets="paper")


def test_a_preset_fills_only_what_the_caller_leaves_out():
    batch = batch_for("igpo")
    paper_but_keep_zeros = estimate("igpo", batch, preset="paper", zero_ig="keep")
    spelled_out = estimate("igpo", batch, std="population", var_eps=1e-8, zero_ig="keep")
    np.testing.assert_array_equal(paper_but_keep_zeros.advantages, spelled_out.advantages)
    assert paper_but_keep_zeros.diagnostics["params"]["zero_ig"] == "keep"
    assert paper_but_keep_zeros.diagnostics["params"]["std"] == "population"


def test_paper_bundles_name_only_real_parameters():
    for name in OWN:
        fn = get_estimator(name)
        bundle = getattr(fn, "presets", {"paper": {}})["paper"]
        assert set(bundle) <= set(estimator_params(name)), name


# --------------------------------------------------------------------------- GRPO, RLOO


def test_grpo_paper_matches_verl():
    # verl compute_grpo_outcome_advantage: groups of 2+ -> (R - mean) / (std + 1e-6) with
    # torch.std (sample); a group of one -> mean 0, std 1 -> R / (1 + 1e-6).
    batch = TurnBatch.from_groups([[[0, 3], [1], [2]], [[0, 5]]])
    expected_group = authors_norm([3.0, 1.0, 2.0])
    lone = 5.0 / (1.0 + 1e-6)
    expected = [expected_group[0]] * 2 + expected_group[1:] + [lone, lone]
    result = estimate("grpo", batch, preset="paper")
    np.testing.assert_allclose(result.advantages, expected, rtol=1e-12)
    mean_only = estimate("grpo", batch, preset="paper", norm="mean").advantages
    np.testing.assert_allclose(mean_only, [1, 1, -1, 0, 5, 5])  # verl without std: R - mean
    assert estimate("grpo", batch).advantages[-1] == 0.0  # turngym: no baseline, 0


def test_rloo_paper_matches_verl():
    # verl compute_rloo_outcome_advantage: n R/(n-1) - n mean/(n-1); a group of one keeps R.
    batch = TurnBatch.from_groups([[[4], [1], [1]], [[0, 2]]])
    n, mean = 3, 2.0
    expected = [n * r / (n - 1) - n * mean / (n - 1) for r in (4.0, 1.0, 1.0)] + [2.0, 2.0]
    np.testing.assert_allclose(estimate("rloo", batch, preset="paper").advantages, expected)
    assert expected[:3] == [3.0, -1.5, -1.5]
    assert estimate("rloo", batch).advantages[-1] == 0.0


# --------------------------------------------------------------------------- GiGPO


def test_gigpo_paper_is_mean_norm_with_raw_singletons():
    # core_gigpo.py, mode="mean_norm": episode term R - mean over the group's episodes (a
    # group of one: mean 0 -> R); step term G - mean over the anchor pool (a pool of one:
    # its own mean -> 0); A = A^E + omega * A^S. gamma = 0.95.
    batch = TurnBatch.from_groups(
        [[[0, 1], [0, 0]], [[0, 2]]],
        anchors=[[["s", "x"], ["s", "y"]], [["s", "x"]]],
    )
    g_a0, g_b0 = 0.95 * 1.0, 0.0  # returns-to-go at the shared state s
    step_s = [g_a0 - (g_a0 + g_b0) / 2, g_b0 - (g_a0 + g_b0) / 2]
    episode = [1 - 0.5, 0 - 0.5]
    expected = [
        episode[0] + step_s[0],
        episode[0],
        episode[1] + step_s[1],
        episode[1],
        2.0,  # group 1 holds one episode: raw return, its states are alone
        2.0,
    ]
    result = estimate("gigpo", batch, preset="paper")
    np.testing.assert_allclose(result.advantages, expected, rtol=1e-12)
    assert result.diagnostics["params"]["norm"] == "mean"


PROSE = (
    "You are in the middle of a room. Looking quickly around you, you see a cabinet 6, a "
    "cabinet 5, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a coffeemachine 1, a "
    "countertop 3, a countertop 2, a countertop 1, a drawer 3, a drawer 2, a drawer 1, a "
    "fridge 1, a garbagecan 1, a microwave 1, a shelf 3, a shelf 2, a shelf 1, a sinkbasin 1."
)


def test_gigpo_paper_similarity_uses_raw_text_and_autojunk():
    # core_gigpo.are_similar: SequenceMatcher(None, a, b).ratio() >= 0.95 on the raw
    # observation text, difflib's autojunk on. Two anchors differing in eight digits: without
    # autojunk they are 98% similar, with it (texts of 200+ characters) the ratio collapses.
    other = PROSE.replace("1,", "2,")
    assert len(PROSE) >= 200
    assert SequenceMatcher(None, other, PROSE, autojunk=False).ratio() >= 0.95
    assert SequenceMatcher(None, other, PROSE).ratio() < 0.95
    assert SequenceMatcher(None, PROSE, PROSE).ratio() == 1.0  # identical text still merges
    batch = TurnBatch.from_groups([[[1], [0]]], anchors=[[[PROSE], [other]]])
    sizes = {}
    for preset in PRESETS:
        result = estimate("gigpo", batch, preset=preset, similarity_threshold=0.95)
        sizes[preset] = result.diagnostics["anchor_group_sizes"]
    assert sizes == {"turngym": {2: 1}, "paper": {1: 2}}
    # Raw text: case differences keep anchors apart ("Room A" vs "room a": ratio 8/12).
    cased = TurnBatch.from_groups([[[1], [0]]], anchors=[[["Room A"], ["room a"]]])
    paper = estimate("gigpo", cased, preset="paper", similarity_threshold=0.95)
    assert paper.diagnostics["anchor_group_sizes"] == {1: 2}
    turngym = estimate("gigpo", cased, similarity_threshold=0.95)
    assert turngym.diagnostics["anchor_group_sizes"] == {2: 1}


# --------------------------------------------------------------------------- IGPO


def igpo_authors_stats(values):
    """compute_group_stats: mean, std = sqrt(E[(x - mean)^2] + 1e-8); one member -> std 1."""
    mean = statistics.fmean(values)
    if len(values) <= 1:
        return mean, 1.0
    return mean, math.sqrt(statistics.pvariance(values) + 1e-8)


def test_igpo_paper_joint_population_std_and_zero_ig_left_out():
    # A: IG 1 then outcome 2; B: IG 0, IG 0, outcome 2. ig_mask is reward != 0, so B's two
    # zeros are neither pooled nor normalised (z = 0); the pool is {1, 2, 2}.
    batch = TurnBatch.from_groups([[[0, 2], [0, 0, 2]]], info_gain=[[[1, 0], [0, 0, 0]]])
    mean, std = igpo_authors_stats([1.0, 2.0, 2.0])
    z = lambda x: (x - mean) / (std + 1e-6)  # noqa: E731
    z_a, z_b = [z(1.0), z(2.0)], [0.0, 0.0, z(2.0)]
    expected = [z_a[0] + z_a[1], z_a[1], sum(z_b), z_b[2], z_b[2]]  # gamma = 1
    result = estimate("igpo", batch, preset="paper")
    np.testing.assert_allclose(result.advantages, expected, rtol=1e-12)
    assert std == pytest.approx(math.sqrt(2 / 9 + 1e-8))


def test_igpo_paper_separate_mode():
    # separate: IG pool of the group's non-zero IG, outcome pool of its final turns.
    batch = TurnBatch.from_groups(
        [[[0, 0, 1], [0, 0], [0, 0.5]]], info_gain=[[[0.2, 0.6, 9], [0, 7], [0.4, 3]]]
    )
    ig_mean, ig_std = igpo_authors_stats([0.2, 0.6, 0.4])  # B's zero IG is left out
    out_mean, out_std = igpo_authors_stats([1.0, 0.0, 0.5])
    zi = lambda x: (x - ig_mean) / (ig_std + 1e-6)  # noqa: E731
    zo = lambda x: (x - out_mean) / (out_std + 1e-6)  # noqa: E731
    a = [zi(0.2), zi(0.6), zo(1.0)]
    b = [0.0, zo(0.0)]
    c = [zi(0.4), zo(0.5)]
    expected = [sum(a), a[1] + a[2], a[2], sum(b), b[1], sum(c), c[1]]
    result = estimate("igpo", batch, preset="paper", mode="separate")
    np.testing.assert_allclose(result.advantages, expected, rtol=1e-12, atol=1e-12)
    # turngym keeps B's zero in the IG pool {0.2, 0.6, 0, 0.4}: a different baseline.
    assert not np.allclose(estimate("igpo", batch, mode="separate").advantages, expected)


def test_igpo_paper_keeps_exact_zeros_for_equal_values():
    # The authors' std of equal values is sqrt(0 + 1e-8) = 1e-4 and x - mean is rounding
    # noise (0.1 + 0.1 + 0.1 = 0.30000000000000004), divided by 1e-4; turngym returns exact
    # zeros there and flags the pools degenerate.
    batch = TurnBatch.from_groups(
        [[[0, 0.3], [0, 0.3], [0, 0.3]]], info_gain=[[[0.1, 0], [0.1, 0], [0.1, 0]]]
    )
    assert (0.1 + 0.1 + 0.1) / 3 != 0.1
    result = estimate("igpo", batch, preset="paper", mode="separate")
    assert result.advantages.tolist() == [0.0] * 6
    assert result.diagnostics["pools"]["info_gain"].n_degenerate == 1
    assert result.diagnostics["pools"]["outcome"].n_degenerate == 1


# --------------------------------------------------------------------------- MT-GRPO


def test_mt_grpo_paper_matches_the_authors_two_turn_trainer():
    # MTGRPOEnvTrainer: per rollout a turn reward t (0 without a tool call) and an outcome
    # o, each normalised over all rollouts of the group as (x - mean) / (std + 1e-4), and
    # the combined reward t + o likewise. A rollout with a tool result gets o_adv on every
    # token plus lambda * t_adv on the tokens before the result (its first turn); one
    # without gets the combined advantage.
    turn = [1.0, 0.0, 0.5, 0.0]  # the 4th rollout answered without a tool call
    outcome = [1.0, 0.0, 1.0, 1.0]
    t_adv = authors_norm(turn, eps=1e-4)
    o_adv = authors_norm(outcome, eps=1e-4)
    c_adv = authors_norm([t + o for t, o in zip(turn, outcome)], eps=1e-4)
    expected = []
    for i in range(3):
        expected += [o_adv[i] + t_adv[i], o_adv[i]]
    expected.append(c_adv[3])
    batch = TurnBatch.from_groups(
        [[[turn[0], outcome[0]], [turn[1], outcome[1]], [turn[2], outcome[2]], [outcome[3]]]]
    )
    result = estimate("mt_grpo", batch, preset="paper")
    np.testing.assert_allclose(result.advantages, expected, rtol=1e-12)
    # turngym: the turn pool holds the three real first turns, the episode term the sums.
    default = estimate("mt_grpo", batch).advantages
    assert not np.allclose(default, expected)


def test_mt_grpo_paper_lambda_still_overridable():
    batch = TurnBatch.from_groups([[[1, 1], [0, 0], [0.5, 1]]])
    full = estimate("mt_grpo", batch, preset="paper").advantages
    outcome_only = estimate("mt_grpo", batch, preset="paper", lambda_turn=0.0).advantages
    np.testing.assert_allclose(outcome_only, np.repeat(authors_norm([1, 0, 1], 1e-4), 2))
    turn_adv = authors_norm([1, 0, 0.5], 1e-4)
    expected = [turn_adv[0], 0.0, turn_adv[1], 0.0, turn_adv[2], 0.0]
    np.testing.assert_allclose(full - outcome_only, expected, atol=1e-15)


# --------------------------------------------------------------------------- A^2TGPO


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_a2tgpo_paper_v1d_formulas():
    # turn-group-v1d: z normalised per (group, turn index) over the IG turns;
    # D_t = sum_{j>=t} gamma^(j-t) z_j / sqrt(n_ig - t) over the IG turns only;
    # A = 0.3 * D_t + outcome advantage; clip scale c = 1 + 0.3 (2 sigmoid(z) - 1) on IG
    # turns and 1 on the outcome turn.
    batch = TurnBatch.from_groups(
        [[[0, 0, 0, 1], [0, 0, 0, 0]]], info_gain=[[[1, 2, 3, 0], [3, 2, 1, 0]]]
    )
    a = (1 - 2) / (math.sqrt(2) + 1e-6)  # pool {1, 3}: mean 2, sample std sqrt 2
    z_a, z_b = [a, 0.0, -a], [-a, 0.0, a]  # turn 1 pool {2, 2}: degenerate
    outcome = authors_norm([1.0, 0.0])

    def advantages(z, out):
        d = [sum(z[t:]) / math.sqrt(3 - t) for t in range(3)]
        return [0.3 * x + out for x in d] + [out]

    expected = advantages(z_a, outcome[0]) + advantages(z_b, outcome[1])
    result = estimate("a2tgpo", batch, preset="paper")
    np.testing.assert_allclose(result.advantages, expected, rtol=1e-12)
    clips = [0.2 * (1 + 0.3 * (2 * sigmoid(z) - 1)) for z in z_a] + [0.2]
    clips += [0.2 * (1 + 0.3 * (2 * sigmoid(z) - 1)) for z in z_b] + [0.2]
    np.testing.assert_allclose(result.clip_ranges, clips, rtol=1e-12)
    # The scale is bounded by its form: eps * (0.7, 1.3), no eps_min / eps_max needed.
    extreme = TurnBatch.from_groups(
        [[[0, 1], [0, 0]]], info_gain=[[[1e6, 0], [-1e6, 0]]]
    )
    ranges = estimate("a2tgpo", extreme, preset="paper").clip_ranges
    assert 0.2 * 0.7 <= ranges.min() and ranges.max() <= 0.2 * 1.3


def test_a2tgpo_bounds_are_checked_without_eps_min():
    batch = batch_for("a2tgpo")
    with pytest.raises(ValueError, match="kappa must be < 1 when eps_min is None"):
        estimate("a2tgpo", batch, preset="paper", kappa=1.0)
    with pytest.raises(ValueError, match=r"eps \(between eps_min and eps_max\) must be in"):
        estimate("a2tgpo", batch, eps=0.5)  # turngym's eps_max is 0.3


# --------------------------------------------------------------------------- no code, combine


@pytest.mark.parametrize("name", ["mapo", "turn_discounted"])
def test_paper_equals_turngym_where_no_code_was_published(name):
    batch = batch_for(name)
    np.testing.assert_array_equal(
        estimate(name, batch, preset="paper").advantages, estimate(name, batch).advantages
    )


def test_combine_passes_its_preset_to_components_that_do_not_set_one():
    batch = TurnBatch.from_groups([[[1, 1], [0, 0], [2, 0, -1]]])
    mix = [(1.0, "grpo", {}), (0.5, "mt_grpo", {})]
    paper = estimate("combine", batch, components=mix, preset="paper").advantages
    expected = (
        estimate("grpo", batch, preset="paper").advantages
        + 0.5 * estimate("mt_grpo", batch, preset="paper").advantages
    )
    np.testing.assert_array_equal(paper, expected)
    pinned = [(1.0, "grpo", {}), (0.5, "mt_grpo", {"preset": "turngym"})]
    mixed = estimate("combine", batch, components=pinned, preset="paper").advantages
    np.testing.assert_array_equal(
        mixed,
        estimate("grpo", batch, preset="paper").advantages
        + 0.5 * estimate("mt_grpo", batch).advantages,
    )
    by_name = estimate("combine", batch, components=mix).advantages
    np.testing.assert_array_equal(combine(mix)(batch).advantages, by_name)


# --------------------------------------------------------------------------- modifiers (empg)


def test_empg_is_a_modifier_applied_by_estimate():
    batch = batch_for("grpo")
    assert list_modifiers() == ["aem", "empg"]
    chained = estimate("gigpo", batch, modifiers=[("empg", {"k": 2.0, "zeta": 0.05})])
    by_hand = empg(estimate("gigpo", batch), batch, k=2.0, zeta=0.05)
    np.testing.assert_array_equal(chained.advantages, by_hand.advantages)
    assert chained.diagnostics["estimator"] == "empg(gigpo)"
    np.testing.assert_array_equal(
        estimate("grpo", batch, modifiers=["empg"]).advantages,
        empg(estimate("grpo", batch), batch).advantages,
    )
    np.testing.assert_array_equal(
        estimate("grpo", batch, modifiers="empg").advantages,
        estimate("grpo", batch, modifiers=[("empg", {})]).advantages,
    )


def test_naming_empg_as_the_estimator_says_how_to_use_it():
    with pytest.raises(
        ValueError, match=r"unknown estimator 'empg'.*'empg' is a modifier.*modifiers=\['empg'\]"
    ):
        estimate("empg", batch_for("grpo"))


@pytest.mark.parametrize(
    "modifiers, error, match",
    [
        (["nope"], ValueError, r"modifiers\[0\]: unknown modifier 'nope'; registered: aem, empg"),
        ([("empg", {"kk": 1})], TypeError, r"modifier 'empg': unknown parameter\(s\) \['kk'\]"),
        ([("empg", 3)], TypeError, r"params of 'empg' must be a dict"),
        ([3], TypeError, r"modifiers\[0\] must be a name or a \(name, params\) pair"),
        (5, TypeError, "modifiers must be a list"),
        ([("empg", {"k": -1.0})], ValueError, r"k must be in \[0"),
    ],
)
def test_bad_modifiers(modifiers, error, match):
    with pytest.raises(error, match=match):
        estimate("grpo", batch_for("grpo"), modifiers=modifiers)


def test_modifier_names_are_checked_before_the_estimator_runs():
    no_anchors = TurnBatch.from_groups([[[1], [0]]])
    with pytest.raises(ValueError, match="unknown modifier"):
        estimate("gigpo", no_anchors, modifiers=["nope"])  # not the missing-anchors error
