"""What a ToolUse task is: stages (user turns) with gold calls, over a set of back-ends.

Both task sources, BFCL's multi-turn categories (:mod:`.bfcl`) and turngym's generated
APIs (:mod:`.generated`), produce :class:`ToolTask` objects over a :class:`Catalog` (the
back-end classes and their tool specs), so the environment does not care where a task
came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from turngym.core.actions import ActionError, ParsedCall, ToolSpec, parse_python_calls


@dataclass(frozen=True)
class Stage:
    """One user turn: the user's message(s), and the calls a correct agent makes.

    ``user`` is empty where BFCL's data has no message (a held-out function is revealed;
    the environment then says so). ``reveal`` names tools that become available here.
    """

    user: tuple[str, ...]
    gold: tuple[ParsedCall, ...]
    gold_source: tuple[str, ...] = ()
    reveal: tuple[str, ...] = ()


@dataclass(frozen=True)
class ToolTask:
    """A multi-stage tool-use task over back-end classes ``classes`` (in routing order)."""

    task_id: str
    category: str
    stages: tuple[Stage, ...]
    classes: tuple[str, ...]
    initial_config: Mapping[str, Any] = field(default_factory=dict)
    long_context: bool = False
    hidden: tuple[str, ...] = ()
    """Tools of the involved classes not visible at the start (revealed by a later stage)."""

    @property
    def n_gold_calls(self) -> int:
        """Gold calls over all stages."""
        return sum(len(s.gold) for s in self.stages)


@dataclass(frozen=True)
class Catalog:
    """Back-end classes by name, the tool specs of each, and classes taking no scenario.

    ``deterministic`` declares that every class's state and results follow from its initial
    state and the calls it ran, nothing else: two fresh loads that run the same calls (same
    names, arguments of the same ``repr``) end in equal states and return equal results
    (no unseeded random numbers, no clock or counter read into a result or a public
    attribute, nothing shared between instances or with the process). ``ToolUseEnv`` relies
    on it for its lazy gold run, for remembering result texts and state hashes per call
    history, and for reusing one run of a task's gold calls in every episode of the task;
    without it (the default, as turngym cannot check a class of yours) none of these is
    done. BFCL's classes (``tests/tool_use/test_determinism.py``) and turngym's generated
    APIs are declared deterministic.
    """

    classes: Mapping[str, type]
    tools: Mapping[str, tuple[ToolSpec, ...]]
    stateless: tuple[str, ...] = ()
    deterministic: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.deterministic, bool):
            raise TypeError(f"Catalog.deterministic must be True or False, got {self.deterministic!r}")

    def tools_for(self, class_names: tuple[str, ...] | list[str]) -> list[ToolSpec]:
        """The tools of ``class_names``, in order (a later class's tool wins a name clash)."""
        by_name: dict[str, ToolSpec] = {}
        for name in class_names:
            for spec in self.tools[name]:
                by_name.pop(spec.name, None)
                by_name[spec.name] = spec
        return list(by_name.values())


def untyped(spec: ToolSpec) -> ToolSpec:
    """``spec`` without argument types: names are still checked, values are passed as written.

    BFCL's executor runs a call whatever the types of its values (the method then succeeds
    or reports an error); parsing with untyped specs gives the same behaviour.
    """
    properties = {
        name: {k: v for k, v in schema.items() if k != "type"} if isinstance(schema, Mapping) else schema
        for name, schema in spec.parameters.get("properties", {}).items()
    }
    return replace(spec, parameters={**spec.parameters, "properties": properties})


def parse_gold(source: str, tools: list[ToolSpec], where: str) -> tuple[ParsedCall, ...]:
    """Parse gold calls written in Python syntax (untyped, as BFCL runs them); a failure is a
    data error naming ``where``."""
    parsed = parse_python_calls(source, [untyped(t) for t in tools])
    if isinstance(parsed, ActionError):
        raise ValueError(f"{where}: gold call {source!r} does not parse: {parsed.message}")
    return tuple(parsed)
