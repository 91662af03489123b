"""TurnBatch validation, the registry, parameter errors, combine and empg."""

from __future__ import annotations

import math

import numpy as np
import pytest

from turngym.trainers.advantages import (
    AdvantageResult,
    TurnBatch,
    a2tgpo_advantages,
    combine,
    empg,
    estimate,
    estimator_params,
    grpo_advantages,
    list_estimators,
    mt_grpo_advantages,
    register_estimator,
    unregister_estimator,
)


def small_batch(**extra) -> TurnBatch:
    return TurnBatch.from_groups([[[0, 1], [0], [0, 0, 2]], [[1]]], **extra)


# --------------------------------------------------------------------------- TurnBatch


def test_unequal_lengths_name_every_array():
    with pytest.raises(ValueError, match=r"same length.*rewards=2.*info_gain=3"):
        TurnBatch([0, 0, 0], [0, 0, 1], [0, 1, 0], [1.0, 2.0], info_gain=[0, 0, 0])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["rewards", "info_gain", "entropy"])
def test_non_finite_values_are_rejected(field, bad):
    values = {"rewards": [0.0, 1.0], "info_gain": [0.0, 0.0], "entropy": [0.0, 0.0]}
    values[field] = [0.0, bad]
    with pytest.raises(ValueError, match=rf"{field} must be finite.*row 1"):
        TurnBatch([0, 0], [0, 1], [0, 0], **values)


def test_non_numeric_rewards_and_turns_are_type_errors():
    with pytest.raises(TypeError, match="rewards must hold real numbers"):
        TurnBatch([0], [0], [0], ["1.0"])
    with pytest.raises(TypeError, match="rewards must hold real numbers"):
        TurnBatch([0], [0], [0], [None])
    with pytest.raises(TypeError, match="turn_index must hold integers"):
        TurnBatch([0], [0], [0.0], [1.0])


@pytest.mark.parametrize(
    "turns, shown",
    [
        ([0, 2], "[0, 2]"),  # gap
        ([0, 0], "[0, 0]"),  # repeat
        ([1, 2], "[1, 2]"),  # does not start at 0
        ([0, -1], None),  # negative
    ],
)
def test_turn_indices_must_run_0_to_t_minus_1(turns, shown):
    with pytest.raises(ValueError, match="turn_index must run 0..T-1") as info:
        TurnBatch([0, 0, 0], ["a", "a", "b"], [*turns, 0], [0.0, 0.0, 0.0])
    if shown:
        assert f"episode 'a' has turns {shown}" in str(info.value)


def test_an_episode_in_two_groups_is_rejected():
    with pytest.raises(ValueError, match=r"episode 7 appears in two groups \('q\d' and 'q\d'\)"):
        TurnBatch(["q1", "q2"], [7, 7], [0, 1], [0.0, 1.0])


def test_empty_batch_and_bad_shapes():
    with pytest.raises(ValueError, match="at least one turn"):
        TurnBatch([], [], [], [])
    with pytest.raises(ValueError, match="1-D"):
        TurnBatch(np.zeros((1, 2)), [0], [0], [0.0])
    with pytest.raises(TypeError, match="sequence or array"):
        TurnBatch(0, [0], [0], [0.0])


def test_unhashable_anchors_are_a_type_error():
    with pytest.raises(TypeError, match="anchors must be hashable"):
        TurnBatch([0, 0], [0, 1], [0, 0], [0.0, 1.0], anchors=[["a"], ["b"]])


def test_ids_of_any_hashable_type_and_hash_collisions():
    # hash(-1) == hash(-2) in CPython: the factorisation must still keep them apart.
    batch = TurnBatch(
        group_ids=[("task", 1), ("task", 1), "t2", "t2"],
        episode_ids=[-1, -2, "e", 3.5],
        turn_index=[0, 0, 0, 0],
        rewards=[1.0, 0.0, 1.0, 0.0],
        anchors=[-1, -2, -1, -1],
    )
    assert batch.n_episodes == 4 and batch.n_groups == 2
    result = estimate("gigpo", batch)
    assert result.diagnostics["anchor_group_sizes"] == {1: 2, 2: 1}
    np.testing.assert_allclose(result.advantages[:2], grpo_advantages(batch).advantages[:2])


def test_layout_is_canonical_and_read_only():
    batch = TurnBatch(["b", "a", "a", "b"], [5, 2, 2, 4], [0, 1, 0, 0], [1.0, 2.0, 3.0, 4.0])
    layout = batch.layout
    assert layout.rewards.tolist() == [3.0, 2.0, 4.0, 1.0]  # (a, 2, 0), (a, 2, 1), (b, 4), (b, 5)
    assert layout.episode_ids.tolist() == [2, 4, 5]
    assert layout.group_ids.tolist() == ["a", "b"]
    with pytest.raises(ValueError):
        layout.rewards[0] = 1.0
    assert repr(batch) == "TurnBatch(turns=4, episodes=3, groups=2, with=[])"


