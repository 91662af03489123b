"""The ``process`` backend: each run gets a fresh supervisor process (see ``runner.py``).

:class:`Supervisor` is the host's handle on one ``runner.py serve`` process:
it starts it with a scrubbed environment, sends it requests and reads its
results, with a host-side deadline in case the supervisor itself stops
answering. :class:`ProcessBackend` starts one per run and stops it after;
:mod:`.pool` keeps several warm.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
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


class Supervisor:
    """One running ``runner.py serve`` process, answering one request at a time."""

    def __init__(self, python: str, isolate: bool, start_timeout_s: float = 30.0) -> None:
        args = [python, "-I", str(RUNNER), "serve"] + (["isolate"] if isolate else [])
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_SUPERVISOR_ENV,
            close_fds=True,
            cwd="/",
        )
        hello = self._receive(start_timeout_s)
        if hello is None or not hello.get("ready"):
            self.close()
            why = (hello or {}).get("error", "no answer")
            raise SandboxError(f"the sandbox supervisor did not start: {why}")
        self.isolation: dict[str, str] = hello["isolation"]

    @property
    def alive(self) -> bool:
        """Whether the supervisor process is still running."""
        return self.process.poll() is None

    def request(self, request: dict[str, Any], wait_s: float) -> dict[str, Any]:
        """Send one request; return the supervisor's result (or an ``{"error": ...}`` dict)."""
        data = json.dumps(request).encode()
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(struct.pack("<I", len(data)) + data)
            self.process.stdin.flush()
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
        fd = self.process.stdout.fileno()
        chunks: list[bytes] = []
        while n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, min(n, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Stop the supervisor (closing its input ends it; kill if it lingers)."""
        with contextlib.suppress(OSError):
            if self.process.stdin:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
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

    def __init__(self, python: str | None = None, isolate: bool = True) -> None:
        self.python = python or sys.executable
        self.isolate = isolate
        self.privileged = isolate and running_as_root()
        probe = Supervisor(self.python, isolate)
        self.isolation = dict(probe.isolation)
        probe.close()

    def execute(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request in a new supervisor."""
        workdir = prepare_request(request, self.privileged, private_uid())
        supervisor = Supervisor(self.python, self.isolate)
        try:
            return supervisor.request(request, float(request["timeout_s"]) + HOST_MARGIN_S)
        finally:
            supervisor.close()
            cleanup(workdir)

    def close(self) -> None:
        """Nothing stays running between runs."""
