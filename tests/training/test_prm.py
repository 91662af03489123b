"""Implicit process rewards trained online (PRIME, OPRL): they learn which step was good, reach the
estimator through the trainer, and are checkpointed and resumed with everything else."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch

from tests.training.tiny import tiny_policy
from tests.verifiers.conftest import completion, judge_server  # noqa: F401  (a fixture, used by name)
from turngym.core import ActionError, ParsedCall, Transition, TurnEnv
from turngym.core.messages import Message, user
from turngym.trainers.batching import trainable
from turngym.trainers.checkpoint import latest_checkpoint
from turngym.trainers.config import ConfigError, from_dict
from turngym.trainers.loop import Trainer
from turngym.trainers.metrics import read_metrics
from turngym.trainers.prm import dpo_loss, preference_pairs, prime_loss
from turngym.verifiers.llm_judge import JudgeWarning


class KeyTurnEnv(TurnEnv):
    """Two turns; the episode succeeds (outcome 1) when the FIRST turn says ``left`` anywhere.

    The second turn never matters, so the good step is known: turn 0 containing ``left``.
    """

    signal_names = ("said_left",)
    default_action_formats = ("tagged",)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_turns", 2)
        super().__init__(**kwargs)
        self._won = False

    def _reset_task(self, options: Mapping[str, Any]) -> tuple[str, list[Message]]:
        self._won = False
        return "key", [user("pick")]

    def _parse(self, action: Any) -> list[ParsedCall] | ActionError:
        text = action if isinstance(action, str) else str(action.get("content") or "")
        return [ParsedCall("say", {"text": text})]

    def _apply(self, calls: list[ParsedCall]) -> Transition:
        said = "left" in calls[0].arguments["text"]
        if self.turn == 1:
            self._won = said
        last = self.turn == 2
        return Transition([user("ok")], {"said_left": float(said)}, terminated=last,
                          outcome=float(self._won) if last else None)

    def _anchor(self) -> str:
        return f"turn{self.turn}"

    def oracle_action(self) -> str:
        return "left"


def config(tmp_path, name, kind="prime", **extra):
    data = {
        "seed": 2,
        "output_dir": str(tmp_path / name),
        "env": {"id": "turngym/GuessNumber-v0"},  # replaced by the factory
        "model": {"lora": None},
        "rollout": {"group_size": 8, "groups_per_step": 4, "max_new_tokens": 3},
        "algorithm": {"estimator": "grpo"},
        "optim": {"lr": 0.001, "minibatch_episodes": 32, "micro_batch_episodes": 32},
        "train": {"steps": 2, "checkpoint_every": 0, "progress": False, "save_trajectories": False},
        "process_reward": {"kind": kind, "beta": 1.0, "lr": 0.003},
    }
    for key, value in extra.items():
        data.setdefault(key, {}).update(value) if isinstance(value, dict) else data.__setitem__(key, value)
    return from_dict(data)


def make(cfg, env=KeyTurnEnv):
    return Trainer(cfg, policy=tiny_policy(seed=0), env_factory=lambda: env())


def ranking(trainer, records):
    """Mean process reward of turn 0 with ``left``, turn 0 without, and turn 1 (of every episode)."""
    rewards = trainer.prm.turn_rewards(records)
    good = [r[0] for rec, r in zip(records, rewards) if "left" in rec.turns[0].action_text]
    bad = [r[0] for rec, r in zip(records, rewards) if "left" not in rec.turns[0].action_text]
    later = [r[1] for r in rewards]
    assert good and bad, "the sample needs both kinds of first turn"
    return float(np.mean(good)), float(np.mean(bad)), float(np.mean(later))


@pytest.mark.parametrize("kind", ["prime", "oprl"])
def test_implicit_prm_learns_online_to_rank_the_good_step_first(tmp_path, kind):
    trainer = make(config(tmp_path, kind, kind))
    held_out = trainable(trainer.collect()) + trainable(trainer.collect())
    good, bad, later = ranking(trainer, held_out)
    assert good == bad == later == 0.0  # untrained: the PRM is its reference, every reward is 0
    for _ in range(6):  # online: fresh episodes each update, labelled by outcome only
        trainer.prm.update(trainable(trainer.collect()))
    good, bad, later = ranking(trainer, held_out)
    assert good > bad + 0.5 and good > later + 0.5, (kind, good, bad, later)


def test_dpo_loss_matches_hand_computed_values():
    # pair 1: log-ratios 1.0 vs -0.5, beta 0.5 -> -log sigmoid(0.75); pair 2: 0.2 vs 0.6 -> -log sigmoid(-0.2)
    chosen, rejected = torch.tensor([1.0, 0.2]), torch.tensor([-0.5, 0.6])
    by_hand = (math.log(1 + math.exp(-0.75)) + math.log(1 + math.exp(0.2))) / 2
    assert float(dpo_loss(chosen, rejected, beta=0.5)) == pytest.approx(by_hand, rel=1e-6)
    assert by_hand == pytest.approx((0.3869 + 0.7981) / 2, abs=1e-4)  # log(1.4724), log(2.2214)
    assert float(dpo_loss(torch.tensor([3.0]), torch.tensor([3.0]), beta=2.0)) == pytest.approx(math.log(2))


def test_prime_loss_matches_hand_computed_values():
    # logits beta * ratio = 0.4 (label 1) and -1.0 (label 0): mean of log(1+e^-0.4) and log(1+e^-1)
    by_hand = (math.log(1 + math.exp(-0.4)) + math.log(1 + math.exp(-1.0))) / 2
    loss = prime_loss(torch.tensor([0.8, -2.0]), torch.tensor([1.0, 0.0]), beta=0.5)
    assert float(loss) == pytest.approx(by_hand, rel=1e-6)


def test_preference_pairs_rank_within_a_group_only(tmp_path):
    trainer = make(config(tmp_path, "pairs", "oprl", rollout={"group_size": 4, "groups_per_step": 2}))
    records = trainable(trainer.collect())
    pairs = preference_pairs(records)
    for better, worse in pairs:
        assert records[better].group_id == records[worse].group_id
        assert records[better].outcome > records[worse].outcome
    expected = sum(
        1 for i, a in enumerate(records) for b in records[i + 1:]
        if a.group_id == b.group_id and a.outcome != b.outcome
    )
    assert len(pairs) == expected


@pytest.mark.parametrize(("kind", "combine", "estimator"), [
    ("prime", "add", {"estimator": "grpo"}),
    ("oprl", "nonfinal", {"estimator": "mt_grpo", "params": {"episode_term": "outcome"}}),
])
def test_process_rewards_reach_the_estimator(tmp_path, monkeypatch, kind, combine, estimator):
    cfg = config(tmp_path, kind, kind, algorithm=estimator,
                 process_reward={"combine": combine, "weight": 2.0})
    trainer = make(cfg)
    seen = []
    real = Trainer.advantages

    def spy(self, batch):
        seen.append(batch)
        return real(self, batch)

    monkeypatch.setattr(Trainer, "advantages", spy)
    results = [trainer.train_step(), trainer.train_step()]
    assert results[0].metrics["prm_examples"] > 0 and "prm_loss" in results[1].metrics
    batch, records = seen[-1], trainable(results[-1].records)
    env_rewards = np.array([t.reward for r in records for t in r.turns])
    process = np.array([t.info["process_reward"] for r in records for t in r.turns])
    assert np.abs(process).max() > 0  # the PRM moved in step 1, so step 2's rewards are not all 0
    last = np.array([t.index == len(r.turns) - 1 for r in records for t in r.turns])
    expected = env_rewards + 2.0 * process * (~last if combine == "nonfinal" else 1)
    np.testing.assert_allclose(batch.rewards, expected)
    assert results[1].metrics["process_reward_std"] > 0


def test_prm_is_checkpointed_and_resumed(tmp_path, monkeypatch):
    monkeypatch.setattr("turngym.trainers.loop.plot_curves", lambda *a: None)  # slow; tested elsewhere

    def cfg(name):
        return config(tmp_path, name, "prime", rollout={"group_size": 4, "groups_per_step": 2},
                      train={"steps": 2, "checkpoint_every": 1})

    straight = make(cfg("straight"))
    straight.run()
    first = make(cfg("resumed"))
    real = Trainer.update
    calls = {"n": 0}

    def dies_in_step_two(self, tensors):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-step")
        return real(self, tensors)

    monkeypatch.setattr(Trainer, "update", dies_in_step_two)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    monkeypatch.setattr(Trainer, "update", real)
    checkpoint = latest_checkpoint(tmp_path / "resumed" / "checkpoints")
    assert checkpoint.name == "step-00000001" and (checkpoint / "prm.pt").is_file()
    second = make(cfg("resumed"))
    second.run()
    for (name, a), (_, b) in zip(straight.prm.model.named_parameters(), second.prm.model.named_parameters()):
        assert torch.equal(a, b), name
    for (name, a), (_, b) in zip(straight.policy.model.named_parameters(),
                                 second.policy.model.named_parameters()):
        assert torch.equal(a, b), name

    def comparable(rows):
        return [{k: v for k, v in r.items() if not k.startswith("seconds")} for r in rows]

    assert comparable(read_metrics(tmp_path / "resumed" / "metrics.jsonl")) == comparable(
        read_metrics(tmp_path / "straight" / "metrics.jsonl"))


def test_a_checkpoint_without_the_prm_is_refused(tmp_path):
    plain = make(config(tmp_path, "plain", "none", rollout={"group_size": 2, "groups_per_step": 1}))
    plain.train_step()
    plain.save()
    plain.close()
    with pytest.raises(ConfigError, match="prm.pt"):
        make(config(tmp_path, "plain", "prime", train={"steps": 2, "checkpoint_every": 1}))


def test_bad_process_reward_settings_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="process_reward.kind.*none, prime, oprl"):
        config(tmp_path, "x", "ppo")
    with pytest.raises(ConfigError, match="process_reward.beta"):
        config(tmp_path, "x", process_reward={"beta": 0.0})
    with pytest.raises(ConfigError, match="process_reward.combine"):
        config(tmp_path, "x", process_reward={"combine": "mean"})
    with pytest.raises(ConfigError, match="oprl learns from pairs.*group_size must be >= 2"):
        config(tmp_path, "x", "oprl", rollout={"group_size": 1})


def test_scoring_before_the_update_uses_the_prm_of_the_previous_step(tmp_path):
    first = make(config(tmp_path, "before", "prime", process_reward={"score_before_update": True}))
    result = first.train_step()
    assert result.metrics["prm_examples"] > 0 and result.metrics["process_reward_std"] == 0.0  # untrained
    after = make(config(tmp_path, "after", "prime"))
    assert after.train_step().metrics["process_reward_std"] > 0.0


def test_a_rubric_in_the_config_reaches_the_estimator_and_a_failing_judge_crashes_nothing(
        tmp_path, monkeypatch, judge_server):  # noqa: F811  (the fixture imported above)
    def answer(body):  # the judge answers for turns that said "left" and fails (HTTP 500) otherwise
        turn = body["messages"][1]["content"].split("TURN TO JUDGE (assistant):\n", 1)[1].split("\n\n")[0]
        return (200, completion('{"reasoning": "said it", "score": 10}'), 0) if "left" in turn else (
            500, {"error": "judge down"}, 0)

    judge_server.default = answer
    judge = {"rubric": "Did it say left?", "model": "judge", "base_url": judge_server.url, "max_retries": 0,
             "timeout_s": 5}
    rubric = [[0.5, "signal", {"signal": "said_left"}], [2.0, "llm_judge", judge]]
    cfg = config(tmp_path, "rubric", "none", process_reward={"rubric": rubric},
                 rollout={"group_size": 4, "groups_per_step": 2})
    trainer = make(cfg)
    seen = []
    real = Trainer.advantages
    monkeypatch.setattr(Trainer, "advantages", lambda self, batch: seen.append(batch) or real(self, batch))
    with pytest.warns(JudgeWarning):
        result = trainer.train_step()
    records = trainable(result.records)
    said = np.array([float("left" in t.action_text) for r in records for t in r.turns])
    env_rewards = np.array([t.reward for r in records for t in r.turns])
    np.testing.assert_allclose(seen[0].rewards, env_rewards + 0.5 * said + 2.0 * said)
    assert result.metrics["rubric_missing"] == int((said == 0).sum())  # every failed judgement is listed
    kept = [t.info["rubric"]["judgements"]["llm_judge"] for r in records for t in r.turns]
    assert all((k["score"] is None) == (s == 0) for k, s in zip(kept, said))


def test_bad_rubric_settings_are_refused_before_any_model_loads(tmp_path):
    cfg = config(tmp_path, "bad", "none", process_reward={"rubric": [[1.0, "llm_judge", {"rubric": "x"}]]})
    with pytest.raises(ConfigError, match=r"process_reward.rubric\[0\]: needs 'model'"):
        Trainer(cfg, policy=None, env_factory=lambda: KeyTurnEnv())


def test_with_lora_the_prm_is_the_base_with_its_own_adapter(tmp_path):
    lora = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    policy = tiny_policy(seed=0).add_lora(**lora)
    cfg = config(tmp_path, "lora", "prime", model={"lora": lora})
    trainer = Trainer(cfg, policy=policy, env_factory=lambda: KeyTurnEnv())
    prm = trainer.prm
    assert prm.reference is None and prm.model is not policy.model  # reference: adapter disabled
    assert {n for n, p in prm.model.named_parameters() if p.requires_grad} == {
        n for n, p in policy.model.named_parameters() if p.requires_grad}  # only its adapter trains
    frozen = {n: p.detach().clone() for n, p in prm.model.named_parameters() if not p.requires_grad}
    policy_before = {n: p.detach().clone() for n, p in policy.model.named_parameters()}
    records = trainable(trainer.collect())
    assert all(v == 0.0 for per in prm.turn_rewards(records) for v in per)
    for _ in range(2):  # LoRA's B starts at 0: the first step moves B only, the log-ratio stays 0 until then
        assert prm.update(records).examples == len(records)
    assert any(v != 0.0 for per in prm.turn_rewards(records) for v in per)
    assert all(torch.equal(p, frozen[n]) for n, p in prm.model.named_parameters() if not p.requires_grad)
    assert all(torch.equal(p, policy_before[n]) for n, p in policy.model.named_parameters())


def save_model(path, seed, hidden, extra_word=None):
    policy = tiny_policy(seed=seed, hidden=hidden)
    if extra_word:
        policy.tokenizer.add_tokens([extra_word])
    policy.model.save_pretrained(path)
    policy.tokenizer.save_pretrained(path)
    return path


def test_the_prm_can_be_another_local_model_with_the_policys_tokenizer(tmp_path):
    other = save_model(tmp_path / "prm-model", seed=5, hidden=32)
    cfg = config(tmp_path, "other", "oprl", process_reward={"model": str(other)},
                 rollout={"group_size": 4, "groups_per_step": 2})
    trainer = make(cfg)
    assert trainer.prm.model.config.hidden_size == 32 and trainer.policy.model.config.hidden_size == 64
    assert "prm_loss" in trainer.train_step().metrics

    mismatched = save_model(tmp_path / "other-vocab", seed=5, hidden=32, extra_word="zebra")
    with pytest.raises(ConfigError, match="another tokenizer than the policy"):
        make(config(tmp_path, "mismatch", "prime", process_reward={"model": str(mismatched)}))
    with pytest.raises(ConfigError, match="process_reward.model: cannot load"):
        make(config(tmp_path, "missing", "prime", process_reward={"model": str(tmp_path / "nowhere")}))
