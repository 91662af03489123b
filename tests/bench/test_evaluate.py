"""Scripted agents, episode recording and the evaluation summary."""

import gymnasium as gym
import numpy as np

from turngym.agents.scripted import OracleAgent, RandomAgent
from turngym.bench.evaluate import bootstrap_ci, evaluate
from turngym.core.trajectory import read_episodes
from turngym.rollout import play_episodes

ENV_ID = "turngym/GuessNumber-v0"


def test_oracle_solves_every_task_with_full_marks(tmp_path):
    records, summary = evaluate(ENV_ID, OracleAgent(), episodes=16, out=tmp_path / "o.jsonl")
    assert summary.mean_outcome == 1.0 and summary.success_rate == 1.0 and summary.failed == 0
    assert summary.mean_turns <= 5  # binary search over 16 numbers
    assert read_episodes(tmp_path / "o.jsonl") == records


def test_random_agent_is_a_low_but_valid_baseline():
    _, summary = evaluate(ENV_ID, RandomAgent(seed=1), episodes=30, env_kwargs={"high": 1000})
    assert summary.mean_valid_action == 1.0
    assert summary.mean_outcome < 0.2


def test_random_agent_is_repeatable_with_a_seed():
    first = play_episodes(ENV_ID, RandomAgent(), [4], progress=False)[0]
    second = play_episodes(ENV_ID, RandomAgent(), [4], progress=False)[0]
    assert [t.action_text for t in first.turns] == [t.action_text for t in second.turns]


def test_random_agent_uses_tool_calls_when_tags_are_not_accepted():
    make = lambda: gym.make(ENV_ID, action_formats=("tool_calls",))  # noqa: E731
    record = play_episodes(make, RandomAgent(seed=0), [0], progress=False)[0]
    assert record.status == "ok"
    assert record.turns[0].action_message["tool_calls"][0]["function"]["name"] == "guess"
    assert record.turns[0].signals["valid_action"] == 1.0


def test_a_failing_agent_fails_only_its_episode():
    class Broken:
        name = "broken"

        def reset(self, seed=None):
            self.calls = 0

        def act(self, history, env):
            self.calls += 1
            if self.calls == 2:
                raise ConnectionError("model went away")
            return "<guess>1</guess>"

    task = {"seed": 0, "options": {"task_id": "n-9"}}
    record = play_episodes(ENV_ID, Broken(), [task], progress=False)[0]
    assert record.status == "failed"
    assert "ConnectionError: model went away" in record.error
    assert len(record.turns) == 1  # the finished turn is kept


def test_bootstrap_interval_brackets_the_mean():
    values = np.random.default_rng(0).random(200)
    low, high = bootstrap_ci(values)
    assert low < values.mean() < high
    assert high - low < 0.2
    assert bootstrap_ci(np.array([0.5])) == (0.5, 0.5)
