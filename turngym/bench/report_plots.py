"""The report's plots, drawn with matplotlib (Agg) and returned as base64 PNG strings for ``<img>``.

Each function takes plain numbers (what :mod:`turngym.bench.stats` computed) and draws one figure:
interval estimates, performance profiles, pass@k / pass^k curves, training curves.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # the backend is chosen first
from matplotlib.ticker import MaxNLocator

PALETTE = plt.get_cmap("tab10").colors
TRAINING_CURVES: tuple[str, ...] = (
    "reward_mean", "outcome_mean", "success_rate", "loss", "advantage_std", "kl", "entropy",
    "clip_fraction", "belief_gain_mean", "valid_action_rate", "turns_mean", "seconds_total",
)


def color(index: int) -> tuple[float, float, float]:
    """The colour of the ``index``-th group, the same in every plot."""
    return tuple(PALETTE[index % len(PALETTE)])  # type: ignore[return-value]


def to_base64_png(fig: Any, dpi: int = 80) -> str:
    """The figure as a base64 PNG; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def interval_plot(labels: Sequence[str], metrics: Mapping[str, Sequence[Sequence[float]]]) -> str:
    """One panel per metric, one row per group: the point estimate and its interval.

    ``metrics`` maps a metric's title to one ``[value, low, high]`` per label.
    """
    names = list(metrics)
    height = 0.9 + 0.38 * len(labels)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names) + 2.5, height), sharey=True,
                             squeeze=False)
    rows = list(range(len(labels)))[::-1]
    for ax, name in zip(axes[0], names):
        for i, (row, triple) in enumerate(zip(rows, metrics[name])):
            value, low, high = triple
            ax.barh(row, high - low, left=low, height=0.6, color=color(i), alpha=0.55)
            ax.plot([value, value], [row - 0.3, row + 0.3], color="black", linewidth=1.5)
        ax.set_title(name, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlim(*_limits([v for t in metrics[name] for v in t]))
    axes[0][0].set_yticks(rows)
    axes[0][0].set_yticklabels(labels, fontsize=8)
    fig.tight_layout()
    return to_base64_png(fig)


def _limits(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(min(values), 0.0), max(max(values), 1.0)
    pad = 0.03 * (high - low or 1.0)
    return low - pad, high + pad


def profile_plot(panels: Mapping[str, Sequence[tuple[int, str, dict[str, Any]]]]) -> str:
    """Performance profiles, one panel per environment: ``{env: [(color index, label, profile dict)]}``."""
    fig, axes = _panels(len(panels))
    for ax, (env, curves) in zip(axes, panels.items()):
        for index, label, profile in curves:
            ax.plot(profile["taus"], profile["fraction"], color=color(index), label=label)
            ax.fill_between(profile["taus"], profile["low"], profile["high"], color=color(index), alpha=0.2)
        ax.set_title(env, fontsize=10)
        ax.set_xlabel("outcome threshold tau")
        ax.set_ylabel("fraction of runs with outcome > tau")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _finish(fig, axes, len(panels))


PassKCurve = tuple[int, str, Sequence[int], Sequence[float], Sequence[float]]


def pass_k_plot(panels: Mapping[str, Sequence[PassKCurve]]) -> str:
    """pass@k (solid) and pass^k (dashed) against k, one panel per environment.

    Each curve is ``(color index, label, ks, pass@k values, pass^k values)``.
    """
    fig, axes = _panels(len(panels))
    for ax, (env, curves) in zip(axes, panels.items()):
        for index, label, ks, at_k, hat_k in curves:
            ax.plot(ks, at_k, color=color(index), marker="o", markersize=3, label=f"{label} pass@k")
            ax.plot(ks, hat_k, color=color(index), marker="s", markersize=3, linestyle="--",
                    label=f"{label} pass^k")
        ax.set_title(env, fontsize=10)
        ax.set_xlabel("k (samples)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _finish(fig, axes, len(panels))


def training_plot(rows: Sequence[Mapping[str, Any]], keys: Sequence[str] = TRAINING_CURVES) -> str | None:
    """Each logged training metric against the step (``None`` when no metric has a number)."""
    present = [k for k in keys if any(_is_number(r.get(k)) for r in rows)]
    if not present:
        return None
    fig, axes = _panels(len(present), width=3.6, height=2.6, columns=4)
    for ax, key in zip(axes, present):
        points = [(r["step"], r[key]) for r in rows if _is_number(r.get(key)) and _is_number(r.get("step"))]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=2)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
    return _finish(fig, axes, len(present))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _panels(count: int, width: float = 5.0, height: float = 3.6, columns: int = 3) -> tuple[Any, list[Any]]:
    columns = max(1, min(columns, count))
    rows = max(1, math.ceil(count / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    return fig, list(axes.flat)


def _finish(fig: Any, axes: list[Any], used: int) -> str:
    for ax in axes[used:]:
        ax.axis("off")
    fig.tight_layout()
    return to_base64_png(fig)
