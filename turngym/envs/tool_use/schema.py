"""Tool specs derived from typed Python methods: the signature and the docstring are the schema.

A method like::

    def deposit(self, account: str, amount: float, note: str | None = None) -> dict:
        \"\"\"Put money into an account.

        Args:
            account: the account's name.
            amount: how much, in dollars.
            note: an optional memo.
        \"\"\"

becomes the tool ``deposit`` described by the docstring's first paragraph, with
``{"account": {"type": "string", ...}, "amount": {"type": "number", ...}, "note": ...}``
and ``required = ["account", "amount"]`` (parameters without a default). Types map
``str``/``int``/``float``/``bool`` to JSON-schema scalars, ``list[X]`` to arrays of X,
``dict`` to objects, ``Literal[...]`` to an ``enum``, and ``X | None`` to X.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Literal

from turngym.core.actions import ToolSpec

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def type_schema(annotation: Any) -> dict[str, Any]:
    """The JSON schema of a type annotation (see the module docstring); ``TypeError`` if unsupported."""
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        kinds = {type(a) for a in args}
        schema: dict[str, Any] = {"enum": list(args)}
        if len(kinds) == 1 and next(iter(kinds)) in _SCALARS:
            schema["type"] = _SCALARS[next(iter(kinds))]
        return schema
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return type_schema(rest[0])
        raise TypeError(f"unions other than X | None are not supported: {annotation!r}")
    if annotation is list or origin is list:
        return {"type": "array", **({"items": type_schema(args[0])} if args else {})}
    if annotation is dict or origin is dict:
        return {"type": "object"}
    raise TypeError(f"no JSON schema for annotation {annotation!r}")


def _docstring_parts(doc: str) -> tuple[str, dict[str, str]]:
    """The description (first paragraph) and the ``Args:`` section's text per argument."""
    text = inspect.cleandoc(doc or "")
    description = text.split("\n\n", 1)[0].replace("\n", " ").strip()
    arguments: dict[str, str] = {}
    in_args, current = False, None
    for line in text.splitlines():
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if not in_args:
            continue
        if line.strip() and not line.startswith(" "):
            break  # the next section
        match = _ARG_LINE.match(line)
        if match and not line.startswith(" " * 6):
            current = match.group(1)
            arguments[current] = match.group(2).strip()
        elif current and line.strip():
            arguments[current] = f"{arguments[current]} {line.strip()}"
    return description, arguments


def tool_from_method(method: Callable[..., Any], name: str | None = None) -> ToolSpec:
    """The :class:`ToolSpec` of a typed method (or function); ``TypeError`` names what is missing."""
    name = name or method.__name__
    description, docs = _docstring_parts(method.__doc__ or "")
    if not description:
        raise TypeError(f"{name} has no docstring to describe the tool")
    hints = typing.get_type_hints(method)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in inspect.signature(method).parameters.values():
        if parameter.name == "self":
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"{name}: *args/**kwargs cannot be described as a tool schema")
        if parameter.name not in hints:
            raise TypeError(f"{name}: parameter {parameter.name!r} has no type annotation")
        schema = type_schema(hints[parameter.name])
        if parameter.name in docs:
            schema["description"] = docs[parameter.name]
        properties[parameter.name] = schema
        if parameter.default is inspect.Parameter.empty:
            required.append(parameter.name)
    parameters = {"type": "object", "properties": properties, "required": required}
    return ToolSpec(name, description, parameters)


def tools_from_class(cls: type) -> tuple[ToolSpec, ...]:
    """One :class:`ToolSpec` per public method of ``cls``, in definition order."""
    return tuple(
        tool_from_method(member, name)
        for name, member in vars(cls).items()
        if inspect.isfunction(member) and not name.startswith("_")
    )
