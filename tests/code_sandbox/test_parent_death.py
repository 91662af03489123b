"""No sandbox process outlives the process that started the sandbox, however that process ends.

A real parent process (a Python subprocess using the ``pool`` or ``process``
backend) starts a run of a program that sleeps for 1000 s and leaves a
detached child of its own; once both are running, the parent is ended by
SIGKILL, SIGTERM, SIGINT or an uncaught exception. Every process that
descended from the parent (supervisors, the candidate, its detached child) must
be gone a few seconds later. Processes are found by walking ``/proc`` and
compared by start time, so a reused pid is not mistaken for a survivor.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

GRACE_S = 15.0
"""How long after the parent's end a sandbox process may still exist."""

_PARENT = r'''
import os, sys, threading, time
from turngym.envs.code_sandbox import Sandbox

backend, how, marker = sys.argv[1:4]
sandbox = Sandbox(backend, timeout_s=300, allow_weak_isolation=True)
program = (  # PR_SET_NAME (15) names both processes for the test to find
    "import ctypes, os, time\n"
    "name = lambda: ctypes.CDLL(None).prctl(15, %r, 0, 0, 0)\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    name()\n"
    "    time.sleep(1000)\n"
    "name()\n"
    "time.sleep(1000)\n"
) % marker.encode()
threading.Thread(target=sandbox.run, args=(program,), daemon=True).start()
print("started", flush=True)
if how == "exception":
    sys.stdin.readline()  # the test says when both sandboxed processes run
    raise RuntimeError("the parent fails while a run is in flight")
time.sleep(1000)
'''


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[0].decode(), int(fields[19])


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root``: pid -> start time."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            stats[int(entry)] = stat
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _state, start) in stats.items():
            if ppid == parent and pid not in found:
                found[pid] = start
                frontier.append(pid)
    return found


def _survivors(processes: dict[int, int]) -> list[int]:
    alive = []
    for pid, start in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[2] == start and stat[1] != "Z":
            alive.append(pid)
    return alive


def _wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and parent-death signals are Linux's")
@pytest.mark.parametrize("backend, how", [
    ("pool", "SIGKILL"), ("process", "SIGKILL"),
    ("pool", "SIGTERM"), ("pool", "SIGINT"), ("pool", "exception"),
])
def test_no_sandbox_process_survives_its_parent(backend, how):
    marker = f"tg-{uuid.uuid4().hex[:8]}"
    repo = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, backend, how, marker], cwd=repo,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    tracked: dict[int, int] = {}
    try:
        assert parent.stdout is not None and parent.stdout.readline() == "started\n", parent.stderr
        both_running = _wait_for(
            lambda: sum(_comm(pid) == marker for pid in _descendants(parent.pid)) == 2, 120)
        tracked = _descendants(parent.pid)
        assert both_running, f"the sandboxed program did not start: {[_comm(p) for p in tracked]}"
        if how == "exception":
            assert parent.stdin is not None
            parent.stdin.write("go\n")
            parent.stdin.flush()
        else:
            parent.send_signal(getattr(signal, how))
        parent.wait(timeout=30)
        gone = _wait_for(lambda: not _survivors(tracked), GRACE_S)
        left = {pid: _comm(pid) for pid in _survivors(tracked)}
        assert gone, f"still running {GRACE_S:g} s after the parent ended ({how}): {left}"
        if how == "exception":
            assert "the parent fails" in (parent.stderr.read() if parent.stderr else "")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in _survivors(tracked):  # leave nothing behind, even when the test fails
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

