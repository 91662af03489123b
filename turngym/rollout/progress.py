"""A progress bar of finished episodes: count, running success rate, elapsed time and ETA."""

from __future__ import annotations

from typing import Any

from turngym.core.trajectory import EpisodeRecord
from turngym.rollout.metrics import is_success


class EpisodeProgress:
    """``with EpisodeProgress(total, enabled) as bar: bar.done(record)`` (does nothing when disabled)."""

    def __init__(self, total: int, enabled: bool = True, description: str = "episodes",
                 console: Any | None = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("success {task.fields[success]}"), TextColumn("failed {task.fields[failed]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            disable=not enabled, console=console,
        )
        self._task = self._progress.add_task(description, total=total, success="-", failed=0)
        self._finished = 0
        self._successes = 0
        self._failed = 0

    def __enter__(self) -> EpisodeProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def done(self, record: EpisodeRecord) -> None:
        """Count one finished episode."""
        self._finished += 1
        self._successes += is_success(record)
        self._failed += record.status != "ok"
        self._progress.update(
            self._task, completed=self._finished,
            success=f"{self._successes / self._finished:.0%}", failed=self._failed,
        )
