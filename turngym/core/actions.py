"""Action formats shared by every environment.

A model's turn becomes a list of :class:`ParsedCall` (a tool name and its
arguments) or an :class:`ActionError` whose ``message`` is written to be shown
to the model: what was wrong and what is accepted. Parsers never raise on what
a model writes; they raise only on programming errors (a bad tool spec).

Three formats:

- ``"tagged"``: ``<search>query</search>``. Each tool with a ``tag`` takes the
  tag's inner text as its single string argument. Text outside the tags is
  free (reasoning); ``<think>...</think>`` blocks are ignored.
- ``"tool_calls"``: an assistant message dict with OpenAI ``tool_calls``; the
  arguments may be a JSON string or a dict.
- ``"python"``: Python call syntax ``f(a=1, b="x")`` or a list of calls
  ``[f(a=1), g()]``, optionally inside a fenced code block. Parsed with
  :mod:`ast`; arguments must be literals; nothing is evaluated.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from turngym.core.pyast import AST_LOCK

FORMATS: tuple[str, ...] = ("tagged", "tool_calls", "python")

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


@dataclass(frozen=True)
class ToolSpec:
    """A tool an environment accepts.

    ``parameters`` is a JSON schema object (``{"type": "object", "properties":
    ..., "required": [...]}``) as in OpenAI's ``tools``. ``tag`` names the text
    tag for the tagged format and ``tag_argument`` the parameter that receives
    the tag's inner text (by default the only required parameter).
    """

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}, "required": []}
    )
    tag: str | None = None
    tag_argument: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", self.name):
            raise ValueError(f"tool name {self.name!r} must be an identifier-like string")
        if self.tag is not None and self.argument_for_tag() is None:
            raise ValueError(
                f"tool {self.name!r} has tag <{self.tag}> but no tag_argument and not exactly "
                "one required parameter to receive the tag's text"
            )

    def argument_for_tag(self) -> str | None:
        """The parameter that receives a tag's text."""
        if self.tag_argument is not None:
            return self.tag_argument
        required = list(self.parameters.get("required", []))
        return required[0] if len(required) == 1 else None

    def to_openai(self) -> dict[str, Any]:
        """This tool in OpenAI's ``tools`` format."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True)
class ParsedCall:
    """One call the model made: ``name(**arguments)``; ``call_id`` from OpenAI tool calls."""

    name: str
    arguments: dict[str, Any]
    call_id: str | None = None


@dataclass(frozen=True)
class ActionError:
    """A malformed action. ``kind`` is a stable code; ``message`` is for the model."""

    kind: str
    message: str


ParseResult = list[ParsedCall] | ActionError

MAX_ACTION_CHARS = 200_000
_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<(/?)([A-Za-z_][A-Za-z0-9_-]*)\s*>")


def _text_problem(text: Any, not_text_message: str) -> ActionError | None:
    """The error for an action that is not text or is too long to parse, else ``None``."""
    if not isinstance(text, str):
        return ActionError("not_text", not_text_message)
    if len(text) > MAX_ACTION_CHARS:
        return ActionError("too_long", f"The action is {len(text)} characters; at most {MAX_ACTION_CHARS}.")
    return None


def _accepted_tags(tools: Sequence[ToolSpec]) -> str:
    return ", ".join(f"<{t.tag}>...</{t.tag}>" for t in tools if t.tag)


def _accepted_tools(tools: Sequence[ToolSpec]) -> str:
    return ", ".join(t.name for t in tools) or "(none)"


def check_arguments(spec: ToolSpec, arguments: Mapping[str, Any]) -> str | None:
    """Check ``arguments`` against the tool's schema (required, unknown, top-level types).

    Returns a message for the model, or ``None`` when they fit.
    """
    props: Mapping[str, Any] = spec.parameters.get("properties", {})
    required = list(spec.parameters.get("required", []))
    missing = [name for name in required if name not in arguments]
    if missing:
        return f"{spec.name} is missing required argument(s): {', '.join(missing)}"
    if props and spec.parameters.get("additionalProperties", False) is False:
        unknown = [name for name in arguments if name not in props]
        if unknown:
            return (
                f"{spec.name} got unknown argument(s): {', '.join(map(str, unknown))}; "
                f"it accepts: {', '.join(props)}"
            )
    for name, value in arguments.items():
        expected = props.get(name, {}).get("type")
        if expected is None:
            continue
        kinds = expected if isinstance(expected, list) else [expected]
        allowed = tuple(t for k in kinds for t in _JSON_TYPES.get(k, (object,)))
        is_bool = isinstance(value, bool)
        if not isinstance(value, allowed) or (is_bool and "boolean" not in kinds):
            return (
                f"{spec.name} argument {name!r} must be of type {'/'.join(kinds)}, "
                f"got {type(value).__name__}"
            )
    return None


def parse_tagged(text: Any, tools: Sequence[ToolSpec], *, max_calls: int = 1) -> ParseResult:
    """Parse tagged text such as ``<search>capital of France</search>``.

    Errors (``kind``): ``not_text``, ``too_long``, ``no_action`` (no known tag),
    ``unknown_tag``, ``unbalanced_tag``, ``nested_tag``, ``too_many_calls``,
    ``empty_argument`` and ``bad_arguments``.
    """
    tagged = [t for t in tools if t.tag]
    accepted = _accepted_tags(tagged)
    problem = _text_problem(text, f"The action must be text. Accepted: {accepted}.")
    if problem is not None:
        return problem
    by_tag = {t.tag.lower(): t for t in tagged if t.tag}
    visible = _THINK.sub(" ", text)
    calls: list[ParsedCall] = []
    open_tag: str | None = None
    open_end = 0
    last_closing = {m.group(2).lower(): m.start() for m in _TAG.finditer(visible) if m.group(1) == "/"}
    for match in _TAG.finditer(visible):
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in by_tag:
            if open_tag is None and not closing and last_closing.get(name, -1) >= match.end():
                # an unknown <x> counts as an attempted action only when a </x> follows it
                return ActionError(
                    "unknown_tag", f"<{match.group(2)}> is not an action here. Accepted: {accepted}."
                )
            continue
        if not closing:
            if open_tag is not None:
                return ActionError(
                    "nested_tag",
                    f"<{name}> was opened inside <{open_tag}>; tags cannot be nested. "
                    f"Write one action: {accepted}.",
                )
            open_tag, open_end = name, match.end()
            continue
        if open_tag is None:
            return ActionError(
                "unbalanced_tag", f"</{name}> closes a tag that was never opened. Accepted: {accepted}."
            )
        if name != open_tag:
            return ActionError(
                "unbalanced_tag", f"<{open_tag}> was closed by </{name}>. Accepted: {accepted}."
            )
        spec = by_tag[name]
        inner = visible[open_end : match.start()].strip()
        if not inner:
            return ActionError(
                "empty_argument", f"<{name}></{name}> is empty; put the {spec.argument_for_tag()} "
                f"between the tags."
            )
        arg = spec.argument_for_tag()
        assert arg is not None
        calls.append(ParsedCall(spec.name, {arg: inner}))
        open_tag = None
    if open_tag is not None:
        return ActionError(
            "unbalanced_tag",
            f"<{open_tag}> was opened but never closed with </{open_tag}>. Accepted: {accepted}.",
        )
    if not calls:
        return ActionError("no_action", f"No action found. Write exactly one of: {accepted}.")
    if len(calls) > max_calls:
        return ActionError(
            "too_many_calls",
            f"Found {len(calls)} actions; at most {max_calls} per turn. Accepted: {accepted}.",
        )
    return calls


def parse_tool_calls(
    message: Any, tools: Sequence[ToolSpec], *, max_calls: int | None = None
) -> ParseResult:
    """Parse an assistant message's OpenAI ``tool_calls``.

    Errors (``kind``): ``not_message``, ``no_action``, ``bad_tool_call``,
    ``unknown_tool``, ``bad_json``, ``bad_arguments`` and ``too_many_calls``.
    """
    names = _accepted_tools(tools)
    if not isinstance(message, Mapping):
        return ActionError(
            "not_message", f"Expected an assistant message with tool_calls. Tools: {names}."
        )
    calls = message.get("tool_calls")
    if not calls:
        return ActionError("no_action", f"No tool call found. Call one of: {names}.")
    if not isinstance(calls, list):
        return ActionError("bad_tool_call", "tool_calls must be a list of tool calls.")
    if max_calls is not None and len(calls) > max_calls:
        return ActionError(
            "too_many_calls", f"Got {len(calls)} tool calls; at most {max_calls} per turn."
        )
    by_name = {t.name: t for t in tools}
    parsed: list[ParsedCall] = []
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str):
            return ActionError(
                "bad_tool_call",
                f"Tool call {i} has no function name; expected "
                '{"type": "function", "function": {"name": ..., "arguments": ...}}.',
            )
        if name not in by_name:
            return ActionError("unknown_tool", f"Unknown tool {name!r}. Tools: {names}.")
        raw = function.get("arguments", {})  # type: ignore[union-attr]
        if raw is None or raw == "":
            raw = {}
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as exc:
                return ActionError(
                    "bad_json",
                    f"Arguments of {name} are not valid JSON ({exc.msg} at character {exc.pos}); "
                    "send a JSON object.",
                )
        if not isinstance(raw, dict):
            return ActionError(
                "bad_arguments", f"Arguments of {name} must be a JSON object, got {type(raw).__name__}."
            )
        problem = check_arguments(by_name[name], raw)
        if problem is not None:
            return ActionError("bad_arguments", problem + ".")
        call_id = call.get("id") if isinstance(call.get("id"), str) else None
        parsed.append(ParsedCall(name, raw, call_id))
    return parsed


_FENCE = re.compile(r"```(?:python|py)?\s*\n?(.*?)```", re.DOTALL)


def parse_python_calls(
    text: Any, tools: Sequence[ToolSpec], *, max_calls: int | None = None
) -> ParseResult:
    """Parse Python call syntax: ``f(a=1, b="x")`` or ``[f(a=1), g()]``.

    Positional arguments map onto the schema's properties in order. Only
    literals are accepted as values. Errors (``kind``): ``not_text``,
    ``too_long``, ``syntax_error``, ``not_a_call``, ``unknown_tool``,
    ``non_literal``, ``bad_arguments`` and ``too_many_calls``.
    """
    names = _accepted_tools(tools)
    problem = _text_problem(text, f"The action must be text such as f(a=1). Tools: {names}.")
    if problem is not None:
        return problem
    fenced = _FENCE.search(text)
    source = (fenced.group(1) if fenced else _THINK.sub(" ", text)).strip()
    if not source:
        return ActionError("not_a_call", f"No call found. Write a call such as f(a=1). Tools: {names}.")
    try:
        with AST_LOCK:
            tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        where = f" at line {exc.lineno}, column {exc.offset}" if isinstance(exc, SyntaxError) else ""
        return ActionError(
            "syntax_error", f"Could not parse the call{where}: {type(exc).__name__}. "
            f"Write a call such as f(a=1) or a list [f(a=1), g()]. Tools: {names}."
        )
    body = tree.body
    nodes = body.elts if isinstance(body, (ast.List, ast.Tuple)) else [body]
    if max_calls is not None and len(nodes) > max_calls:
        return ActionError("too_many_calls", f"Got {len(nodes)} calls; at most {max_calls}.")
    by_name = {t.name: t for t in tools}
    calls: list[ParsedCall] = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            return ActionError(
                "not_a_call", f"Expected a function call such as f(a=1). Tools: {names}."
            )
        name = _dotted_name(node.func)
        if name is None:
            return ActionError("not_a_call", "The called object must be a plain function name.")
        if name not in by_name:
            return ActionError("unknown_tool", f"Unknown function {name!r}. Tools: {names}.")
        spec = by_name[name]
        arguments: dict[str, Any] = {}
        order = list(spec.parameters.get("properties", {}))
        if len(node.args) > len(order):
            return ActionError(
                "bad_arguments",
                f"{name} takes at most {len(order)} positional argument(s); use keywords: "
                f"{', '.join(order) or '(none)'}.",
            )
        pairs = list(zip(order, node.args)) + [(kw.arg, kw.value) for kw in node.keywords]
        for key, value in pairs:
            if key is None:
                return ActionError("non_literal", "**kwargs is not accepted; name each argument.")
            if key in arguments:
                return ActionError("bad_arguments", f"{name} got argument {key!r} twice.")
            try:
                with AST_LOCK:
                    arguments[key] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return ActionError(
                    "non_literal",
                    f"Argument {key!r} of {name} must be a literal (string, number, list, dict, "
                    "True/False/None); expressions and variables are not evaluated.",
                )
        problem = check_arguments(spec, arguments)
        if problem is not None:
            return ActionError("bad_arguments", problem + ".")
        calls.append(ParsedCall(name, arguments))
    return calls


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted_name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def parse_action(
    action: Any,
    tools: Sequence[ToolSpec],
    formats: Sequence[str] = ("tagged", "tool_calls"),
    *,
    max_calls: int = 1,
) -> ParseResult:
    """Parse an action in whichever of ``formats`` it is written.

    A dict with ``tool_calls`` is parsed as tool calls; otherwise the text (a
    string, or a dict's ``content``) is parsed as tagged text, else as Python
    calls, in that order among the accepted formats.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown action format(s) {unknown}; accepted: {', '.join(FORMATS)}")
    if isinstance(action, Mapping):
        if action.get("tool_calls"):
            if "tool_calls" not in formats:
                return ActionError(
                    "format_not_accepted",
                    f"Tool calls are not accepted here; write {_describe(tools, formats)}.",
                )
            return parse_tool_calls(action, tools, max_calls=max_calls)
        text = action.get("content")
        if not isinstance(text, str):
            return ActionError(
                "not_message", f"The action has no text content. Write {_describe(tools, formats)}."
            )
    elif isinstance(action, str):
        text = action
    else:
        return ActionError(
            "not_text",
            f"An action is text or an assistant message dict, got {type(action).__name__}. "
            f"Write {_describe(tools, formats)}.",
        )
    if "tagged" in formats:
        result = parse_tagged(text, tools, max_calls=max_calls)
        if not (isinstance(result, ActionError) and result.kind == "no_action"):
            return result
        if "python" not in formats:
            return ActionError("no_action", f"No action found. Write {_describe(tools, formats)}.")
    if "python" in formats:
        return parse_python_calls(text, tools, max_calls=max_calls)
    return ActionError(
        "no_action", f"Text actions are not accepted here; use {_describe(tools, formats)}."
    )


def _describe(tools: Sequence[ToolSpec], formats: Sequence[str]) -> str:
    parts = []
    if "tagged" in formats and any(t.tag for t in tools):
        parts.append("one of " + _accepted_tags(tools))
    if "tool_calls" in formats:
        parts.append(f"a tool call to one of: {_accepted_tools(tools)}")
    if "python" in formats:
        parts.append(f"a Python-style call such as {tools[0].name}(...)" if tools else "a call")
    return " or ".join(parts) or "a valid action"
