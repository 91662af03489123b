"""Stage checks for stateful tool use, as the Berkeley Function Calling Leaderboard defines them.

BFCL's multi-turn checker (``bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker``)
judges a user turn (a *stage*) with a non-empty gold answer by two checks, both here as
pure functions over back-end objects and result strings:

* **state check** (:func:`state_check`): every public attribute (name not starting with
  ``_``) of every gold back-end equals the same attribute of the agent's back-end, the
  agent's back-ends having run all the agent's calls so far and the gold ones all gold
  calls so far;
* **response check** (:func:`response_check`): the results of this stage's gold calls are
  an unordered sub-multiset of *all* results the agent obtained so far (in any stage: an
  agent may have fetched something earlier).

A stage with gold calls fails at once when the agent made no call in it. A stage with no
gold call is not checked (BFCL's leaderboard verdict); :func:`irrelevance_check` says
whether the agent correctly made no call there, for those who want it stricter.

:func:`state_fingerprint` gives a canonical key of back-ends' whole state (private
attributes too, so a current directory counts), used as the anchor of GiGPO groups.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

VOLATILE_ATTRIBUTES = frozenset({"_last_modified", "_api_description"})
"""Attributes left out of fingerprints: wall-clock times and constant descriptions."""


def public_state(instance: Any) -> dict[str, Any]:
    """The attributes BFCL compares: ``vars(instance)`` without names starting with ``_``."""
    return {k: v for k, v in vars(instance).items() if not k.startswith("_")}


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict and, when it fails, what differed."""

    passed: bool
    details: dict[str, Any] = field(default_factory=dict)


def state_check(agent: Mapping[str, Any], gold: Mapping[str, Any]) -> CheckResult:
    """Every public attribute of every gold back-end equals the agent's (BFCL's state check).

    ``agent`` and ``gold`` map a back-end's class name to its instance. The details name
    each differing ``"Class.attribute"`` with both values.
    """
    differences: dict[str, Any] = {}
    for name, gold_instance in gold.items():
        agent_instance = agent.get(name)
        if agent_instance is None:
            differences[name] = {"agent": None, "gold": "instance"}
            continue
        for attribute, gold_value in public_state(gold_instance).items():
            missing = object()
            agent_value = getattr(agent_instance, attribute, missing)
            if agent_value is missing or agent_value != gold_value:
                differences[f"{name}.{attribute}"] = {
                    "agent": None if agent_value is missing else agent_value, "gold": gold_value,
                }
    return CheckResult(not differences, {"differences": differences} if differences else {})


def response_check(agent_results: Iterable[str], gold_results: Iterable[str]) -> CheckResult:
    """The gold results are an unordered sub-multiset of the agent's (BFCL's response check).

    >>> response_check(["a", "b", "b"], ["b", "a"]).passed
    True
    >>> response_check(["a"], ["a", "a"]).details
    {'missing': ['a']}
    """
    available = Counter(agent_results)
    missing = []
    for item in gold_results:
        if available[item] > 0:
            available[item] -= 1
        else:
            missing.append(item)
    return CheckResult(not missing, {"missing": missing} if missing else {})


def irrelevance_check(n_agent_calls: int, n_gold_calls: int) -> CheckResult:
    """For a stage with no gold call: the agent made none either (BFCL's irrelevance check)."""
    passed = n_gold_calls > 0 or n_agent_calls == 0
    return CheckResult(passed, {} if passed else {"calls_made": n_agent_calls})


def state_fingerprint(instances: Mapping[str, Any]) -> str:
    """A canonical 16-hex-digit key of the back-ends' state: equal keys, equal states.

    Dict keys are sorted, shared objects and cycles (a directory's parent) are encoded as
    back-references, random generators by their state, and :data:`VOLATILE_ATTRIBUTES`
    are skipped, so two runs that reach the same state by different calls get one key.
    """
    digest = hashlib.blake2b(digest_size=8)
    seen: dict[int, int] = {}
    alive: list[Any] = []  # keeps walked objects (and temporaries) alive so their ids stay unique

    def emit(text: str) -> None:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")

    def walk(value: Any) -> None:
        if value is None or isinstance(value, (bool, int, float, str)):
            emit(f"{type(value).__name__}:{value!r}")
            return
        ident = id(value)
        if ident in seen:
            emit(f"ref:{seen[ident]}")
            return
        seen[ident] = len(seen)
        alive.append(value)
        if isinstance(value, Mapping):
            emit(f"map:{len(value)}")
            for key in sorted(value, key=repr):
                walk(key)
                walk(value[key])
        elif isinstance(value, (list, tuple)):
            emit(f"{type(value).__name__}:{len(value)}")
            for item in value:
                walk(item)
        elif isinstance(value, (set, frozenset)):
            emit(f"set:{len(value)}")
            for item in sorted(value, key=repr):
                walk(item)
        elif isinstance(value, random.Random):
            emit("rng:" + hashlib.blake2b(repr(value.getstate()).encode(), digest_size=8).hexdigest())
        elif hasattr(value, "__dict__"):
            emit(f"obj:{type(value).__qualname__}")
            attributes = {k: v for k, v in vars(value).items() if k not in VOLATILE_ATTRIBUTES}
            walk(attributes)
        else:
            emit(f"{type(value).__qualname__}:{value!r}")

    walk({name: instances[name] for name in sorted(instances)})
    return digest.hexdigest()
