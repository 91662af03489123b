"""The ``pool`` backend: pre-started supervisors, so a run does not pay interpreter start-up.

Each worker is a ``runner.py serve`` process that has already set up its
namespaces and imported the common standard-library modules; for every program
it forks a fresh candidate process that confines itself (own session, own
tmpfs working directory, private uid, rlimits) exactly as the ``process``
backend's does. Isolation between candidates therefore does not depend on the
worker: nothing a candidate does survives its own process (its processes are
killed by session and by uid before the next candidate starts), and the
worker itself runs as another user the candidate cannot signal or ptrace.
A worker that dies is replaced on the next run. :meth:`PoolBackend.close`
stops every worker, busy ones included (their runs end with them).
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import Any

from turngym.envs.code_sandbox.process_backend import (
    HOST_MARGIN_S,
    Supervisor,
    cleanup,
    prepare_request,
    private_uid,
    root_plan,
    running_as_root,
)


class PoolBackend:
    """``workers`` warm supervisors; ``execute`` is thread-safe and runs up to ``workers`` at once."""

    name = "pool"

    def __init__(self, workers: int = 2, python: str | None = None, isolate: bool = True,
                 packages: tuple[str, ...] = ()) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        self.python = python or sys.executable
        self.isolate = isolate
        self.privileged = isolate and running_as_root()
        self.plan = root_plan(self.python, tuple(packages)) if self.privileged else None
        self.workers = workers
        self._idle: queue.Queue[tuple[Supervisor, int]] = queue.Queue()
        self._lock = threading.Lock()
        self._all: set[Supervisor] = set()
        self._closed = False
        try:
            first = self._start()
            self.isolation = dict(first[0].isolation)
            self._idle.put(first)
            for _ in range(workers - 1):
                self._idle.put(self._start())
        except BaseException:
            self.close()
            raise

    def _start(self) -> tuple[Supervisor, int]:
        supervisor = Supervisor(self.python, self.isolate, self.plan)
        with self._lock:
            self._all.add(supervisor)
        return supervisor, private_uid()

    def _forget(self, supervisor: Supervisor) -> None:
        supervisor.close()
        with self._lock:
            self._all.discard(supervisor)

    def execute(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request on an idle worker (waiting for one if all are busy)."""
        if self._closed:
            raise RuntimeError("this sandbox pool is closed")
        supervisor, uid = self._idle.get()
        if not supervisor.alive:
            self._forget(supervisor)
            supervisor, uid = self._start()
        workdir = prepare_request(request, self.privileged, uid)
        try:
            return supervisor.request(request, float(request["timeout_s"]) + HOST_MARGIN_S)
        finally:
            cleanup(workdir)
            self._idle.put((supervisor, uid))

    def close(self) -> None:
        """Stop every worker, including those in the middle of a run (idempotent)."""
        self._closed = True
        with self._lock:
            supervisors, self._all = list(self._all), set()
        for supervisor in supervisors:
            supervisor.close()
