"""Tree credit (TEMPO, TreePS-RAG step values) against hand-computed values, and SIOP's turn rewards."""

from __future__ import annotations

import math

import numpy as np
import pytest

from turngym.trainers.advantages import TurnBatch, estimate
from turngym.trainers.advantages.tree import tempo_advantages, tree_step_advantages, tree_values

# root -> A, B;  A -> A0 (R=1), A1 (R=0);  B -> B0 (R=1).  Three paths, rows given shuffled.
ROWS = [  # (episode, turn, node, reward)
    (3, 1, "B0", 1.0), (1, 0, "A", 0.0), (2, 1, "A1", 0.0),
    (1, 1, "A0", 1.0), (3, 0, "B", 0.0), (2, 0, "A", 0.0),
]


def _batch(rows=ROWS):
    episodes, turns, nodes, rewards = zip(*[(e, t, n, r) for e, t, n, r in rows])
    return TurnBatch(["g"] * len(rows), episodes, turns, rewards), list(nodes)


def test_node_values_are_the_mean_outcome_of_descendants():
    batch, nodes = _batch()
    values = tree_values(batch, nodes)
    by_node = dict(zip(nodes, values["value"].tolist()))
    assert by_node == {"A": 0.5, "B": 1.0, "A0": 1.0, "A1": 0.0, "B0": 1.0}
    parent = dict(zip(nodes, values["parent_value"].tolist()))
    assert parent["A"] == parent["B"] == pytest.approx(2 / 3)  # the root: the group mean
    assert parent["A0"] == parent["A1"] == 0.5 and parent["B0"] == 1.0
    branches = dict(zip(nodes, values["branches"].tolist()))
    assert branches == {"A": 2, "B": 2, "A0": 2, "A1": 2, "B0": 1}
    assert dict(zip(nodes, values["visits"].tolist())) == {"A": 2, "B": 1, "A0": 1, "A1": 1, "B0": 1}


def test_step_advantages_by_path_and_by_siblings():
    batch, nodes = _batch()
    path = dict(zip(nodes, tree_step_advantages(batch, node_ids=nodes, mode="path").advantages.tolist()))
    assert path == pytest.approx({"A": 0.5 - 2 / 3, "B": 1 - 2 / 3, "A0": 0.5, "A1": -0.5, "B0": 0.0})
    sib = dict(zip(nodes, tree_step_advantages(batch, node_ids=nodes, mode="sibling").advantages.tolist()))
    assert sib == pytest.approx({"A": -0.25, "B": 0.25, "A0": 0.5, "A1": -0.5, "B0": 0.0})


def test_tempo_is_grpo_plus_the_branch_gated_td_term():
    batch, nodes = _batch()
    grpo = estimate("grpo", batch).advantages
    tempo = tempo_advantages(batch, node_ids=nodes).advantages
    std = math.sqrt(1 / 3)  # sample std of the returns (1, 0, 1)
    episode_adv = {e: (r - 2 / 3) / (std + 1e-6) for e, r in {1: 1.0, 2: 0.0, 3: 1.0}.items()}
    td = {"A": -1 / 6, "B": 1 / 3, "A0": 0.5, "A1": -0.5, "B0": 0.0}  # B0: its parent does not branch
    expected = [episode_adv[e] + td[n] for (e, _, n, _) in ROWS]
    assert tempo.tolist() == pytest.approx(expected)
    assert np.array_equal(tempo_advantages(batch, node_ids=nodes, td_weight=0.0).advantages, grpo)
    scaled = tempo_advantages(batch, node_ids=nodes, td_norm="std").advantages
    assert scaled.tolist() == pytest.approx([episode_adv[e] + td[n] / (std + 1e-6) for (e, _, n, _) in ROWS])


def test_flat_group_gets_credit_only_at_the_root_split():
    """Without shared turns the only branch point is the root: TD = R_i - mean at turn 0, 0 after."""
    rows = [(1, 0, "a0", 0.0), (1, 1, "a1", 1.0), (2, 0, "b0", 0.0), (2, 1, "b1", 0.0)]
    batch, nodes = _batch(rows)
    td = tempo_advantages(batch, node_ids=nodes).advantages - estimate("grpo", batch).advantages
    assert td.tolist() == pytest.approx([0.5, 0.0, -0.5, 0.0])


def test_bad_node_ids_are_clear_errors():
    batch, nodes = _batch()
    with pytest.raises(ValueError, match="one per turn"):
        tempo_advantages(batch, node_ids=nodes[:-1])
    with pytest.raises(ValueError, match="two parents"):
        tree_values(batch, [n if n != "A1" else "B0" for n in nodes])
    with pytest.raises(ValueError, match="mode must be one of"):
        tree_step_advantages(batch, node_ids=nodes, mode="uncle")


