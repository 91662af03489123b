"""The starter level: the question's results are shown and a bare reply is taken as the answer."""

import gymnasium as gym
from gymnasium.utils.env_checker import check_env

import turngym  # noqa: F401  (registers the ids)


def test_starter_shows_results_and_scores_a_bare_answer():
    env = gym.make("turngym/SearchQA-Starter-v0")
    check_env(env.unwrapped)
    observation, info = env.reset(seed=0)
    inner = env.unwrapped
    assert "Results for" in observation[1]["content"]
    assert inner.task.gold_ids[0] in inner.retrieved_ids  # the shown results count as retrieved
    answer = inner.task.answers[0]
    _, reward, terminated, _, info = env.step(f"It is {answer}.")
    assert terminated and info["signals"]["valid_action"] == 1.0
    assert info["signals"]["format"] == 0.0  # no tag: accepted, but not the tagged format
    assert 0.5 <= reward < 1.0  # F1 of "it is X" against "X"
    env.reset(seed=0)
    _, reward, *_, info = env.step(f"<answer>{answer}</answer>")
    assert reward == 1.0 and info["signals"]["format"] == 1.0


def test_bare_replies_are_invalid_without_the_option():
    env = gym.make("turngym/SearchQA-Easy-v0")
    env.reset(seed=0)
    *_, info = env.step("It is Paris.")
    assert info["signals"]["valid_action"] == 0.0 and info["action_error"] == "no_action"
