"""The ``process`` backend: each run gets a fresh supervisor process (see ``runner.py``).

:class:`Supervisor` is the host's handle on one ``runner.py serve`` process:
it starts it with a scrubbed environment, sends it requests and reads its
results, with a host-side deadline in case the supervisor itself stops
answering. :class:`ProcessBackend` starts one per run and stops it after;
:mod:`.pool` keeps several warm.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

RUNNER = Path(__file__).with_name("runner.py")
HOST_MARGIN_S = 5.0
"""Extra seconds the host waits beyond a run's own wall-clock limit before giving up on a supervisor."""

_SUPERVISOR_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


class SandboxError(RuntimeError):
    """The sandbox itself could not be set up (not a failure of the program run in it)."""


def running_as_root() -> bool:
    """Whether namespaces, mounts and private uids are available (we are root on Linux)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def private_uid() -> int:
    """An unused-looking uid for one run or worker: far above any real account."""
    return random.SystemRandom().randrange(200_000, 2_000_000_000)


_spawner: ThreadPoolExecutor | None = None
_spawner_pid = 0
_spawner_lock = threading.Lock()


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    """Start a supervisor from one long-lived thread.

    A supervisor's parent-death signal fires when the *thread* that started it
    ends, so supervisors are never started from short-lived threads (such as
    those of :meth:`Sandbox.run_many`), where they would be killed with them.
    """
    global _spawner, _spawner_pid
    with _spawner_lock:
        if _spawner is None or _spawner_pid != os.getpid():  # a forked child has no spawner thread
            _spawner = ThreadPoolExecutor(1, thread_name_prefix="turngym-sandbox-spawner")
            _spawner_pid = os.getpid()
        spawner = _spawner
    return spawner.submit(
        subprocess.Popen, args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=_SUPERVISOR_ENV, close_fds=True, cwd="/",
    ).result()


@functools.lru_cache(maxsize=16)
def root_plan(python: str, packages: tuple[str, ...]) -> dict[str, Any]:
    """What the minimal root holds for ``python`` and ``packages`` (computed once per pair).

    Raises:
        SandboxError: a package is not installed for ``python``, is part of the
            standard library, or the plan could not be made (e.g. no ``ldd``).
    """
    for name in packages:
        if not isinstance(name, str) or not name.isidentifier():
            raise SandboxError(f"packages must be top-level import names such as 'numpy', got {name!r}")
    result = subprocess.run([python, "-I", str(RUNNER), "plan", json.dumps(list(packages))],
                            capture_output=True, text=True, env=_SUPERVISOR_ENV, check=False, cwd="/")
    try:
        plan = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise SandboxError(f"could not plan the sandbox's root: {result.stderr.strip()[-500:]}") from None
    if "error" in plan:
        raise SandboxError(f"could not plan the sandbox's root: {plan['error']}")
    return plan


class Supervisor:
    """One running ``runner.py serve`` process, answering one request at a time."""

    def __init__(self, python: str, isolate: bool, plan: dict[str, Any] | None = None,
                 start_timeout_s: float = 30.0) -> None:
        self.process = _spawn([python, "-I", str(RUNNER), "serve", str(os.getpid())])
        hello = None
        try:
            assert self.process.stdin is not None
            self._write({"isolate": isolate, "root": plan})
            hello = self._receive(start_timeout_s)
        except OSError:
            pass
        if hello is None or not hello.get("ready"):
            self.close()
            why = (hello or {}).get("error", "no answer")
            raise SandboxError(f"the sandbox supervisor did not start: {why}")
        self.isolation: dict[str, str] = hello["isolation"]

    def _write(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(struct.pack("<I", len(data)) + data)
        self.process.stdin.flush()

    @property
    def alive(self) -> bool:
        """Whether the supervisor process is still running."""
        return self.process.poll() is None

    def request(self, request: dict[str, Any], wait_s: float) -> dict[str, Any]:
        """Send one request; return the supervisor's result (or an ``{"error": ...}`` dict)."""
        try:
            self._write(request)
        except (BrokenPipeError, OSError) as exc:
            self.close()
            return {"error": f"the sandbox supervisor is gone ({exc})"}
        reply = self._receive(wait_s)
        if reply is None:
            self.close()
            return {"error": "the sandbox supervisor stopped answering"}
        return reply

    def _receive(self, wait_s: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + wait_s
        head = self._read_exact(4, deadline)
        if head is None:
            return None
        body = self._read_exact(struct.unpack("<I", head)[0], deadline)
        return None if body is None else json.loads(body)

    def _read_exact(self, n: int, deadline: float) -> bytes | None:
        assert self.process.stdout is not None
        try:
            fd = self.process.stdout.fileno()
        except ValueError:  # closed by close()
            return None
        chunks: list[bytes] = []
        while n:
            left = deadline - time.monotonic()
            try:
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    return None
                chunk = os.read(fd, min(n, 1 << 20))
            except (OSError, ValueError):  # closed under us by close() from another thread
                return None
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def close(self, wait_s: float = 2.0) -> None:
        """Stop the supervisor (closing its input ends it and its run; kill if it lingers)."""
        with contextlib.suppress(OSError):
            if self.process.stdin:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            with contextlib.suppress(OSError):
                self.process.stdout.close()


def prepare_request(request: dict[str, Any], privileged: bool, uid: int | None) -> str | None:
    """Fill in where the program runs; return a host directory to remove afterwards, if any."""
    if privileged:
        request["private_tmp"] = True
        request["uid"] = uid
        return None
    workdir = tempfile.mkdtemp(prefix="turngym-sandbox-")
    request["workdir"] = workdir
    request["uid"] = None
    return workdir


def cleanup(workdir: str | None) -> None:
    """Remove a host working directory created by :func:`prepare_request`."""
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)


class ProcessBackend:
    """A fresh supervisor (a new interpreter) for every run."""

    name = "process"

    def __init__(self, python: str | None = None, isolate: bool = True,
                 packages: tuple[str, ...] = ()) -> None:
        self.python = python or sys.executable
        self.isolate = isolate
        self.privileged = isolate and running_as_root()
        self.plan = root_plan(self.python, tuple(packages)) if self.privileged else None
        probe = Supervisor(self.python, isolate, self.plan)
        self.isolation = dict(probe.isolation)
        probe.close()

    def execute(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request in a new supervisor."""
        workdir = prepare_request(request, self.privileged, private_uid())
        supervisor = Supervisor(self.python, self.isolate, self.plan)
        try:
            return supervisor.request(request, float(request["timeout_s"]) + HOST_MARGIN_S)
        finally:
            supervisor.close()
            cleanup(workdir)

    def close(self) -> None:
        """Nothing stays running between runs."""