def test_slate_benchmark_measures_a_variance_reduction_close_to_t():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "slate_variance.py"
    spec = importlib.util.spec_from_file_location("slate_variance", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.measure(trials=3000, k=4, p=0.5, horizons=[1, 4], seed=1)["rows"]
    assert rows[0]["variance_ratio"] == pytest.approx(1.0, abs=0.15)
    assert rows[1]["variance_ratio"] == pytest.approx(4.0, rel=0.15)
    assert rows[1]["mse_ratio"] > 4.0


# ----- SIOP ----------------------------------------------------------------------------------


def test_outcome_modes_and_the_reliability_aware_target():
    from turngym.verifiers.outcome_modes import cluster_answers, outcome_modes, siop_turn_rewards

    assert cluster_answers(["Paris", "paris!", "", "Lyon", None]) == [0, 0, None, 1, None]
    assert cluster_answers(["new york city", "york new city", "boston"], similarity=0.9) == [0, 0, 1]
    modes = outcome_modes(["Paris", "Paris", "Paris", "Lyon"], reliability=[0.0, 0.0, 0.0, 1.0], eta=2.0)
    m = np.array([0.75, 0.25])
    q = m * np.exp(2.0 * np.array([0.0, 1.0]))
    assert modes.frequency.tolist() == m.tolist()
    assert modes.target.tolist() == pytest.approx((q / q.sum()).tolist())
    assert modes.representatives == ("Paris", "Lyon") and modes.target_of(3) == pytest.approx(q[1] / q.sum())
    rewards = siop_turn_rewards(np.log([0.2, 0.1, 0.4]), 0.6, lam=0.5)
    assert rewards.tolist() == pytest.approx([0.6 * math.log(0.5), 0.6 * math.log(4) + 0.5 * 0.6])
    with pytest.raises(ValueError, match="similarity"):
        cluster_answers(["x"], similarity=0.0)
    with pytest.raises(ValueError, match="labels must be 0..C-1"):
        outcome_modes(["x", "y"], labels=[0, 2])


def test_siop_rewards_score_each_episode_against_its_own_cluster(request):
    import torch

    from tests.training.tiny import TwoDoorsEnv, tiny_policy
    from turngym.agents.policy import SamplingParams
    from turngym.rollout import collect
    from turngym.rollout.records import with_probe_answers
    from turngym.trainers.advantages.siop import siop_advantages
    from turngym.trainers.siop import siop_rewards
    from turngym.verifiers.info_gain import BeliefGainScorer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: OpenMP threads contending on a small shared box are slower
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    policy = tiny_policy(seed=0)
    records = collect(lambda: TwoDoorsEnv(probe=True), policy, [0], group_size=4,
                      sampling=SamplingParams(max_new_tokens=3, seed=5), progress=False)
    answers = dict(zip([r.episode_id for r in records], ["up", "up", "down", None]))
    scorer = BeliefGainScorer(policy.model, policy.tokenizer)
    rewards, modes = siop_rewards(scorer, records, answer_of=lambda r: answers[r.episode_id])
    group = modes[records[0].group_id]
    assert group.labels == (0, 0, 1, None) and group.target.tolist() == pytest.approx([2 / 3, 1 / 3])
    for record, r in zip(records, rewards):
        answer = answers[record.episode_id]
        if answer is None:
            assert r.tolist() == [0.0] * len(record.turns)
            continue
        logp = scorer.score(with_probe_answers(record, [answer])).logp
        q = 2 / 3 if answer == "up" else 1 / 3
        expected = q * np.diff(np.log(np.exp(logp) + 1e-8))
        expected[-1] += 0.5 * q
        assert r.tolist() == pytest.approx(expected.tolist())
        assert not np.allclose(logp, scorer.score(record).logp)  # the cluster's answer, not the gold one
    rows = [(rec.episode_id, t, float(x)) for rec, r in zip(records, rewards) for t, x in enumerate(r)]
    batch = TurnBatch(["g"] * len(rows), *zip(*rows))
    flat = np.array([x for *_, x in rows])
    z = (flat - flat.mean()) / (flat.std(ddof=1) + 1e-6)
    adv = siop_advantages(batch).advantages
    start = 0
    for r in rewards:  # A_t = sum of z from t to the episode's end
        n = len(r)
        expected = np.cumsum(z[start:start + n][::-1])[::-1]
        assert adv[start:start + n].tolist() == pytest.approx(expected.tolist())
        start += n


def test_module_examples_run():
    import doctest

    import turngym.trainers.advantages.siop
    import turngym.trainers.advantages.tree
    import turngym.verifiers.outcome_modes

    for module in (turngym.trainers.advantages.tree, turngym.trainers.advantages.siop,
                   turngym.verifiers.outcome_modes):
        assert doctest.testmod(module).failed == 0
