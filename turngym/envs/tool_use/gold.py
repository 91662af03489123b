"""The gold run of a task, computed once and shared by every episode of that task.

A stage's verdict compares the agent's back-ends with a run of the gold calls (BFCL's
state check) and the agent's results with the gold results (BFCL's response check). The
gold run depends on the task alone where the back-ends start from the task's initial state
and are deterministic (BFCL's seed their random generators from the scenario; wall-clock
times live in private attributes, which no check reads), as a catalog declares with
:attr:`~.tasks.Catalog.deterministic`. For such a catalog :func:`build_gold_run` runs
the gold calls once, keeping after every stage the results and the back-ends' state, and
episodes of the same task (a training group replays a task many times) read it instead of
running the gold calls again (a catalog not declared deterministic gets a live gold run
every episode instead). A :class:`GoldRun` is never modified: its back-end objects
are only read (compared), never called.

:class:`TaskCaches` holds these, the back-end templates and remembered state hashes in
bounded :class:`LRU` caches, one set per process (:data:`CACHES`) shared by every
environment, so that the copies of an environment a vectorised rollout makes share them
too. Entries are keyed by the catalog and task id and checked against the task itself, so
two environments with different tasks of the same id never mix them up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from turngym.envs.tool_use.backends import BackendTemplate, extend_history
from turngym.envs.tool_use.tasks import Stage

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class GoldRun:
    """The gold calls of a task run once, stage by stage (read-only; see the module docstring).

    Attributes (one entry per stage):
        results: the gold calls' results as the model would read them.
        states: every back-end's instance as it is after the stage's gold calls (objects
            shared by all episodes: only read).
        touched: the back-ends any gold call went to, up to and including the stage.
        digests: state hashes of ``states``, by (stage, back-end), filled in when first needed.
    """

    results: tuple[tuple[str, ...], ...]
    states: tuple[Mapping[str, Any], ...]
    touched: tuple[frozenset[str], ...]
    digests: dict[tuple[int, str], str] = field(default_factory=dict, compare=False)


def build_gold_run(template: BackendTemplate, stages: Sequence[Stage]) -> GoldRun:
    """Run every stage's gold calls on a fresh copy of ``template``, keeping each stage's state.

    A back-end's state after stage ``k`` is copied only if a later stage's gold calls go to
    it again; otherwise the live instance (never called again) serves.
    """
    backends = template.instantiate(lazy=True)
    owners = [{backends.routes.get(c.name) for c in stage.gold} - {None} for stage in stages]
    last_touch: dict[str, int] = {}
    for index, names in enumerate(owners):
        for name in names:
            last_touch[name] = index
    results: list[tuple[str, ...]] = []
    states: list[dict[str, Any]] = []
    touched: list[frozenset[str]] = []
    seen: set[str] = set()
    for index, stage in enumerate(stages):
        results.append(tuple(backends.execute(call)[0] for call in stage.gold))
        seen |= owners[index]
        touched.append(frozenset(seen))
        snapshot: dict[str, Any] = {}
        for name, instance in backends.instances.items():
            if last_touch.get(name, -1) <= index:
                snapshot[name] = instance  # no later gold call changes it
            elif index == 0 or name in owners[index]:
                snapshot[name] = template.copy_instance(instance)
            else:
                snapshot[name] = states[-1][name]  # unchanged since the last copy
        states.append(snapshot)
    return GoldRun(tuple(results), tuple(states), tuple(touched))


@dataclass(frozen=True)
class GoldHistories:
    """What the gold calls of a task do to each back-end's call history, stage by stage.

    Attributes (one entry per stage):
        after: per back-end, the digest (:func:`~.backends.extend_history`) of every gold call
            that went to it up to and including the stage.
        routed: whether every gold call of the stage goes to a back-end (a call of an unknown
            name has an error for a result but is in no history).
    """

    after: tuple[Mapping[str, bytes], ...]
    routed: tuple[bool, ...]


def gold_histories(routes: Mapping[str, str], names: Sequence[str], stages: Sequence[Stage]) -> GoldHistories:
    """The gold calls' histories of a task whose back-ends are ``names``, routed by ``routes``."""
    history = dict.fromkeys(names, b"")
    after: list[Mapping[str, bytes]] = []
    routed: list[bool] = []
    for stage in stages:
        every = True
        for call in stage.gold:
            owner = routes.get(call.name)
            if owner is None:
                every = False
            else:
                history[owner] = extend_history(history[owner], call)
        after.append(dict(history))
        routed.append(every)
    return GoldHistories(tuple(after), tuple(routed))


class LRU(Generic[K, V]):
    """A dict that keeps at most ``size`` entries, dropping the least recently used."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"an LRU cache holds at least 1 entry, got size={size!r}")
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Store ``value`` under ``key``, dropping the oldest entry when full."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self.size:
                self._data.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()


class TaskCaches:
    """What ToolUse environments compute once per task (see the module docstring).

    ``templates``, ``gold_runs`` and ``gold_histories`` map ``(id(catalog), task_id)`` to
    ``(catalog, task, value)``; ``played`` holds the keys of tasks played once; ``fingerprints`` maps
    ``(template id, back-end, call-history digest)`` to a back-end's state hash and
    ``(template id, "", every back-end's call-history digest)`` to the combined one;
    ``result_texts`` maps ``(template id, back-end, call-history digest ending with a call)``
    to the text of that call's dict result (see ``Backends.execute``). Gold runs, state hashes
    and result texts are kept only for catalogs declared deterministic (state hashes and
    texts only with ``lazy_gold`` on; see ``ToolUseEnv``).
    """

    def __init__(self, tasks: int = 256, fingerprints: int = 200_000, results: int = 50_000) -> None:
        self.templates: LRU[tuple[int, str], tuple[Any, Any, BackendTemplate]] = LRU(tasks)
        self.gold_runs: LRU[tuple[int, str], tuple[Any, Any, GoldRun]] = LRU(tasks)
        self.gold_histories: LRU[tuple[int, str], tuple[Any, Any, GoldHistories]] = LRU(tasks)
        self.played: LRU[tuple[int, str], bool] = LRU(32 * tasks)
        self.fingerprints: LRU[tuple[int, str, bytes | tuple[bytes, ...]], str] = LRU(fingerprints)
        self.result_texts: LRU[tuple[int, str, bytes], str] = LRU(results)

    def clear(self) -> None:
        """Forget everything (the next episode of every task is a first one again)."""
        for cache in (self.templates, self.gold_runs, self.gold_histories, self.played, self.fingerprints,
                      self.result_texts):
            cache.clear()


CACHES = TaskCaches()
"""The process's caches, shared by every ToolUseEnv."""


def clear_caches() -> None:
    """Empty :data:`CACHES` (for benchmarks of a task's first episode, and tests)."""
    CACHES.clear()
