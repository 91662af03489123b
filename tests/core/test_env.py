"""The environment contract, checked on a toy environment registered in conftest."""

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import turngym
from turngym.core import STANDARD_INFO_KEYS, AssistantActionSpace, ChatObservationSpace

ENV_ID = "turngym/GuessNumber-v0"


def test_check_env_passes_through_gymnasium_make():
    env = gym.make(ENV_ID)
    check_env(env.unwrapped)
    assert turngym.make is gym.make


def test_turngym_make_is_gymnasium_make_and_listed():
    env = turngym.make(ENV_ID, high=8)
    assert env.unwrapped.high == 8
    ids = {e.id: e.description for e in turngym.list_envs()}
    assert ids[ENV_ID] == "guess a hidden number (test env)"


def test_register_few_lines_and_validation():
    env_id = turngym.register("Tiny-v0", "tests.toy_envs:GuessNumberEnv", "tiny", high=2)
    assert env_id == "turngym/Tiny-v0"
    assert gym.make(env_id).unwrapped.high == 2
    with pytest.raises(ValueError, match="one non-empty line"):
        turngym.register("Bad-v0", "tests.toy_envs:GuessNumberEnv", "")


def test_same_seed_same_task_and_task_id_option():
    env = gym.make(ENV_ID)
    first = env.reset(seed=5)
    second = env.reset(seed=5)
    assert first == second
    _, info = env.reset(options={"task_id": "n-11"})
    assert info["task_id"] == "n-11"
    assert env.unwrapped.oracle_action() == "<guess>8</guess>"


def test_standard_info_keys_on_every_step_and_outcome_at_the_end():
    env = gym.make(ENV_ID)
    _, info = env.reset(options={"task_id": "n-3"})
    assert set(STANDARD_INFO_KEYS) <= set(info)
    turns = 0
    while True:
        _, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        turns += 1
        assert set(STANDARD_INFO_KEYS) <= set(info)
        assert set(info["signals"]) == {"valid_action", "format", "closer"}
        assert info["turn"] == turns
        if terminated:
            break
        assert "outcome" not in info and reward == 0.0
    assert not truncated and info["outcome"] == 1.0 and reward == 1.0
    assert info["probe"] == {"answers": ["3"], "forcing_prefix": "<guess>", "answer_suffix": "</guess>"}


def test_anchor_is_shared_by_equal_states():
    a, b = gym.make(ENV_ID), gym.make(ENV_ID)
    a.reset(options={"task_id": "n-9"})
    b.reset(options={"task_id": "n-9"})
    *_, info_a = a.step("<guess>4</guess>")
    *_, info_b = b.step("<guess>2</guess>")
    assert info_a["anchor"] != info_b["anchor"]
    *_, info_b = b.step({"role": "assistant", "content": "<guess>4</guess>"})
    assert info_a["anchor"] == info_b["anchor"] == "n-9|5-16"


def test_invalid_actions_never_raise_and_are_capped():
    env = gym.make(ENV_ID, max_invalid_turns=2, max_turns=10)
    env.reset(seed=0)
    for expected in ("2 more invalid actions end", "1 more invalid action ends"):
        observation, _, terminated, truncated, info = env.step("<guess>7")
        assert info["signals"]["valid_action"] == 0.0
        assert info["action_error"] == "unbalanced_tag"
        assert "never closed" in observation[0]["content"]
        assert expected in observation[0]["content"]
        assert not (terminated or truncated)
    observation, _, terminated, truncated, info = env.step(12345)
    assert truncated and not terminated
    assert info["truncated_reason"] == "invalid_actions"
    assert "too many invalid actions" in observation[0]["content"]
    with pytest.raises(RuntimeError, match="call reset"):
        env.step("<guess>1</guess>")


def test_semantically_bad_call_is_invalid_but_not_fatal():
    env = gym.make(ENV_ID)
    env.reset(options={"task_id": "n-5"})
    bad = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c9", "type": "function", "function": {"name": "guess", "arguments": '{"number": "x"}'}}]}
    observation, *_, info = env.step(bad)
    assert info["signals"]["valid_action"] == 0.0
    assert observation[0]["role"] == "tool" and observation[0]["tool_call_id"] == "c9"
    assert "must be of type integer" in observation[0]["content"]


