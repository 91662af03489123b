"""Tree rollouts in training: the registered tree estimators, node ids from the records, the
equal-token-cost budget, ``rollout.tree`` in the trainer and the study's tree arms.

Real components throughout: KeyRooms (the study's environment) restored by get_state/set_state,
the tiny word-level Llama of :mod:`tests.training.tiny`, the real trainer.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.tiny import tiny_policy
from turngym.agents.policy import SamplingParams
from turngym.core.trajectory import EpisodeRecord, TurnRecord
from turngym.rollout import collect
from turngym.rollout.branching import (
    EqualCostBudget,
    collect_trees,
    flat_episode_tokens,
    generated_tokens,
    grow_tree,
    path_weights,
    tree_node_ids,
    tree_turn_rows,
)
from turngym.rollout.metrics import episode_reward, episode_score, is_success, summary_metrics
from turngym.trainers.advantages import (
    TREE_ESTIMATORS,
    TurnBatch,
    estimate,
    estimator_params,
    list_estimators,
    tempo_advantages,
    tree_step_advantages,
)
from turngym.trainers.batching import turn_batch
from turngym.trainers.config import ConfigError, from_dict

STUDY = Path(__file__).resolve().parents[2] / "benchmarks" / "credit_assignment.py"
SAMPLING = SamplingParams(temperature=1.0, max_new_tokens=2, seed=3)


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("credit_assignment_tree", STUDY)
    module = importlib.util.module_from_spec(spec)
    sys.modules["credit_assignment_tree"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def policy():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tiny_policy(seed=0)
    torch.set_num_threads(before)


def make_env(study):
    return lambda: study.KeyRoomsEnv(rooms=3, reward_weights={"door_correct": 0.1})


# root -> A, B;  A -> A0 (R=1), A1 (R=0);  B -> B0 (R=1).  Rows shuffled.
ROWS = [  # (episode, turn, node, reward)
    (3, 1, "B0", 1.0), (1, 0, "A", 0.0), (2, 1, "A1", 0.0),
    (1, 1, "A0", 1.0), (3, 0, "B", 0.0), (2, 0, "A", 0.0),
]


def hand_tree(with_nodes: bool = True) -> tuple[TurnBatch, list[str]]:
    episodes, turns, nodes, rewards = zip(*ROWS)
    batch = TurnBatch(["g"] * 6, episodes, turns, rewards, node_ids=list(nodes) if with_nodes else None)
    return batch, list(nodes)


# ----- the registered estimators -------------------------------------------------------------


def test_tree_estimators_are_registered_and_equal_the_functions():
    assert set(TREE_ESTIMATORS) == {"tempo", "tree_step"} <= set(list_estimators())
    assert {"node_ids", "td_weight", "td_norm", "preset"} <= set(estimator_params("tempo"))
    batch, nodes = hand_tree()
    plain, _ = hand_tree(with_nodes=False)
    # Hand values (see tests/trainers/test_tree_credit.py): GRPO of returns (1, 0, 1) plus TD.
    std = np.sqrt(1 / 3)
    episode_adv = {e: (r - 2 / 3) / (std + 1e-6) for e, r in {1: 1.0, 2: 0.0, 3: 1.0}.items()}
    td = {"A": -1 / 6, "B": 1 / 3, "A0": 0.5, "A1": -0.5, "B0": 0.0}
    expected = [episode_adv[e] + td[n] for e, _, n, _ in ROWS]
    registered = estimate("tempo", batch).advantages
    np.testing.assert_allclose(registered, expected, rtol=1e-12)
    np.testing.assert_array_equal(registered, tempo_advantages(plain, node_ids=nodes).advantages)
    for params in ({"td_norm": "std"}, {"td_weight": 0.5}, {"preset": "paper"}):
        np.testing.assert_array_equal(estimate("tempo", batch, **params).advantages,
                                      tempo_advantages(plain, node_ids=nodes, **params).advantages)
    # the paper preset is td_norm="std"
    np.testing.assert_array_equal(estimate("tempo", batch, preset="paper").advantages,
                                  estimate("tempo", batch, td_norm="std").advantages)
    for mode, by_node in (("path", {"A": -1 / 6, "B": 1 / 3, "A0": 0.5, "A1": -0.5, "B0": 0.0}),
                          ("sibling", {"A": -0.25, "B": 0.25, "A0": 0.5, "A1": -0.5, "B0": 0.0})):
        registered = estimate("tree_step", batch, mode=mode).advantages
        np.testing.assert_allclose(registered, [by_node[n] for _, _, n, _ in ROWS], rtol=1e-12)
        direct = tree_step_advantages(plain, node_ids=nodes, mode=mode).advantages
        np.testing.assert_array_equal(registered, direct)
    # an explicit node_ids argument wins over the batch's
    unshared = ["C" if (e, t) == (2, 0) else n for e, t, n, _ in ROWS]  # episode 2 no longer shares A
    np.testing.assert_array_equal(estimate("tempo", batch, node_ids=unshared).advantages,
                                  tempo_advantages(plain, node_ids=unshared).advantages)
    assert not np.array_equal(estimate("tempo", batch, node_ids=unshared).advantages,
                              estimate("tempo", batch).advantages)


@pytest.mark.parametrize("name", TREE_ESTIMATORS)
def test_tree_estimators_without_node_ids_say_they_need_tree_rollouts(name):
    flat, _ = hand_tree(with_nodes=False)
    with pytest.raises(ValueError, match=rf"estimator '{name}' needs tree rollouts: .*rollout\.tree"):
        estimate(name, flat)


def test_node_ids_are_checked_like_other_ids():
    with pytest.raises(ValueError, match="same length"):
        TurnBatch([0, 0], [0, 0], [0, 1], [0.0, 1.0], node_ids=["a"])
    with pytest.raises(TypeError, match="node_ids must be hashable"):
        TurnBatch([0, 0], [0, 0], [0, 1], [0.0, 1.0], node_ids=[["a"], ["b"]])
    nested = TurnBatch.from_groups([[[0, 1], [0]]], node_ids=[[["a", "a0"], ["b"]]])
    assert nested.node_ids.tolist() == ["a", "a0", "b"]
    assert "node_ids" in repr(nested)


# ----- records -> batch, weights, budget -----------------------------------------------------


def test_turn_batch_takes_node_ids_from_tree_records(study, policy):
    records = collect_trees(make_env(study), policy, [0, 1], width=2, branch_depths=[0, 1], max_turns=6,
                            sampling=SAMPLING)
    batch = turn_batch(records)
    assert batch.node_ids.tolist() == [n for r in records for n in r.metadata["tree"]["node_ids"]]
    assert batch.node_ids.tolist() == [n.split("/", 1)[1] for n in tree_turn_rows(records)["node_ids"]]
    qualified = tree_turn_rows(records)["node_ids"]  # "group/node": the same tree
    np.testing.assert_array_equal(estimate("tempo", batch).advantages,
                                  tempo_advantages(batch, node_ids=qualified).advantages)
    flat = collect(make_env(study), policy, [0], group_size=2, sampling=SAMPLING, progress=False)
    assert turn_batch(flat).node_ids is None
    with pytest.raises(ValueError, match="tree and flat records in one batch"):
        turn_batch(records + flat)
    assert tree_node_ids(records[0]) == records[0].metadata["tree"]["node_ids"]
    assert tree_node_ids(flat[0]) is None


def test_tree_records_with_a_node_id_per_turn_missing_say_so(study, policy):
    records = collect_trees(make_env(study), policy, [0], width=2, branch_depths=[0], max_turns=6,
                            sampling=SAMPLING)
    broken = records[-1]
    short = dataclasses.replace(broken, metadata={**broken.metadata, "tree": {
        **broken.metadata["tree"], "node_ids": broken.metadata["tree"]["node_ids"][:-1]}})
    turns = len(broken.turns)
    message = rf"episode {broken.episode_id}: {turns - 1} tree node ids for {turns} turns; .*one per turn"
    with pytest.raises(ValueError, match=message) as error:
        turn_batch([*records[:-1], short])
    assert "tree and flat" not in str(error.value)
    with pytest.raises(ValueError, match=rf"{turns - 1} tree node ids for {turns} turns"):
        tree_turn_rows([*records[:-1], short])


def test_path_weights_are_the_chance_that_flat_sampling_follows_a_path(study, policy):
    # width 2 at depths 0 and 1: four paths of weight 1/4 each, when every node lives on
    tree = grow_tree(make_env(study), policy, 0, width=2, branch_depths=[0, 1], max_turns=6,
                     sampling=SAMPLING)
    records = tree.records()
    weights = path_weights(records)
    assert sum(weights) == pytest.approx(1.0)
    for record, weight in zip(records, weights):
        nodes = record.metadata["tree"]["node_ids"]
        expected = 1.0
        for parent in ["r", *nodes[:-1]]:
            expected /= sum(1 for n in tree.nodes() if n.parent is not None and n.parent.node_id == parent)
        assert weight == pytest.approx(expected)
    tokens = [sum(len(t.action_ids) for t in r.turns) for r in records]
    assert flat_episode_tokens(records) == pytest.approx(sum(w * t for w, t in zip(weights, tokens)))
    flat = collect(make_env(study), policy, [0], group_size=3, sampling=SAMPLING, progress=False)
    assert path_weights(flat) == [1.0, 1.0, 1.0]
    assert flat_episode_tokens(flat) == pytest.approx(generated_tokens(flat) / 3)


def hand_tree_records() -> list[EpisodeRecord]:
    """Two trees by hand. Tree g: root -> A, B; A -> A0 (outcome 1), A1 (0); B -> B0 (1): paths of
    weight 1/4, 1/4, 1/2. Tree h: root -> C (outcome 0.5, failed) and D (0): weights 1/2, 1/2."""

    def path(group, nodes, outcome, status="ok"):
        turns = [TurnRecord(index=i, action_text="a", reward=0.5 if i == len(nodes) - 1 else 0.25)
                 for i in range(len(nodes))]
        return EpisodeRecord(episode_id=f"{group}-{nodes[-1]}", env_id="e", task_id=group, group_id=group,
                             turns=turns, outcome=outcome, status=status,
                             metadata={"tree": {"node_ids": list(nodes), "root": "r"}})

    return [path("g", ["A", "A0"], 1.0), path("g", ["A", "A1"], 0.0), path("g", ["B", "B0"], 1.0),
            path("h", ["C"], 0.5, status="error"), path("h", ["D"], 0.0)]


def test_summary_metrics_of_tree_records_are_path_weighted():
    records = hand_tree_records()
    assert path_weights(records) == [0.25, 0.25, 0.5, 0.5, 0.5]
    metrics = summary_metrics(records)
    # outcomes (a failed path scores 0): 1, 0, 1 | 0, 0; rewards: 0.75, 0.75, 0.75 | 0, 0.5
    assert metrics["success_rate"] == pytest.approx((0.25 + 0.5) / 2)
    assert metrics["outcome_mean"] == pytest.approx((0.25 + 0.5) / 2)
    assert metrics["reward_mean"] == pytest.approx((0.75 * (0.25 + 0.25 + 0.5) + 0.5 * 0.5) / 2)
    assert metrics["success_rate_paths"] == pytest.approx(2 / 5)
    assert metrics["outcome_mean_paths"] == pytest.approx(2 / 5)
    assert metrics["reward_mean_paths"] == pytest.approx((3 * 0.75 + 0.5) / 5)
    assert metrics["episodes"] == 5 and metrics["failed_episodes"] == 1
    # flat records: plain means, no *_paths keys (a flat record's path weight is 1)
    flat = [dataclasses.replace(r, metadata={}) for r in records]
    plain = summary_metrics(flat)
    assert plain["success_rate"] == pytest.approx(2 / 5) and "success_rate_paths" not in plain


def test_trainer_logs_path_weighted_metrics_for_tree_runs(study, tmp_path):
    from turngym.trainers.loop import Trainer

    torch.set_num_threads(1)
    config = tree_config(tmp_path, tree={"width": 2, "max_turns": 6})
    with Trainer(config, policy=tiny_policy(seed=0), env_factory=make_env(study)) as trainer:
        trainer.train_step()  # a flat group per task (the equal-cost budget's first step)
        result = trainer.train_step()  # trees whose budget stops some branching
    records, metrics = result.records, result.metrics
    weights = path_weights(records)
    assert len(set(weights)) > 1  # an uneven tree: weighting matters
    for key, of in (("success_rate", lambda r: float(is_success(r))), ("outcome_mean", episode_score),
                    ("reward_mean", episode_reward)):
        values = [of(r) for r in records]
        assert metrics[key] == pytest.approx(np.dot(weights, values) / sum(weights))
        assert metrics[f"{key}_paths"] == pytest.approx(np.mean(values))


def test_equal_cost_budget_spends_what_a_flat_sampler_spends(study, policy):
    """Tolerance: over 6 steps of a fixed policy, the tree sampler's generated tokens are within 5% of
    its flat-equivalent target and within 10% of what flat groups of the same size actually cost."""
    budget = EqualCostBudget(8)
    assert budget.plan(2) == {"width": 8, "branch_depths": [0], "token_budget": None, "episode_tokens": None}
    tree_tokens = flat_tokens = 0
    paths = []
    for step in range(6):
        sampling = SAMPLING.with_seed(100 + step)
        tasks = [2 * step, 2 * step + 1]
        plan = budget.plan(2)
        records = collect_trees(make_env(study), policy, tasks, max_turns=6, sampling=sampling,
                                **{"width": 2, **plan})
        budget.update(records, 2)
        tree_tokens += generated_tokens(records)
        paths.append(len(records))
        flat = collect(make_env(study), policy, tasks, group_size=8, sampling=sampling, progress=False)
        flat_tokens += generated_tokens(flat)
    assert budget.spent_tokens == tree_tokens
    assert abs(tree_tokens / budget.target_tokens - 1) <= 0.05
    assert abs(tree_tokens / flat_tokens - 1) <= 0.10
    assert paths[0] == 16 and max(paths[1:]) > 16  # trees: more (shorter-shared) paths for the same tokens
    with pytest.raises(ValueError, match="episodes must be a positive int"):
        EqualCostBudget(0)


def test_equal_cost_budget_after_a_step_without_tokens_samples_a_flat_group(study, policy):
    # a policy that ends every turn at once (EOS first) samples no tokens: the estimate is 0 and
    # the next plan must not hand collect_trees episode_tokens=0 (it raised mid-training)
    budget = EqualCostBudget(4)
    sampling = SamplingParams(max_new_tokens=2, seed=1)
    records = collect_trees(make_env(study), policy, [0], max_turns=4, sampling=sampling,
                            **{"width": 2, **budget.plan(1)})
    empty = [dataclasses.replace(r, turns=[dataclasses.replace(t, action_ids=[], action_logprobs=[])
                                           for t in r.turns]) for r in records]
    budget.update(empty, 1)
    assert budget.estimate == 0.0 and budget.spent_tokens == 0
    plan = budget.plan(1)
    assert plan == {"width": 4, "branch_depths": [0], "token_budget": None, "episode_tokens": None}
    again = collect_trees(make_env(study), policy, [1], max_turns=4, sampling=sampling,
                          **{"width": 2, **plan})
    assert len(again) == 4
    budget.update(again, 1)
    assert budget.estimate > 0 and "token_budget" in budget.plan(1) and "width" not in budget.plan(1)


def test_equal_cost_budget_state_survives_json_exactly(study, policy):
    budget = EqualCostBudget(4)
    for step in range(2):
        records = collect_trees(make_env(study), policy, [step], max_turns=6,
                                sampling=SAMPLING.with_seed(step), **{"width": 2, **budget.plan(1)})
        budget.update(records, 1)
    restored = EqualCostBudget.from_state(json.loads(json.dumps(budget.state())))
    assert restored == budget and restored.plan(3) == budget.plan(3)
    assert EqualCostBudget.from_state(budget.state(), episodes=6).episodes == 6
    assert EqualCostBudget.from_state(EqualCostBudget(3).state()) == EqualCostBudget(3)
    with pytest.raises(ValueError, match="not an EqualCostBudget state"):
        EqualCostBudget.from_state({"episodes": 4})
    with pytest.raises(ValueError, match="estimate must be a number >= 0 or None"):
        EqualCostBudget.from_state({**budget.state(), "estimate": -1.0})


def test_grow_tree_projected_budget_covers_the_finishing(study, policy):
    loose = grow_tree(make_env(study), policy, 0, width=2, token_budget=40, max_turns=6, sampling=SAMPLING)
    tight = grow_tree(make_env(study), policy, 0, width=2, token_budget=40, episode_tokens=12.0, max_turns=6,
                      sampling=SAMPLING)
    assert tight.generated_tokens <= loose.generated_tokens
    assert tight.generated_tokens <= 40 + 12  # at most about one episode over
    with pytest.raises(ValueError, match="episode_tokens must be a positive number"):
        grow_tree(make_env(study), policy, 0, token_budget=10, episode_tokens=0)


# ----- the trainer ---------------------------------------------------------------------------


def tree_config(tmp_path, estimator="tempo", tree=None, **rollout):
    return from_dict({
        "seed": 0, "output_dir": str(tmp_path / estimator),
        "env": {"id": "turngym/GuessNumber-v0"},
        "model": {"lora": None},
        "rollout": {"group_size": 4, "groups_per_step": 2, "max_new_tokens": 2, "tree": tree, **rollout},
        "algorithm": {"estimator": estimator},
        "optim": {"lr": 0.005, "minibatch_episodes": 512, "micro_batch_episodes": 512},
        "train": {"steps": 3, "checkpoint_every": 0, "progress": False, "save_trajectories": False},
    })


def test_trainer_grows_trees_with_rollout_tree(study, tmp_path):
    from turngym.trainers.loop import Trainer

    torch.set_num_threads(1)
    config = tree_config(tmp_path, tree={"width": 2, "max_turns": 6})
    assert config.rollout.tree.token_budget == "flat"
    before = [p.detach().clone() for p in tiny_policy(seed=0).model.parameters()]
    with Trainer(config, policy=tiny_policy(seed=0), env_factory=make_env(study)) as trainer:
        results = [trainer.train_step() for _ in range(3)]
        after = list(trainer.policy.model.parameters())
    assert results[0].metrics["episodes"] == 8  # the first step: a flat group per task
    assert all("tree" in r.metadata for res in results for r in res.records)
    assert len(results[2].records) > 8  # later: trees, more paths for about the same tokens
    state = trainer.tree_budget.state()
    assert state["spent_tokens"] == sum(generated_tokens(r.records) for r in results)
    assert abs(state["spent_tokens"] / state["target_tokens"] - 1) < 0.15
    assert any(not torch.equal(a, b) for a, b in zip(after, before))  # the update ran
    assert all(not res.metrics.get("skipped") for res in results)


def test_tree_estimators_need_rollout_tree_in_the_config(study, tmp_path):
    from turngym.trainers.loop import Trainer

    for name in TREE_ESTIMATORS:
        with pytest.raises(ConfigError, match=rf"'{name}' needs tree rollouts .* set rollout.tree"):
            Trainer(tree_config(tmp_path, name), policy=tiny_policy(seed=0), env_factory=make_env(study))
    with pytest.raises(ConfigError, match="rollout.tree.token_budget: 'half' is not allowed"):
        tree_config(tmp_path, tree={"token_budget": "half"})
    with pytest.raises(ConfigError, match=r"rollout.tree.width: 0 is not allowed .*accepted: an int >= 2"):
        tree_config(tmp_path, tree={"width": 0})
    with pytest.raises(ConfigError, match="unknown key rollout.tree.widht"):
        tree_config(tmp_path, tree={"widht": 2})


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"width": 1}, r"rollout.tree.width: 1 is not allowed \(a tree of width 1 never branches\); "
                       r"accepted: an int >= 2: children of a branching node"),
        ({"width": -3}, r"rollout.tree.width: -3 is not allowed"),
        ({"branch_depths": []}, r"rollout.tree.branch_depths: \[\] never branches .*accepted: null \(branch "
                                r"at every depth\) or a list with at least one depth d, 0 <= d < max_turns"),
        ({"branch_depths": [6, 9], "max_turns": 6}, r"rollout.tree.branch_depths: \[6, 9\] never branches "
                                                    r"\(no depth below rollout.tree.max_turns = 6\)"),
        ({"branch_depths": [-1]}, r"rollout.tree.branch_depths: \[-1\] must be depths >= 0"),
    ],
)
def test_tree_shapes_that_never_branch_are_refused(tmp_path, tree, message):
    with pytest.raises(ConfigError, match=message):
        tree_config(tmp_path, tree=tree)


def test_tree_shapes_that_branch_are_accepted(tmp_path):
    assert tree_config(tmp_path, tree={"width": 2}).rollout.tree.width == 2
    late = tree_config(tmp_path, tree={"branch_depths": [0, 9], "max_turns": 6})
    assert late.rollout.tree.branch_depths == [0, 9]
    assert tree_config(tmp_path, tree={"branch_depths": None}).rollout.tree.branch_depths is None


# ----- the study -----------------------------------------------------------------------------


def test_a_tiny_study_with_tree_arms(study, tmp_path, capsys):
    out = tmp_path / "study"
    code = study.main(["--estimators", "grpo", "--tree-arms", "tempo", "--seeds", "1", "--steps", "3",
                       "--workers", "1", "--group-size", "4", "--out", str(out)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    saved = json.loads((out / "credit_assignment.json").read_text())
    assert set(saved["summary"]) == {"grpo", "tree+tempo"} == set(printed["summary"])
    tree, flat = saved["summary"]["tree+tempo"], saved["summary"]["grpo"]
    for row in (tree, flat):
        assert {"final_success_iqm", "auc_iqm", "steps_to_0.9_per_seed", "generated_tokens_per_seed",
                "final_outcome_iqm"} <= set(row)
    assert abs(tree["tokens_over_flat_equivalent"] - 1) < 0.2
    assert 0.7 < tree["generated_tokens_over_grpo"] < 1.3
    assert "flat_equivalent_tokens_per_seed" not in flat
    assert saved["versus_grpo"]["tree+tempo"].keys() >= {"final_success_iqm", "auc_iqm"}
    with pytest.raises(SystemExit):
        study.main(["--estimators", "tempo", "--seeds", "1", "--steps", "1"])  # a tree estimator, flat
