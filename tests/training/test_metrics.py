"""Metrics lines survive a kill, are trimmed on resume, and plot to a PNG."""

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
