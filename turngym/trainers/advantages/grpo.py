"""GRPO: each episode's return normalised within its group, given to every turn of it."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_norm
from .normalise import normalise
from .registry import register_estimator
from .result import AdvantageResult, PoolReport, finish, pool_report


def episode_advantage(batch: TurnBatch, norm: str, eps: float) -> tuple[np.ndarray, PoolReport]:
    """``norm(R_i; {R_j : j in g})`` for every row (canonical order), and its pool report.

    One value per episode enters the pool (statistics over episodes, not rows:
    verl-agent #138), and every turn of the episode receives it (SkyRL #1492).
    """
    layout = batch.layout
    returns = layout.episode_sums(layout.rewards)
    stats = normalise(returns, layout.ep_group, layout.n_groups, norm=norm, eps=eps)
    report = pool_report("episode", stats, np.arange(layout.n_groups), layout)
    return stats.values[layout.episode], report


@register_estimator("grpo")
def grpo_advantages(
    batch: TurnBatch, *, norm: str = "std", norm_eps: float = 1e-6
) -> AdvantageResult:
    """GRPO (Shao et al. 2024, DeepSeekMath, arXiv:2402.03300), applied to whole episodes.

    ``A_{i,t} = norm(R_i; {R_j : j in g})`` with ``R_i = sum_t r_{i,t}``: the statistics
    are over the group's episodes (one value each, however long the episode), and every
    turn of episode ``i`` gets the same value. ``norm="std"``: ``(x - mean)/(std + eps)``,
    std with ddof=1; ``norm="mean"``: ``x - mean``. Degenerate groups (a single episode,
    or std < 1e-6, e.g. all rewards equal) give 0 and are listed in
    ``diagnostics["pools"]["episode"]``.

    Example: group 0 has returns 1, 0, 2 (mean 1, std 1), group 1 a single episode.

    >>> batch = TurnBatch.from_groups([[[0, 1], [0], [0, 0, 2]], [[1]]])
    >>> res = grpo_advantages(batch)
    >>> res.advantages.round(4).tolist()
    [0.0, 0.0, -1.0, 1.0, 1.0, 1.0, 0.0]
    >>> res.diagnostics["pools"]["episode"].degenerate_group_ids.tolist()
    [1]
    """
    norm, norm_eps = check_norm(norm, norm_eps)
    adv, report = episode_advantage(batch, norm, norm_eps)
    params = {"norm": norm, "norm_eps": norm_eps}
    return finish(batch, "grpo", params, adv, pools=[report])
