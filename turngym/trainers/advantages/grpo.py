"""GRPO: each episode's return normalised within its group, given to every turn of it."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_choice, check_norm
from .normalise import normalise
from .presets import with_presets
from .registry import register_estimator
from .result import AdvantageResult, PoolReport, finish, pool_report

SINGLETON_MODES = ("zero", "raw")


def episode_advantage(
    batch: TurnBatch, norm: str, eps: float, singleton: str = "zero"
) -> tuple[np.ndarray, PoolReport]:
    """``norm(R_i; {R_j : j in g})`` for every row (canonical order), and its pool report.

    One value per episode enters the pool (statistics over episodes, not rows:
    verl-agent #138), and every turn of the episode receives it (SkyRL #1492).
    ``singleton="raw"`` gives the lone episode of a group what verl's code gives it (mean
    0, std 1): ``R / (1 + eps)`` (``norm="std"``) or ``R`` (``norm="mean"``); ``"zero"``
    gives 0. Either way the pool is reported degenerate.
    """
    layout = batch.layout
    returns = layout.episode_sums(layout.rewards)
    stats = normalise(returns, layout.ep_group, layout.n_groups, norm=norm, eps=eps)
    report = pool_report("episode", stats, np.arange(layout.n_groups), layout)
    values = stats.values
    if singleton == "raw":
        alone = stats.counts[layout.ep_group] == 1
        values = np.where(alone, returns / (1.0 + eps) if norm == "std" else returns, values)
    return values[layout.episode], report


def check_singleton(singleton: object) -> str:
    """Check ``singleton``: ``"zero"`` (turngym) or ``"raw"`` (verl's mean 0, std 1)."""
    return check_choice("singleton", singleton, SINGLETON_MODES)


@register_estimator("grpo")
@with_presets("grpo", paper={"singleton": "raw"})
def grpo_advantages(
    batch: TurnBatch, *, norm: str = "std", norm_eps: float = 1e-6, singleton: str = "zero"
) -> AdvantageResult:
    """GRPO (Shao et al. 2024, DeepSeekMath, arXiv:2402.03300), applied to whole episodes.

    ``A_{i,t} = norm(R_i; {R_j : j in g})`` with ``R_i = sum_t r_{i,t}``: the statistics
    are over the group's episodes (one value each, however long the episode), and every
    turn of episode ``i`` gets the same value. ``norm="std"``: ``(x - mean)/(std + eps)``,
    std with ddof=1; ``norm="mean"``: ``x - mean`` (Dr. GRPO). Degenerate groups (a single
    episode, or std < 1e-6, e.g. all rewards equal) give 0 and are listed in
    ``diagnostics["pools"]["episode"]``.

    ``preset="paper"`` follows verl's ``compute_grpo_outcome_advantage``: the same
    sample std and ``std + eps`` placement, but a group with a single episode keeps its
    return (``singleton="raw"``: verl sets mean 0, std 1, so ``A = R / (1 + eps)``).
    turngym's default gives it 0, because a lone episode has no baseline and its raw return
    is not an advantage (it is positive for any success). Equal returns give exact zeros
    under both presets (verl divides float32 rounding noise by eps there).

    Example: group 0 has returns 1, 0, 2 (mean 1, std 1), group 1 a single episode.

    >>> batch = TurnBatch.from_groups([[[0, 1], [0], [0, 0, 2]], [[1]]])
    >>> res = grpo_advantages(batch)
    >>> res.advantages.round(4).tolist()
    [0.0, 0.0, -1.0, 1.0, 1.0, 1.0, 0.0]
    >>> res.diagnostics["pools"]["episode"].degenerate_group_ids.tolist()
    [1]
    >>> grpo_advantages(batch, preset="paper").advantages.round(4).tolist()
    [0.0, 0.0, -1.0, 1.0, 1.0, 1.0, 1.0]
    """
    norm, norm_eps = check_norm(norm, norm_eps)
    singleton = check_singleton(singleton)
    adv, report = episode_advantage(batch, norm, norm_eps, singleton)
    params = {"norm": norm, "norm_eps": norm_eps, "singleton": singleton}
    return finish(batch, "grpo", params, adv, pools=[report])