def test_from_groups_checks_nesting():
    with pytest.raises(ValueError, match="same nesting"):
        TurnBatch.from_groups([[[0, 1]]], anchors=[[["a"]]])


# --------------------------------------------------------------------------- registry


def test_list_estimators():
    assert list_estimators() == [
        "a2tgpo",
        "combine",
        "gigpo",
        "grpo",
        "igpo",
        "mapo",
        "matchtir",
        "mt_grpo",
        "rloo",
        "tempo",
        "tree_step",
        "turn_discounted",
    ]


def test_unknown_estimator_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown estimator 'gpro'; registered: a2tgpo, .*grpo"):
        estimate("gpro", small_batch())


def test_unknown_parameter_lists_accepted_ones_with_defaults():
    with pytest.raises(
        TypeError,
        match=r"'gigpo': unknown parameter\(s\) \['gama'\]; accepted: omega=1.0, gamma=0.95",
    ):
        estimate("gigpo", small_batch(), gama=0.9)
    with pytest.raises(
        TypeError,
        match=r"'rloo': unknown parameter\(s\) \['norm'\]; "
        r"accepted: singleton='zero', preset='turngym'$",
    ):
        estimate("rloo", small_batch(), norm="std")
    with pytest.raises(TypeError, match=r"missing parameter\(s\) \['components'\]"):
        estimate("combine", small_batch())


def test_estimate_needs_a_turn_batch():
    with pytest.raises(TypeError, match="needs a TurnBatch"):
        estimate("grpo", {"rewards": [1.0]})


@pytest.mark.parametrize(
    "name, params, error, message",
    [
        ("grpo", {"norm": "zscore"}, ValueError, "norm must be one of 'std', 'mean'"),
        ("grpo", {"norm_eps": -1.0}, ValueError, r"norm_eps must be in \[0, inf\)"),
        ("turn_discounted", {"gamma": 1.5}, ValueError, r"gamma must be in \[0, 1\]"),
        ("turn_discounted", {"gamma": True}, TypeError, "gamma must be a real number"),
        ("turn_discounted", {"gamma": "0.9"}, TypeError, "gamma must be a real number"),
        (
            "turn_discounted",
            {"min_episodes": 0},
            ValueError,
            "min_episodes must be an integer >= 1",
        ),
        ("turn_discounted", {"min_episodes": 2.0}, TypeError, "min_episodes must be an integer"),
        ("turn_discounted", {"return_form": "max"}, ValueError, "'sum', 'min'"),
        ("gigpo", {"omega": math.nan}, ValueError, "omega must be finite"),
        ("igpo", {"mode": "both"}, ValueError, "mode must be one of 'joint', 'separate'"),
        ("a2tgpo", {"eps": 0.5}, ValueError, r"eps \(between eps_min and eps_max\)"),
        ("a2tgpo", {"eps_min": 0.0}, ValueError, r"eps_min \(or None\) must be in \(0"),
        ("a2tgpo", {"kappa": -1.0}, ValueError, "kappa must be in"),
        ("mapo", {"alpha": 2.0}, ValueError, r"alpha must be in \[0, 1\]"),
        ("mt_grpo", {"lambda_turn": None}, TypeError, "lambda_turn must be a real number"),
    ],
)
def test_invalid_parameter_values(name, params, error, message):
    batch = small_batch(
        anchors=[[["a", "b"], ["a"], ["a", "b", "c"]], [["a"]]],
        info_gain=[[[0, 0], [0], [0, 0, 0]], [[0]]],
    )
    with pytest.raises(error, match=message):
        estimate(name, batch, **params)


@pytest.mark.parametrize(
    "name, field", [("gigpo", "anchors"), ("igpo", "info_gain"), ("a2tgpo", "info_gain")]
)
def test_missing_per_turn_fields(name, field):
    with pytest.raises(ValueError, match=rf"'{name}' needs per-turn '{field}'.*{field}=\.\.\."):
        estimate(name, small_batch())


def test_register_and_unregister_an_estimator():
    @register_estimator("zeros_for_test")
    def zeros(batch, *, scale=1.0):
        return AdvantageResult(advantages=np.zeros(batch.n_turns) * scale)

    try:
        assert estimator_params("zeros_for_test") == {"scale": 1.0}
        assert estimate("zeros_for_test", small_batch(), scale=2.0).advantages.sum() == 0
        with pytest.raises(ValueError, match="already registered"):
            register_estimator("zeros_for_test", zeros)
        register_estimator("zeros_for_test", zeros, overwrite=True)
    finally:
        unregister_estimator("zeros_for_test")
    assert "zeros_for_test" not in list_estimators()


def test_register_rejects_positional_parameters():
    def positional(batch, gamma=1.0):
        return AdvantageResult(advantages=np.zeros(batch.n_turns))

    with pytest.raises(TypeError, match=r"keyword-only .*\['gamma'\]"):
        register_estimator("positional_for_test", positional)
    with pytest.raises(TypeError, match="first argument"):
        register_estimator("no_batch_for_test", lambda: None)