def test_refused_calls_count_toward_the_invalid_cap():
    env = gym.make(ENV_ID, max_invalid_turns=1)
    env.reset(options={"task_id": "n-5"})
    observation, *_, truncated, info = env.step("<guess>seven</guess>")
    assert info["signals"] == {"valid_action": 0.0, "format": 1.0, "closer": 0.0}
    assert info["action_error"] == "not_a_number" and not truncated
    assert observation[0]["content"].startswith("Invalid action: 'seven' is not a whole number")
    assert observation[0]["content"].endswith("(1 more invalid action ends the episode.)")
    *_, truncated, info = env.step("<guess>x</guess>")
    assert truncated and info["truncated_reason"] == "invalid_actions"


def test_turn_limit_truncates():
    env = gym.make(ENV_ID, max_turns=2)
    env.reset(options={"task_id": "n-16"})
    assert env.step("<guess>1</guess>")[3] is False
    *_, terminated, truncated, info = env.step("<guess>2</guess>")
    assert truncated and not terminated and info["truncated_reason"] == "max_turns"


def test_reward_weights_compose_signals_and_reject_unknown_names():
    env = gym.make(ENV_ID, reward_weights={"closer": 0.5, "valid_action": 0.1})
    env.reset(options={"task_id": "n-12"})
    _, reward, *_ = env.step("<guess>8</guess>")
    assert reward == pytest.approx(0.6)
    with pytest.raises(ValueError, match="emits: \\['valid_action', 'format', 'closer'\\]"):
        gym.make(ENV_ID, reward_weights={"speed": 1.0})


def test_bad_constructor_arguments_are_explained():
    with pytest.raises(ValueError, match="max_turns must be a positive int"):
        gym.make(ENV_ID, max_turns=0)
    with pytest.raises(ValueError, match="render_mode 'human' not supported"):
        gym.make(ENV_ID, render_mode="human")


def test_get_and_set_state_branch_an_episode():
    env = gym.make(ENV_ID).unwrapped
    env.reset(options={"task_id": "n-13"})
    env.step("<guess>8</guess>")
    snapshot = env.get_state()
    first = env.step("<guess>12</guess>")
    env.step("<guess>14</guess>")
    env.set_state(snapshot)
    assert env.step("<guess>12</guess>") == first


def test_sync_vector_env():
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(ENV_ID) for _ in range(3)])
    observations, infos = envs.reset(seed=[1, 2, 3])
    assert len(observations) == 3 and observations[0][0]["role"] == "system"
    observations, rewards, terminated, _, infos = envs.step(["<guess>8</guess>"] * 3)
    assert rewards.shape == (3,) and terminated.dtype == bool
    assert all(o[0]["role"] == "user" for o in observations)
    assert len(infos["anchor"]) == 3


def test_spaces_contain_sample_and_seed():
    obs_space = ChatObservationSpace()
    obs_space.seed(3)
    sample = obs_space.sample()
    assert obs_space.contains(sample)
    obs_space.seed(3)
    assert obs_space.sample() == sample
    assert not obs_space.contains([{"role": "robot", "content": "x"}])
    assert not obs_space.contains("hi")
    action_space = AssistantActionSpace(tool_names=["guess"], max_length=10)
    action_space.seed(0)
    samples = [action_space.sample() for _ in range(50)]
    assert all(action_space.contains(s) for s in samples)
    assert any(isinstance(s, dict) for s in samples) and any(isinstance(s, str) for s in samples)
    assert not action_space.contains("x" * 11)
    assert not action_space.contains({"role": "user", "content": "x"})


def test_render_ansi_shows_the_conversation():
    env = gym.make(ENV_ID, render_mode="ansi")
    env.reset(options={"task_id": "n-2"})
    env.step("<guess>8</guess>")
    text = env.render()
    assert "[assistant] <guess>8</guess>" in text and "go lower" in text
