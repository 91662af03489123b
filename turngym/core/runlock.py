"""One writer per run directory: an advisory lock the kernel drops when its process dies.

``turngym train`` and ``turngym eval`` hold :func:`run_lock` on their output
directory for as long as they write to it. A second process on the same
directory fails at once with :class:`RunLockedError` naming the holder's pid
and host; a lock left by a dead process is no lock at all (``flock`` locks die
with their file descriptor), so a stale lock file never blocks.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".turngym.lock"


class RunLockedError(RuntimeError):
    """Another live process writes to this run directory."""


@contextmanager
def run_lock(directory: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the exclusive lock of ``directory`` (created if missing) for the ``with`` block."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            raise RunLockedError(
                f"{root} is in use by another turngym process ({holder}); wait for it to finish, "
                "stop it, or choose another output directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


def _read_holder(fd: int) -> str:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {data.get('pid', '?')} on host {data.get('host', '?')}"
    except (OSError, ValueError):
        return "holder unknown"