# --------------------------------------------------------------------------- combine


def test_combine_is_a_weighted_sum():
    batch = small_batch(info_gain=[[[0.5, 0], [0], [0.1, 0.2, 0]], [[0]]])
    mix = combine([(1.0, "grpo", {}), (-0.5, "mt_grpo", {"lambda_turn": 2.0})])
    expected = (
        grpo_advantages(batch).advantages
        - 0.5 * mt_grpo_advantages(batch, lambda_turn=2.0).advantages
    )
    np.testing.assert_allclose(mix(batch).advantages, expected, atol=1e-15)
    by_name = estimate(
        "combine", batch, components=[(1.0, "grpo", {}), (-0.5, "mt_grpo", {"lambda_turn": 2.0})]
    )
    np.testing.assert_array_equal(by_name.advantages, mix(batch).advantages)
    assert set(by_name.diagnostics["pools"]) == {
        "0:grpo.episode",
        "1:mt_grpo.episode",
        "1:mt_grpo.turn",
    }
    assert by_name.clip_ranges is None


def test_combine_takes_clip_ranges_from_the_one_component_that_has_them():
    batch = small_batch(info_gain=[[[0.5, 0], [0], [0.1, 0.2, 0]], [[0]]])
    result = combine([(0.5, "grpo", {}), (1.0, "a2tgpo", {"kappa": 1.0})])(batch)
    np.testing.assert_array_equal(
        result.clip_ranges, a2tgpo_advantages(batch, kappa=1.0).clip_ranges
    )
    with pytest.raises(ValueError, match="both provide clip_ranges"):
        combine([(0.5, "a2tgpo", {}), (0.5, "a2tgpo", {"eps": 0.25})])(batch)


@pytest.mark.parametrize(
    "components, error, message",
    [
        ("grpo", TypeError, "list of \\(weight, name, params\\)"),
        ([], ValueError, "at least one"),
        ([(1.0, "grpo")], TypeError, r"components\[0\] must be a \(weight, name, params\)"),
        ([(math.inf, "grpo", {})], ValueError, "weight must be finite"),
        ([("1", "grpo", {})], TypeError, "weight must be a real number"),
        ([(1.0, "nope", {})], ValueError, "unknown estimator 'nope'"),
        ([(1.0, "grpo", None)], TypeError, "params must be a dict"),
        ([(1.0, "grpo", {"gamma": 1})], TypeError, r"unknown parameter\(s\) \['gamma'\]"),
    ],
)
def test_combine_validates_components_up_front(components, error, message):
    with pytest.raises(error, match=message):
        combine(components)


# --------------------------------------------------------------------------- empg


def test_empg_with_constant_entropy_adds_only_the_bonus():
    batch = small_batch(entropy=[[[0.7, 0.7], [0.7], [0.7, 0.7, 0.7]], [[0.7]]])
    base = grpo_advantages(batch)
    result = empg(base, batch, k=3.0, zeta=0.25)
    last = np.array([False, True, True, False, False, True, True])
    np.testing.assert_allclose(result.advantages, base.advantages + 0.25 * ~last)
    assert result.diagnostics["estimator"] == "empg(grpo)"
    assert result.diagnostics["empg"]["scale_min"] == 1.0


def test_empg_hand_values():
    # Entropies 0, 2, 1, 1 -> H_norm 0, 1, 0.5, 0.5; k = 2: g = 1, e^-2, e^-1, e^-1.
    batch = TurnBatch.from_groups([[[0, 1], [0, 0]]], entropy=[[[0.0, 2.0], [1.0, 1.0]]])
    base = grpo_advantages(batch)
    g = np.exp([0.0, -2.0, -1.0, -1.0])
    bonus = 0.1 * np.array([g[1], 0.0, g[3], 0.0])
    expected = base.advantages * g / g.mean() + bonus
    np.testing.assert_allclose(empg(base, batch, k=2.0).advantages, expected, atol=1e-15)


def test_empg_errors():
    batch = small_batch()
    base = grpo_advantages(batch)
    with pytest.raises(ValueError, match="'empg' needs per-turn 'entropy'"):
        empg(base, batch)
    other = TurnBatch.from_groups([[[0], [1]]], entropy=[[[0.0]], [[1.0]]])
    with pytest.raises(ValueError, match="pass the batch the result was computed on"):
        empg(base, other)
    with pytest.raises(ValueError, match=r"k must be in \[0, inf\)"):
        empg(grpo_advantages(other), other, k=-1.0)
    with pytest.raises(TypeError, match="needs an AdvantageResult"):
        empg(base.advantages, batch)


def test_empg_keeps_clip_ranges():
    batch = small_batch(
        info_gain=[[[0.5, 0], [0], [0.1, 0.2, 0]], [[0]]],
        entropy=[[[0.1, 0.2], [0.3], [0.4, 0.5, 0.6]], [[0.7]]],
    )
    base = a2tgpo_advantages(batch)
    assert empg(base, batch).clip_ranges is base.clip_ranges
