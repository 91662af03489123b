"""The subclass contract of TurnEnv and the registry (issue #11, Confusing and Structure items)."""

import hashlib
import importlib
import json
import warnings

import gymnasium as gym
import pytest

import turngym
import turngym.envs.search_qa.registration as builtins
from turngym.core import ToolSpec, Transition, TurnEnv
from turngym.core.messages import user
from turngym.core.registry import RegistrationWarning
from turngym.core.spaces import AssistantActionSpace

ENV_ID = "turngym/GuessNumber-v0"


class MinimalEnv(TurnEnv):
    """Only the two essential methods: no _anchor."""

    tools = (ToolSpec("say", "Say a word.", {"type": "object", "properties": {"word": {"type": "string"}},
                                             "required": ["word"]}, tag="say"),)

    def _reset_task(self, options):
        self.word = options.get("task_id") or "pear"
        return self.word, [user(f"Say {self.word}.")]

    def _apply(self, calls):
        ok = calls[0].arguments["word"] == self.word
        return Transition([self.reply_to(calls[0], "yes" if ok else "no")])


def test_invalid_countdown_says_when_the_episode_ends_and_it_ends_then():
    """Issue #11 Confusing: the invalid-action countdown was off by one.

    Semantics: ``max_invalid_turns`` invalid turns are tolerated; the next one ends the episode.
    Each invalid turn's message says how many more invalid turns end it, and it ends exactly then.
    """
    env = gym.make(ENV_ID, max_invalid_turns=3, max_turns=20)
    env.reset(seed=0)
    observation, *_, truncated, _ = env.step("no action here")
    assert "(3 more invalid actions end the episode.)" in observation[0]["content"]
    announced = 3
    for taken in range(1, announced + 1):
        observation, _, terminated, truncated, info = env.step("still nothing")
        if taken < announced:
            left = announced - taken
            noun = "action ends" if left == 1 else "actions end"
            assert f"({left} more invalid {noun} the episode.)" in observation[0]["content"]
            assert not truncated
    assert truncated and not terminated and info["truncated_reason"] == "invalid_actions"
    assert "too many invalid actions" in observation[0]["content"]


def test_zero_tolerated_invalid_turns_ends_at_the_first():
    """Issue #11 Confusing (countdown): max_invalid_turns=0 ends on the first invalid turn, and says so."""
    env = gym.make(ENV_ID, max_invalid_turns=0)
    env.reset(seed=0)
    observation, *_, truncated, _ = env.step("nothing")
    assert truncated and "too many invalid actions" in observation[0]["content"]


def test_a_new_environment_needs_only_reset_task_and_apply():
    """Issue #11 Structure (fewer concepts): _anchor has a default keyed on the conversation so far."""
    env = MinimalEnv()
    _, info = env.reset(options={"task_id": "pear"})
    start = info["anchor"]
    assert isinstance(start, str) and start.startswith("pear|")
    _, info_again = MinimalEnv().reset(options={"task_id": "pear"})
    assert info_again["anchor"] == start                       # same conversation, same key
    *_, info_a = env.step("<say>apple</say>")
    other = MinimalEnv()
    other.reset(options={"task_id": "pear"})
    *_, info_b = other.step("<say>apple</say>")
    assert info_a["anchor"] == info_b["anchor"] != start
    conversation = json.dumps(env.history, sort_keys=True, ensure_ascii=False)  # the reply included
    assert info_a["anchor"] == f"pear|{hashlib.sha256(conversation.encode()).hexdigest()[:16]}"
    third = MinimalEnv()
    third.reset(options={"task_id": "pear"})
    *_, info_d = third.step("<say>plum</say>")
    assert info_d["anchor"] != info_a["anchor"]


def test_the_subclass_contract_is_declared_abstract():
    """Issue #11 Structure: _reset_task and _apply are abstract; a class missing one says which."""

    class Incomplete(TurnEnv):
        def _reset_task(self, options):
            return "t", [user("hi")]

    with pytest.raises(TypeError, match="_apply"):
        Incomplete()
    assert {"_reset_task", "_apply"} <= TurnEnv.__abstractmethods__
    assert "implement these in all subclasses" in (TurnEnv.__doc__ or "")


def test_register_warns_when_replacing_an_id_but_not_on_identical_re_registration():
    """Issue #11 Structure: register warns (RegistrationWarning) when it replaces another entry."""
    turngym.register("WarnProbe-v0", "tests.toy_envs:GuessNumberEnv", "probe", high=4)
    with pytest.warns(RegistrationWarning, match="turngym/WarnProbe-v0"):
        turngym.register("WarnProbe-v0", "tests.toy_envs:GuessNumberEnv", "probe", high=5)
    assert gym.make("turngym/WarnProbe-v0").unwrapped.high == 5
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            turngym.register("WarnProbe-v0", "tests.toy_envs:GuessNumberEnv", "probe", high=5)
            importlib.reload(builtins)  # built-ins registered again: identical entries, no warning
    finally:
        del gym.registry["turngym/WarnProbe-v0"]


def test_action_space_samples_tool_calls_that_follow_each_schema():
    """Issue #11 Confusing: action_space.sample() built calls ignoring the tool's JSON schema."""
    tools = (
        ToolSpec("say", "Say.", {"type": "object", "properties": {"word": {"type": "string"}},
                                 "required": ["word"]}, tag="say"),
        ToolSpec("move", "Move.", {"type": "object", "properties": {
            "steps": {"type": "integer"}, "fast": {"type": "boolean"}, "speed": {"type": "number"},
            "path": {"type": "array", "items": {"type": "string"}}}, "required": ["steps"]}),
    )
    space = AssistantActionSpace(tools=tools)
    space.seed(0)
    calls = [s["tool_calls"][0]["function"] for s in (space.sample() for _ in range(400))
             if isinstance(s, dict)]
    assert {c["name"] for c in calls} == {"say", "move"}
    kinds = {"steps": int, "fast": bool, "speed": (int, float), "path": list, "word": str}
    for call in calls:
        args = json.loads(call["arguments"])
        props = (tools[0] if call["name"] == "say" else tools[1]).parameters["properties"]
        assert set(args) <= set(props), call
        for name, value in args.items():
            assert isinstance(value, kinds[name]), (name, value)
        if call["name"] == "move":
            assert "steps" in args and not isinstance(args["steps"], bool)
    env_space = MinimalEnv().action_space
    assert env_space.tool_names == ("say",) and env_space.tools[0].name == "say"


def test_searchqa_v0_says_it_is_the_medium_level():
    """Issue #11 Confusing: ``SearchQA-v0`` is the same as ``SearchQA-Medium-v0`` without saying so."""
    descriptions = {e.id: e.description for e in turngym.list_envs()}
    assert descriptions["turngym/SearchQA-v0"].startswith("the same as SearchQA-Medium-v0")
    plain, medium = gym.make("turngym/SearchQA-v0"), gym.make("turngym/SearchQA-Medium-v0")
    assert plain.reset(seed=7) == medium.reset(seed=7)
