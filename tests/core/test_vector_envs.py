"""Gymnasium's vector envs with their default arguments on a real turngym env (issue #11, Broken 6)."""

import gymnasium as gym
import pytest

import turngym  # noqa: F401  (registers the ids)
from turngym.core.spaces import ChatObservationSpace

ENV_ID = "turngym/SearchQA-Easy-v0"


def _make():
    return gym.make(ENV_ID)


def test_sync_and_async_vector_envs_with_defaults_agree():
    """Issue #11 Broken 6: AsyncVectorEnv with default arguments (shared_memory=True) failed on every
    turngym env; sync and async both work, reset and step, and give the same observations."""
    actions = ["<search>capital city</search>", "<answer>Paris</answer>"]
    results = {}
    for cls in (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv):
        envs = cls([_make, _make])
        try:
            observations, infos = envs.reset(seed=[3, 4])
            stepped = envs.step(actions)
        finally:
            envs.close()
        results[cls.__name__] = (observations, infos["task_id"], stepped)
    sync_obs, sync_ids, sync_step = results["SyncVectorEnv"]
    async_obs, async_ids, async_step = results["AsyncVectorEnv"]
    assert isinstance(async_obs, tuple) and len(async_obs) == 2
    assert async_obs[0][0]["role"] == "system" and async_obs[0][1]["content"].startswith("Question:")
    assert async_obs == sync_obs and list(async_ids) == list(sync_ids)
    assert async_step[0] == sync_step[0]                      # step observations
    assert (async_step[1] == sync_step[1]).all()               # rewards
    assert list(async_step[2]) == [False, True]                # the answer terminates


@pytest.mark.filterwarnings("ignore::UserWarning")  # the worker's traceback, logged by Gymnasium
def test_an_observation_larger_than_the_shared_slot_names_the_knob():
    """Issue #11 Broken 6: an observation over the shared-memory slot gives an error naming the knob."""
    envs = gym.vector.AsyncVectorEnv([lambda: gym.make(ENV_ID, shared_memory_bytes=64)] * 1)
    try:
        with pytest.raises(Exception, match="shared_memory_bytes"):
            envs.reset(seed=0)
    finally:
        envs.close(terminate=True)


def test_shared_memory_round_trip_without_processes():
    """Issue #11 Broken 6: the shared-memory handlers round-trip unicode messages and tool calls."""
    import copy

    from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

    space = ChatObservationSpace(shared_memory_bytes=1024)
    memory = create_shared_memory(space, n=2)
    view = read_from_shared_memory(space, memory, n=2)
    first = [{"role": "user", "content": "café [/b] 😀"}]
    second = [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]
    write_to_shared_memory(space, 0, first, memory)
    write_to_shared_memory(space, 1, second, memory)
    assert copy.deepcopy(view) == (first, second)
    write_to_shared_memory(space, 0, second, memory)
    assert view[0] == second                                    # a live view of the buffer
    with pytest.raises(ValueError, match="shared_memory_bytes"):
        write_to_shared_memory(space, 1, [{"role": "user", "content": "x" * 2000}], memory)
