"""The environment's history is its own: what an agent does to messages never changes it.

``TurnEnv`` keeps copies (made by ``turngym.core.messages.copy_message``) of the opening
messages, of each action and of each reply; these tests change every object an agent holds
(the observation lists and their dicts, the action dict and its nested tool calls, a history
it read, a snapshot it restored) and check that the environment's record stays as it was.
"""

from __future__ import annotations

import copy
import json

from tests.toy_envs import GuessNumberEnv
from turngym.core.messages import copy_message


def _call(number: int, call_id: str = "call_0") -> dict:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function",
         "function": {"name": "guess", "arguments": {"number": number}}}]}


def _scribble(messages: list) -> None:
    """Change everything an agent can reach in ``messages``, in place."""
    for message in messages:
        message["content"] = "CHANGED"
        for call in message.get("tool_calls", []):
            call["id"] = "CHANGED"
            call["function"]["arguments"]["number"] = -1
            call["function"]["name"] = "CHANGED"
    messages.append({"role": "user", "content": "APPENDED"})


def test_agent_changing_observations_actions_and_read_history_leaves_the_record_alone():
    env = GuessNumberEnv(high=16)
    opening, _ = env.reset(options={"task_id": "n-9"})
    action = _call(4)
    observation, *_ = env.step(action)
    expected = copy.deepcopy(env.history)
    assert expected[2] == _call(4) and expected[3]["tool_call_id"] == "call_0"
    _scribble(opening)
    _scribble(observation)
    _scribble([action])
    read = env.history
    _scribble(read)
    assert env.history == expected
    env.step("<guess>12</guess>")
    assert env.history[:4] == expected  # later turns only append
    assert "CHANGED" not in json.dumps(env.history) and "APPENDED" not in json.dumps(env.history)


def test_snapshots_are_independent_of_the_live_history():
    env = GuessNumberEnv(high=16)
    env.reset(options={"task_id": "n-9"})
    env.step(_call(4))
    snapshot = env.get_state()
    before = copy.deepcopy(snapshot["history"])
    env.step(_call(12, "call_1"))
    assert snapshot["history"] == before  # the episode going on does not reach the snapshot
    env.set_state(snapshot)
    _scribble(snapshot["history"])  # nor does changing the snapshot after restoring it
    assert env.history == before


def test_copy_message_copies_nested_plain_data_and_deep_copies_the_rest():
    inner = {"x": [1, 2.5, None, True]}
    message = {"role": "assistant", "content": None,
               "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": inner}}],
               "extra": ({"kept": [1]},)}
    copied = copy_message(message)
    assert copied == message
    assert copied["tool_calls"][0]["function"]["arguments"] is not inner
    assert copied["tool_calls"][0]["function"]["arguments"]["x"] is not inner["x"]
    assert copied["extra"] == message["extra"] and copied["extra"][0] is not message["extra"][0]
    assert copy_message("text") == "text" and copy_message([None]) == [None]


def test_an_action_that_contains_itself_is_copied_not_a_crash():
    env = GuessNumberEnv()
    env.reset(seed=0)
    action = _call(3)
    action["tool_calls"][0]["self"] = action["tool_calls"][0]  # a cycle: the plain walk never ends
    env.step(action)  # must not raise (it raised RecursionError before the deepcopy fallback)
    recorded = [m for m in env.unwrapped.history if m.get("tool_calls")][-1]["tool_calls"][0]
    assert recorded["self"] is recorded and recorded is not action["tool_calls"][0]
    copied = copy_message(action)
    assert copied["tool_calls"][0]["self"] is copied["tool_calls"][0]
    assert copied["tool_calls"][0] is not action["tool_calls"][0]
