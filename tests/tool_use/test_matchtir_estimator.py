"""The 'matchtir' estimator: hand-computed values and a batch made from ToolUse episodes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from turngym.envs.tool_use.env import ToolUseEnv
from turngym.trainers.advantages import TurnBatch, estimate


def test_dual_level_advantage_by_hand():
    # group g1: A = [1, 0.5], B = [0, 0]; group g2: a single episode (degenerate pools: 0).
    batch = TurnBatch.from_groups([[[1.0, 0.5], [0.0, 0.0]], [[2.0]]])
    result = estimate("matchtir", batch, gamma=0.5, weight=0.25)
    # returns 1.5 vs 0: +-0.7071 (sample std); turn 0 returns-to-go 1.25 vs 0: +-0.7071;
    # turn 1: 0.5 vs 0: +-0.7071. A = 0.25 * traj + 0.75 * turn.
    s = 1 / np.sqrt(2)
    assert result.advantages.tolist() == pytest.approx([s, s, -s, -s, 0.0], abs=1e-5)
    assert estimate("matchtir", batch, weight=1.0).advantages.tolist() == pytest.approx(
        estimate("grpo", batch).advantages.tolist())
    with pytest.raises(ValueError, match="weight"):
        estimate("matchtir", batch, weight=1.5)


def test_estimator_runs_on_episodes_rewarded_by_match_reward():
    env = ToolUseEnv("generated", level="medium", n_tasks=4, reward_weights={"match_reward": 1.0})
    groups, episodes, turns, rewards = [], [], [], []
    rng = np.random.default_rng(0)
    for episode in range(6):
        env.reset(options={"task_id": "gen-medium-train-2"})
        done, t = False, 0
        while not done:
            action = env.oracle_action()
            if rng.random() < 0.3 and not isinstance(action, str):  # sometimes a wrong value
                call = action["tool_calls"][0]["function"]
                args = json.loads(call["arguments"])
                key = next(iter(args), None)
                if key is not None:
                    args[key] = "wrong"
                    call["arguments"] = json.dumps(args)
            _, reward, terminated, truncated, _ = env.step(action)
            groups.append("gen-medium-train-2")
            episodes.append(episode)
            turns.append(t)
            rewards.append(reward)
            t += 1
            done = terminated or truncated
    result = estimate("matchtir", TurnBatch(groups, episodes, turns, rewards))
    assert np.isfinite(result.advantages).all() and result.advantages.shape == (len(rewards),)
    assert np.ptp(rewards) > 0 and np.abs(result.advantages).max() > 0
