"""The trainer learns: a tiny random model goes from chance to > 0.9 success on TwoDoors.

This proves the gradient's sign and the masking (only the policy's tokens are
trained, each with its own turn's advantage); it is not a benchmark.
"""

import pytest

from tests.training.tiny import TwoDoorsEnv, tiny_policy
from turngym.trainers.config import from_dict
from turngym.trainers.loop import Trainer


def learning_config(tmp_path, estimator, **extra):
    data = {
        "seed": 1,
        "output_dir": str(tmp_path / estimator),
        "env": {"id": "turngym/GuessNumber-v0"},  # replaced by the factory below
        "model": {"lora": None},
        "rollout": {"group_size": 8, "groups_per_step": 4, "max_new_tokens": 3, "temperature": 1.0},
        "algorithm": {"estimator": estimator, **extra},
        "optim": {"lr": 0.005, "minibatch_episodes": 32, "micro_batch_episodes": 32},
        "train": {"steps": 120, "checkpoint_every": 0, "progress": False, "save_trajectories": False},
    }
    return from_dict(data)


@pytest.mark.parametrize("estimator", ["grpo", "gigpo"])
def test_tiny_model_learns_two_doors(tmp_path, estimator):
    config = learning_config(tmp_path, estimator)
    trainer = Trainer(config, policy=tiny_policy(seed=0), env_factory=lambda: TwoDoorsEnv())
    first = trainer.train_step().metrics
    assert first["success_rate"] < 0.3  # chance: two words out of a dozen
    best = 0.0
    while trainer.step < config.train.steps and best <= 0.9:
        best = max(best, trainer.train_step().metrics["success_rate"])
    assert best > 0.9, f"{estimator} reached only {best:.2f} success in {trainer.step} steps"
