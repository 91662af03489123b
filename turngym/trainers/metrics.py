"""Per-step training metrics: JSON lines, optional TensorBoard, and a PNG of the curves.

``metrics.jsonl`` gets one object per step, appended and flushed as the step
ends, so a killed run keeps every finished step. On resume, lines after the
checkpoint's step are dropped (they belong to the abandoned future) by
rewriting the file atomically. TensorBoard is opened with ``purge_step`` one
past the resume step (1 for a fresh run), so its reader hides the abandoned
events in the same way and each step keeps one value per metric.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from turngym.core.atomic import atomic_write

CURVES: tuple[str, ...] = (
    "reward_mean", "success_rate", "advantage_std", "kl", "entropy", "clip_fraction", "seconds_total",
)


class MetricsLogger:
    """Appends step metrics to ``<run>/metrics.jsonl`` (and TensorBoard when asked and installed)."""

    def __init__(self, run_dir: str | Path, *, tensorboard: bool = False, resume_step: int | None = None):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            kept = [row for row in read_metrics(self.path) if row.get("step", 0) <= resume_step]
            with atomic_write(self.path) as handle:
                for row in kept:
                    handle.write(json.dumps(row) + "\n")
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        self._writer = None
        self.tensorboard_error: str | None = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(
                    log_dir=str(Path(run_dir) / "tensorboard"), purge_step=(resume_step or 0) + 1
                )
            except Exception as exc:  # optional: say why it is off, never fail a run for it
                self.tensorboard_error = f"TensorBoard logging is off: {exc}"

    def log(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Record one step (non-finite numbers are written as null)."""
        row = {"step": step, **{k: _clean(v) for k, v in metrics.items()}}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
        if self._writer is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key != "step":
                    self._writer.add_scalar(key, value, step)
            self._writer.flush()

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self._writer is not None:
            self._writer.close()


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a metrics file; a torn last line (a kill mid-append) is skipped."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def plot_curves(rows: Sequence[Mapping[str, Any]], path: str | Path, keys: Sequence[str] = CURVES) -> Path:
    """Draw each available metric against the step into one PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [k for k in keys if any(isinstance(r.get(k), (int, float)) for r in rows)]
    columns = 3
    count = max(1, len(present))
    rows_of_plots = math.ceil(count / columns)
    fig, axes = plt.subplots(rows_of_plots, columns, figsize=(12, 3.2 * rows_of_plots), squeeze=False)
    for ax, key in zip(axes.flat, present):
        points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=90)
    plt.close(fig)
    return Path(path)
