"""Property tests (hypothesis): every estimator on random ragged batches.

* finite outputs for finite inputs (grid values, and any floats in [-1e6, 1e6]);
* identical (bit for bit) results whatever the row order;
* agreement with the loop-based reference implementations in advantages_reference.py;
* ``grpo`` has mean zero over the episodes of each non-degenerate group;
* ``gigpo`` with all anchors distinct equals ``grpo``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turngym.trainers.advantages import (
    TurnBatch,
    empg,
    estimate,
    gigpo_advantages,
    grpo_advantages,
    list_estimators,
)

try:  # tests/trainers may or may not be a package
    from . import advantages_reference as ref
except ImportError:
    import advantages_reference as ref

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GRID = st.sampled_from([-1.0, -0.5, 0.0, 0.0, 0.25, 0.5, 1.0, 2.0])  # exact zeros often


@st.composite
def batches(draw, max_groups=4, max_episodes=5, max_turns=5):
    """Flat arrays for a random ragged batch, rows shuffled, ids not 0..n-1."""
    lengths = draw(
        st.lists(
            st.lists(st.integers(1, max_turns), min_size=1, max_size=max_episodes),
            min_size=1,
            max_size=max_groups,
        )
    )
    rows = [
        (f"task-{g}", 1000 + 7 * (g * max_episodes + e), t)
        for g, group in enumerate(lengths)
        for e, length in enumerate(group)
        for t in range(length)
    ]
    n = len(rows)
    perm = draw(st.permutations(range(n)))
    rows = [rows[i] for i in perm]
    return {
        "group_ids": [r[0] for r in rows],
        "episode_ids": [r[1] for r in rows],
        "turn_index": [r[2] for r in rows],
        "rewards": draw(st.lists(GRID, min_size=n, max_size=n)),
        "anchors": draw(st.lists(st.sampled_from(["s0", "s1", "s2"]), min_size=n, max_size=n)),
        "info_gain": draw(st.lists(GRID, min_size=n, max_size=n)),
        "entropy": draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=n, max_size=n)),
        "node_ids": tree_nodes(draw, rows, max_turns),
    }


def tree_nodes(draw, rows, max_turns):
    """Valid tree node ids: an episode shares its first ``share`` turns with the other episodes
    of its group drawing the same ``branch`` (a common prefix), its later turns are its own."""
    share, branch = {}, {}
    for _, episode, _ in rows:
        share.setdefault(episode, draw(st.integers(0, max_turns)))
        branch.setdefault(episode, draw(st.integers(0, 1)))
    return [
        f"{g}/shared{branch[e]}/{t}" if t < share[e] else f"{g}/own{e}/{t}" for g, e, t in rows
    ]


ESTIMATOR_CALLS = {
    "grpo": {},
    "rloo": {},
    "turn_discounted": {"gamma": 0.9},
    "gigpo": {},
    "igpo": {},
    "a2tgpo": {"gamma": 0.9},
    "mapo": {},
    "mt_grpo": {},
    "matchtir": {},
    "combine": {"components": [(1.0, "grpo", {}), (0.5, "a2tgpo", {})]},
    "tempo": {},
    "tree_step": {"mode": "sibling"},
}


def run_all(batch: TurnBatch) -> dict[str, np.ndarray]:
    out = {}
    for name, params in ESTIMATOR_CALLS.items():
        result = estimate(name, batch, **params)
        out[name] = result.advantages
        if result.clip_ranges is not None:
            out[name + ".clip"] = result.clip_ranges
    out["grpo.min"] = estimate("turn_discounted", batch, return_form="min").advantages
    out["igpo.separate.min"] = estimate(
        "igpo", batch, mode="separate", return_form="min"
    ).advantages
    out["empg"] = empg(estimate("gigpo", batch), batch).advantages
    return out


def test_every_registered_estimator_is_exercised():
    assert set(list_estimators()) <= set(ESTIMATOR_CALLS)


@SETTINGS
@given(batches())
def test_finite_and_order_independent(data):
    batch = TurnBatch(**data)
    results = run_all(batch)
    for name, values in results.items():
        assert values.shape == (batch.n_turns,), name
        assert np.isfinite(values).all(), name

    # The same turns in another order give the same numbers, bit for bit.
    reverse = np.arange(batch.n_turns)[::-1]
    flipped = TurnBatch(**{k: [v[i] for i in reverse] for k, v in data.items()})
    for name, values in run_all(flipped).items():
        np.testing.assert_array_equal(values[np.argsort(reverse)], results[name], err_msg=name)


WIDE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=True)


@SETTINGS
@given(batches(), st.data())
def test_finite_for_any_finite_values(data, draw):
    n = len(data["rewards"])
    for field in ("rewards", "info_gain", "entropy"):
        data[field] = draw.draw(st.lists(WIDE, min_size=n, max_size=n), label=field)
    batch = TurnBatch(**data)
    for name, values in run_all(batch).items():
        assert np.isfinite(values).all(), name


@SETTINGS
@given(batches())
def test_matches_reference(data):
    batch = TurnBatch(**data)
    eps = ref.Episodes(data["group_ids"], data["episode_ids"], data["turn_index"])
    r, ig, ent, anchors = data["rewards"], data["info_gain"], data["entropy"], data["anchors"]

    def check(name, expected, **params):
        got = estimate(name, batch, **params).advantages
        np.testing.assert_allclose(got, expected, atol=1e-9, err_msg=f"{name} {params}")

    check("grpo", ref.grpo(eps, r))
    check("grpo", ref.grpo(eps, r, mode="mean"), norm="mean")
    check("rloo", ref.rloo(eps, r))
    check("turn_discounted", ref.turn_discounted(eps, r))
    check("turn_discounted", ref.turn_discounted(eps, r, 0.8, 3), gamma=0.8, min_episodes=3)
    check("turn_discounted", ref.turn_discounted(eps, r, form="min"), return_form="min")
    check("gigpo", ref.gigpo(eps, r, anchors))
    check(
        "gigpo",
        ref.gigpo(eps, r, anchors, 0.5, 1.0, "min"),
        omega=0.5,
        gamma=1.0,
        return_form="min",
    )
    check("igpo", ref.igpo(eps, r, ig))
    check(
        "igpo",
        ref.igpo(eps, r, ig, "separate", 2.0, 0.5, 0.9),
        mode="separate",
        lambda_ig=2.0,
        lambda_out=0.5,
        gamma=0.9,
    )
    check("igpo", ref.igpo(eps, r, ig, form="min"), return_form="min")
    check("mapo", ref.mapo(eps, r))
    check("mapo", ref.mapo(eps, r, 0.25, 0.9, "min"), alpha=0.25, gamma=0.9, return_form="min")
    check("mt_grpo", ref.mt_grpo(eps, r, 0.5), lambda_turn=0.5)

    for form in ("sum", "min"):
        expected, clips = ref.a2tgpo(eps, r, ig, gamma=0.9, form=form)
        result = estimate("a2tgpo", batch, gamma=0.9, return_form=form)
        np.testing.assert_allclose(result.advantages, expected, atol=1e-9, err_msg=form)
        np.testing.assert_allclose(result.clip_ranges, clips, atol=1e-12)

    base = estimate("mt_grpo", batch)
    np.testing.assert_allclose(
        empg(base, batch, k=2.0, zeta=0.3).advantages,
        ref.empg(eps, base.advantages, ent, k=2.0, zeta=0.3),
        atol=1e-9,
    )


@SETTINGS
@given(batches())
def test_grpo_has_mean_zero_in_each_non_degenerate_group(data):
    batch = TurnBatch(**data)
    result = grpo_advantages(batch)
    layout = batch.layout
    per_episode = result.advantages[layout.order][layout.ep_start]
    sums = np.bincount(layout.ep_group, weights=per_episode, minlength=layout.n_groups)
    degenerate = set(result.diagnostics["pools"]["episode"].degenerate_group_ids.tolist())
    for code, group_id in enumerate(layout.group_ids.tolist()):
        if group_id not in degenerate:
            assert abs(sums[code]) < 1e-9
        else:
            assert np.all(per_episode[layout.ep_group == code] == 0.0)


@SETTINGS
@given(batches(), st.floats(0.0, 1.0), st.floats(-2.0, 2.0))
def test_gigpo_with_distinct_anchors_equals_grpo(data, gamma, omega):
    data["anchors"] = [f"state-{i}" for i in range(len(data["rewards"]))]
    batch = TurnBatch(**data)
    gigpo = gigpo_advantages(batch, gamma=gamma, omega=omega)
    np.testing.assert_array_equal(gigpo.advantages, grpo_advantages(batch).advantages)
    assert gigpo.diagnostics["anchor_group_sizes"] == {1: batch.n_turns}
