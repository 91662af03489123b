"""Chat messages in the OpenAI chat-completions format.

Observations are lists of these dicts and actions are an assistant's text or an
assistant message dict. They stay plain dicts (not classes) so that they pass
through JSON, Gymnasium's checkers and HTTP clients unchanged; the ``TypedDict``
types below document their shape for type checkers, and :func:`validate_message`
checks one at run time.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Literal, TypedDict

from typing_extensions import NotRequired

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


class FunctionCall(TypedDict):
    """The ``function`` part of a tool call: a name and JSON-encoded (or dict) arguments."""

    name: str
    arguments: str | dict[str, Any]


class ToolCall(TypedDict):
    """One entry of an assistant message's ``tool_calls``."""

    id: str
    type: Literal["function"]
    function: FunctionCall


class Message(TypedDict):
    """One chat message. ``content`` is ``None`` only for an assistant message with tool calls."""

    role: Role
    content: str | None
    tool_calls: NotRequired[list[ToolCall]]
    tool_call_id: NotRequired[str]
    name: NotRequired[str]


Action = str | dict[str, Any]
"""What an agent gives ``step``: the assistant's text, or an assistant message dict."""


def system(content: str) -> Message:
    """A system message."""
    return {"role": "system", "content": content}


def user(content: str) -> Message:
    """A user message (also how environments speak when they are not answering a tool call)."""
    return {"role": "user", "content": content}


def assistant(content: str | None, tool_calls: list[ToolCall] | None = None) -> Message:
    """An assistant message, with tool calls when given."""
    message: Message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def tool(content: str, tool_call_id: str, name: str | None = None) -> Message:
    """A tool result answering the assistant's tool call ``tool_call_id``."""
    message: Message = {"role": "tool", "content": content, "tool_call_id": tool_call_id}
    if name is not None:
        message["name"] = name
    return message


def tool_call(name: str, arguments: dict[str, Any], call_id: str = "call_0") -> ToolCall:
    """Build a tool call with JSON-encoded arguments, as OpenAI-compatible servers send them."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
    }


_ATOMIC = frozenset({str, int, float, bool, type(None)})


def copy_message(message: Any) -> Any:
    """An independent copy of a message (or of any JSON-like value), as ``copy.deepcopy`` makes.

    Messages are plain data: dicts, lists, strings, numbers, booleans and ``None``. Those are
    copied by a plain walk (no memo), several times faster than ``copy.deepcopy``; anything else
    in it (a tuple, an object) goes through ``copy.deepcopy``. A value that refers to itself (an
    agent's action can be anything) makes the walk recurse without end; it is then copied by
    ``copy.deepcopy``, whose memo keeps the cycle. Environments keep such copies in their history,
    so that an agent changing a message it gave or got back cannot change what was recorded.

    >>> original = {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": {}}]}
    >>> copied = copy_message(original)
    >>> copied == original and copied["tool_calls"][0] is not original["tool_calls"][0]
    True
    """
    try:
        return _copy_plain(message)
    except RecursionError:
        return copy.deepcopy(message)


def _copy_plain(message: Any) -> Any:
    kind = type(message)
    if kind is dict:
        return {key: value if type(value) in _ATOMIC else _copy_plain(value)
                for key, value in message.items()}
    if kind is list:
        return [value if type(value) in _ATOMIC else _copy_plain(value) for value in message]
    if kind in _ATOMIC:
        return message
    return copy.deepcopy(message)


def message_problem(message: Any) -> str | None:
    """Say what is wrong with ``message`` as a chat message, or ``None`` when it is well formed."""
    if not isinstance(message, dict):
        return f"a message must be a dict, got {type(message).__name__}"
    role = message.get("role")
    if role not in ROLES:
        return f"message role must be one of {', '.join(ROLES)}; got {role!r}"
    content = message.get("content")
    calls = message.get("tool_calls")
    if content is not None and not isinstance(content, str):
        return f"message content must be a string or None, got {type(content).__name__}"
    if calls is not None:
        if role != "assistant":
            return "only assistant messages carry tool_calls"
        if not isinstance(calls, list):
            return "tool_calls must be a list"
    if content is None and not (role == "assistant" and calls):
        return f"a {role} message needs string content"
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        return "a tool message needs a string tool_call_id"
    return None


def validate_message(message: Any) -> Message:
    """Return ``message`` unchanged if it is a well-formed chat message, else raise ``ValueError``."""
    problem = message_problem(message)
    if problem is not None:
        raise ValueError(problem)
    return message  # type: ignore[no-any-return]


def action_text(action: Action) -> str:
    """The text part of an action: the string itself, or an assistant message's content."""
    if isinstance(action, str):
        return action
    content = action.get("content") if isinstance(action, dict) else None
    return content if isinstance(content, str) else ""
