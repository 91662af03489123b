"""The full 100,000-product catalogue (slow: it is built once, about a minute on two cores)."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from turngym.agents.scripted import RandomAgent
from turngym.rollout import play_episode

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def full():
    return gym.make("turngym/WebShop-v0", split="test")


def test_full_catalogue_passes_check_env(full):
    inner = full.unwrapped
    assert len(inner.catalogue) == 100_000 and len(inner.goals) == 12_087
    check_env(inner)


def test_oracle_scores_one_on_every_goal_of_the_test_split(full):
    inner = full.unwrapped
    failures = []
    for task in range(500):
        full.reset(options={"task_id": task})
        while True:
            _, reward, terminated, truncated, info = full.step(inner.oracle_action())
            if terminated or truncated:
                break
        if not (terminated and reward == 1.0):
            failures.append((task, info.get("outcome"), inner.goal.instruction_text))
    assert failures == []


def test_random_agent_far_below_the_oracle_on_the_full_catalogue(full):
    outcomes = [play_episode(full, RandomAgent(seed=s), seed=s).outcome or 0.0 for s in range(100)]
    assert np.mean(outcomes) < 0.05
