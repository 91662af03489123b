"""Metrics lines survive a kill, are trimmed on resume, and plot to a PNG."""

import sys
import types
from typing import ClassVar

import pytest

from turngym.trainers.metrics import MetricsLogger, plot_curves, read_metrics


def test_log_resume_trim_and_plot(tmp_path):
    logger = MetricsLogger(tmp_path)
    for step in range(1, 6):
        logger.log(step, {"reward_mean": step / 10, "kl": float("nan")})
    with (tmp_path / "metrics.jsonl").open("a") as handle:
        handle.write('{"step": 6, "rew')  # a kill mid-append
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5] and rows[0]["kl"] is None
    MetricsLogger(tmp_path, resume_step=3).log(4, {"reward_mean": 0.9})
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and rows[-1]["reward_mean"] == 0.9
    png = plot_curves(rows, tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class FakeWriter:
    """Stands in for TensorBoard's SummaryWriter: records how it was opened and what it got."""

    opened: ClassVar[list] = []

    def __init__(self, log_dir, purge_step=None):
        FakeWriter.opened.append(purge_step)
        self.scalars = []

    def add_scalar(self, key, value, step):
        self.scalars.append((key, value, step))

    def flush(self):
        pass

    def close(self):
        pass


def test_tensorboard_is_opened_with_purge_step_one_past_the_resume_step(tmp_path, monkeypatch):
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    monkeypatch.setattr(FakeWriter, "opened", [])
    MetricsLogger(tmp_path, tensorboard=True).log(1, {"reward_mean": 0.1})
    resumed = MetricsLogger(tmp_path, tensorboard=True, resume_step=3)
    resumed.log(4, {"reward_mean": 0.4})
    assert FakeWriter.opened == [1, 4]  # a fresh run hides stale events too; a resumed one from step 4
    assert resumed._writer.scalars == [("reward_mean", 0.4, 4)]


def test_tensorboard_keeps_one_value_per_step_after_resume(tmp_path):
    pytest.importorskip("tensorboard", reason="optional: purge_step checked where tensorboard is installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = MetricsLogger(tmp_path, tensorboard=True)
    for step in range(1, 6):
        logger.log(step, {"reward_mean": step / 10})
    logger.close()
    resumed = MetricsLogger(tmp_path, tensorboard=True, resume_step=3)
    for step in (4, 5):
        resumed.log(step, {"reward_mean": 1.0 + step})
    resumed.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    points = [(e.step, round(e.value, 4)) for e in events.Scalars("reward_mean")]
    assert points == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 5.0), (5, 6.0)]
