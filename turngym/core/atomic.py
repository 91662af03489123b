"""Atomic file writing: a file is written whole or not at all.

Everything turngym saves (trajectories, checkpoints, results) goes through
:func:`atomic_write`: the data goes to a temporary file beside the target,
which is flushed, synced and renamed over the target only on success. The file
gets the mode a plain ``open`` would give it (``0o666`` less the umask). A failure
or a kill leaves the target as it was; a killed writer may leave a hidden
``.NAME.*.tmp`` file, which no reader picks up.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on clean exit it replaces ``path`` atomically."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
        open_kwargs.setdefault("newline", "\n")
    with _replacing(path) as (fd, _):
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` for writers that need a file name rather than a handle
    (SQLite); on clean exit the file is synced and renamed over ``path``, as :func:`atomic_write` does."""
    with _replacing(path) as (fd, tmp):
        os.close(fd)
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())


@contextlib.contextmanager
def _replacing(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """A temporary file beside ``path`` (its descriptor and name), renamed over ``path`` when the
    block ends cleanly (the block syncs it first) and removed when it raises."""
    target = Path(path)
    fd, tmp = _temp_beside(target)
    try:
        yield fd, tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def _temp_beside(target: Path) -> tuple[int, str]:
    """A new hidden temporary file next to ``target``, with the mode a plain ``open`` would give."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a saved file gets open()'s usual mode
    return fd, tmp


def _umask() -> int:
    """The process's umask: from ``/proc`` on Linux (no race with other threads), else by setting
    it and straight back (the only portable way to read it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename in ``directory`` durable (best effort where the OS does not allow it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
