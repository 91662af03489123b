"""ToolUseEnv remembers parses of call text; a remembered parse is exactly a fresh one."""

from __future__ import annotations

import json

from turngym.core.actions import ActionError
from turngym.envs.tool_use.env import ToolUseEnv


def _render(call) -> str:
    return f"{call.name}(" + ", ".join(f"{k}={v!r}" for k, v in call.arguments.items()) + ")"


def _tool_calls(*items: tuple[str, str, str]) -> dict:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        for name, arguments, call_id in items]}


def test_a_remembered_tool_call_parse_equals_a_fresh_one_and_keeps_each_call_id():
    env = ToolUseEnv("generated", level="hard", n_tasks=3)
    env.reset(options={"task_id": "gen-hard-train-0"})
    gold = env.task.stages[0].gold[0]
    good = (gold.name, json.dumps(gold.arguments))
    bad_json, bad_type = (gold.name, '{"x": '), (gold.name, json.dumps({k: [1] for k in gold.arguments}))
    first = env._parse(_tool_calls((*good, "a"), (*bad_json, "b"), (*bad_type, "c")))
    first_errors = list(env._pending_errors)
    again = env._parse(_tool_calls((*good, "d"), (*bad_json, "e"), (*bad_type, "f")))
    assert [c.call_id for c in first] == ["a"] and [c.call_id for c in again] == ["d"]
    assert (again[0].name, again[0].arguments) == (first[0].name, first[0].arguments)
    assert (again[0].name, again[0].arguments) == (gold.name, gold.arguments)
    assert again[0].arguments is first[0].arguments  # read from the parses remembered
    assert [m for _, m in env._pending_errors] == [m for _, m in first_errors] and len(first_errors) == 2
    assert [i for i, _ in env._pending_errors] == ["e", "f"]
    fresh = ToolUseEnv("generated", level="hard", n_tasks=3)
    fresh.reset(options={"task_id": "gen-hard-train-0"})
    assert fresh._parse(_tool_calls((*good, "d"), (*bad_json, "e"), (*bad_type, "f"))) == again
    assert fresh._pending_errors == env._pending_errors


def test_a_remembered_python_parse_follows_the_tools_shown_and_returns_a_new_list():
    env = ToolUseEnv("generated", level="hard", n_tasks=3, action_formats=["python"])
    env.reset(options={"task_id": "gen-hard-train-0"})
    hidden = env.task.stages[2].gold[0]
    assert hidden.name in env.task.hidden and not env.allow_hidden_calls
    text = f"[{_render(hidden)}]"
    before = env._parse(text)
    assert isinstance(before, ActionError) and env._parse(text) == before  # not shown yet: refused
    while env._stage < 2:  # the stage that reveals it
        env.step(env.oracle_action())
    after = env._parse(text)
    assert not isinstance(after, ActionError) and [(c.name, c.arguments) for c in after] == [
        (hidden.name, hidden.arguments)]
    after.append("changed by the caller")
    assert len(env._parse(text)) == 1
