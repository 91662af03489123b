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

:func:`state_fingerprint` gives a key of back-ends' whole state (private attributes too,
so a current directory counts), used as the anchor of GiGPO groups.
"""

from __future__ import annotations

import hashlib
import io
import pickle
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


class _FingerprintPickler(pickle.Pickler):
    """Pickles back-end objects as (class name, attributes without the volatile ones)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, random.Random):
            # A generator counts by its state: 625 ints, pickled each time they cost more than the
            # rest of a back-end, so they count by their hash (ints hash the same in every process).
            version, internal, gauss_next = obj.getstate()
            return (_Node, ("random.Random",), (version, hash(internal), gauss_next))
        if hasattr(obj, "__dict__") and not isinstance(obj, type):
            attributes = {k: v for k, v in vars(obj).items() if k not in VOLATILE_ATTRIBUTES}
            return (_Node, (type(obj).__qualname__,), attributes)
        return NotImplemented


class _Node:
    """Stand-in type named in fingerprints (never unpickled)."""

    def __init__(self, name: str) -> None:
        self.name = name


def state_fingerprint(instances: Mapping[str, Any]) -> str:
    """A 16-hex-digit key of the back-ends' whole state (private attributes too, so that a
    current directory counts): equal keys, equal states.

    The objects are pickled (cycles such as a directory's parent and shared objects are
    back-references; random generators, wherever they are, count by their state) with the attributes in
    :data:`VOLATILE_ATTRIBUTES` left out, then hashed. Runs that reach the same state by the
    same calls get the same key; reaching it by other calls may give another key (dict
    order), which only splits a group, never merges different states.
    """
    buffer = io.BytesIO()
    pickler = _FingerprintPickler(buffer, protocol=5)
    for name in sorted(instances):
        pickler.dump(name)
        pickler.dump(instances[name])
    return hashlib.blake2b(buffer.getvalue(), digest_size=8).hexdigest()
