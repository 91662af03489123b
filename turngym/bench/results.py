"""A run's results file: episodes appended as they finish, each line whole, a torn tail cut on resume.

Each episode is one JSON line written with a single ``write`` and flushed to disk
(``fsync``) before the next starts, so a run killed at any moment (``kill -9``
included) leaves every finished episode intact and at most one torn last line,
which :meth:`ResultsFile.load` cuts off (with a warning) so the resumed run
plays that episode again. A torn or corrupt line anywhere else is not a crash
artefact: it is refused with the file and line named.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from turngym.core.trajectory import EpisodeRecord, dumps_episode, loads_episode


class ResultsError(ValueError):
    """The results file is damaged somewhere other than its last line."""


class ResultsFile:
    """Append-only JSON lines of :class:`EpisodeRecord`; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self, *, repair: bool = True) -> list[EpisodeRecord]:
        """Every whole episode in the file. A torn last line (no newline) is cut off when ``repair``,
        else skipped with a warning and left in place."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            body, tail = data[:-1], b""
        else:
            body, _, tail = data.rpartition(b"\n")
        records: list[EpisodeRecord] = []
        for number, raw in enumerate(body.split(b"\n") if body else [], start=1):
            if raw.strip():
                records.append(self._parse(raw, number))
        if tail:
            number = body.count(b"\n") + (2 if body else 1)
            try:
                records.append(self._parse(tail, number))
                if repair:  # whole, only the newline missing: make it a proper line
                    with self.path.open("ab") as handle:
                        handle.write(b"\n")
            except ResultsError as exc:
                if not repair:  # reading only: leave the file as it is
                    warnings.warn(f"{exc}; skipped as a torn last line (a resumed run replays it)",
                                  stacklevel=2)
                    return records
                warnings.warn(f"{exc}; cut off as a torn last line: that episode will be played again",
                              stacklevel=2)
                with self.path.open("r+b") as handle:
                    handle.truncate(len(data) - len(tail))
        return records

    def _parse(self, raw: bytes, number: int) -> EpisodeRecord:
        try:
            return loads_episode(raw)
        except ValueError as exc:
            raise ResultsError(f"{self.path}:{number}: not a valid episode record: {exc}") from exc

    def append(self, record: EpisodeRecord) -> None:
        """Write one episode as one line and flush it to disk before returning."""
        line = (dumps_episode(record) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            view = memoryview(line)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
