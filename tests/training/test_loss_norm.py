"""``seq_mean_token_sum_norm`` divides by one constant for the whole run, from the config.

Neither the padded width of a micro-batch nor that of a step may set the loss
scale: the same episodes must give the same gradient however they are batched.
"""

import gymnasium as gym
import pytest
import torch

import turngym.trainers.loop as loop
from tests.training.tiny import TwoDoorsEnv, tiny_policy
from turngym.trainers.config import ConfigError, from_dict
from turngym.trainers.loop import Trainer
from turngym.trainers.preflight import loss_norm_tokens


def config(tmp_path, name, loss=None, optim=None):
    return from_dict({
        "seed": 1,  # a first step whose advantages are not all zero
        "output_dir": str(tmp_path / name),
        "env": {"id": "turngym/GuessNumber-v0"},
        "model": {"lora": None},
        "rollout": {"group_size": 4, "groups_per_step": 2, "max_new_tokens": 3},
        "loss": {"aggregation": "seq_mean_token_sum_norm", "kl_coef": 0.05, "entropy_coef": 0.01,
                 **(loss or {})},
        "optim": {"lr": 0.01, "minibatch_episodes": 8, "micro_batch_episodes": 8, "grad_clip": 0,
                  **(optim or {})},
        "train": {"steps": 2, "checkpoint_every": 0, "progress": False, "save_trajectories": False},
    })


def test_norm_is_the_generation_budget_or_the_configured_value(tmp_path):
    env = TwoDoorsEnv()  # two turns
    assert loss_norm_tokens(config(tmp_path, "a"), env) == 3 * 2
    assert loss_norm_tokens(config(tmp_path, "b", {"norm_tokens": 50}), env) == 50
    assert loss_norm_tokens(config(tmp_path, "c", {"aggregation": "token_mean"}), env) is None
    with pytest.raises(ConfigError, match="loss.norm_tokens: 0 must be > 0"):
        config(tmp_path, "d", {"norm_tokens": 0})
    with pytest.raises(ConfigError, match="set loss.norm_tokens"):
        loss_norm_tokens(config(tmp_path, "e"), gym.make("CartPole-v1"))


def test_every_micro_batch_of_every_step_gets_the_same_norm(tmp_path, monkeypatch):
    seen = []
    real = loop.ppo_loss

    def recording(*args, **kwargs):
        seen.append((kwargs["norm"], args[0].shape[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "ppo_loss", recording)
    cfg = config(tmp_path, "steps", optim={"micro_batch_episodes": 1})
    Trainer(cfg, policy=tiny_policy(seed=0), env_factory=lambda: TwoDoorsEnv()).run()
    assert {norm for norm, _ in seen} == {6.0}
    assert len({width for _, width in seen}) > 1  # the padded widths did vary


def first_update_gradients(tmp_path, name, micro):
    cfg = config(tmp_path, name, optim={"micro_batch_episodes": micro})
    trainer = Trainer(cfg, policy=tiny_policy(seed=0), env_factory=lambda: TwoDoorsEnv())
    grads = []

    def record_instead_of_step(*args, **kwargs):
        grads.append({n: p.grad.clone() for n, p in trainer.policy.model.named_parameters()})

    trainer.optimizer.step = record_instead_of_step
    trainer.train_step()
    return grads[0]


def test_same_episodes_same_gradient_in_one_or_many_micro_batches(tmp_path):
    whole = first_update_gradients(tmp_path, "one", 8)
    for micro in (1, 3):  # 8 single episodes; or 3 + 3 + 2, each padded to its own longest
        split = first_update_gradients(tmp_path, f"split{micro}", micro)
        for name, grad in whole.items():
            assert torch.allclose(split[name], grad, rtol=1e-4, atol=1e-7), name
    assert sum(float(g.abs().sum()) for g in whole.values()) > 1e-3
