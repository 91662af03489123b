"""A refused reset leaves a ``gymnasium.make`` env usable (issue #11, Broken 7)."""

import gymnasium as gym
import pytest

import turngym  # noqa: F401  (registers the ids)


@pytest.mark.parametrize("env_id, action", [
    ("turngym/SearchQA-Easy-v0", "<search>capital</search>"),
    ("turngym/CodeSandbox-MBPP-v0", "I will think first."),
])
def test_reset_with_an_unknown_task_id_then_reset_and_step_work(env_id, action):
    """Issue #11 Broken 7: after reset(options={"task_id": "nonexistent"}) raises, the next
    reset(seed=0) and step of a gymnasium.make env work (they failed in Gymnasium's passive checker)."""
    env = gym.make(env_id)
    with pytest.raises(ValueError, match="task_id"):
        env.reset(options={"task_id": "nonexistent"})
    observation, info = env.reset(seed=0)
    assert observation and info["turn"] == 0
    observation, reward, *_, info = env.step(action)
    assert info["turn"] == 1 and isinstance(reward, float)
    env.close()


def test_a_refused_reset_leaves_the_running_episode_as_it_was():
    """Issue #11 Broken 7: a refused reset changes no state: the episode in progress goes on."""
    env = gym.make("turngym/SearchQA-Easy-v0")
    _, info = env.reset(seed=1)
    env.step("<search>river</search>")
    before = env.unwrapped.get_state()
    with pytest.raises(ValueError, match="unknown task_id"):
        env.reset(options={"task_id": "nonexistent"})
    assert env.unwrapped.get_state() == before
    *_, info = env.step("<search>mountain</search>")
    assert info["turn"] == 2 and info["task_id"] == before["task_id"]


def test_a_refused_first_reset_leaves_no_episode_to_step():
    """Issue #11 Broken 7: a refused first reset does not start an episode (step asks for reset)."""
    env = gym.make("turngym/SearchQA-Easy-v0", disable_env_checker=True)
    with pytest.raises(ValueError):
        env.reset(options={"task_id": "nonexistent"})
    with pytest.raises(Exception, match="reset"):
        env.step("<search>x</search>")
