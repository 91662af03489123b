"""RLOO: each episode's return minus the mean return of the other episodes of its group."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .grpo import check_singleton
from .normalise import normalise
from .presets import with_presets
from .registry import register_estimator
from .result import AdvantageResult, finish, pool_report


@register_estimator("rloo")
@with_presets("rloo", paper={"singleton": "raw"})
def rloo_advantages(batch: TurnBatch, *, singleton: str = "zero") -> AdvantageResult:
    """RLOO, REINFORCE leave-one-out (Kool et al. 2019; Ahmadian et al. 2024,
    arXiv:2402.14740), over whole episodes.

    ``A_i = R_i - mean_{j in g, j != i} R_j = (n R_i - S) / (n - 1)`` with ``n`` the
    group's number of episodes and ``S`` the sum of their returns; every turn of episode
    ``i`` gets ``A_i``. A group with a single episode has no baseline: it gives 0 and is
    flagged degenerate. Groups whose returns have std < 1e-6 (all equal) are degenerate
    too and give exactly 0, as in ``norm`` (instead of rounding noise).

    ``preset="paper"`` follows verl's ``compute_rloo_outcome_advantage`` (registered as
    ``rloo``): the same formula, but a lone episode keeps its raw return
    (``singleton="raw"``; verl's ``rloo_vectorized`` gives it 0, as turngym does).

    Example: returns 1, 0, 2 in group 0 (n = 3, S = 3); group 1 is a single episode.

    >>> batch = TurnBatch.from_groups([[[0, 1], [0], [0, 0, 2]], [[1]]])
    >>> rloo_advantages(batch).advantages.tolist()
    [0.0, 0.0, -1.5, 1.5, 1.5, 1.5, 0.0]
    >>> rloo_advantages(batch, preset="paper").advantages.tolist()
    [0.0, 0.0, -1.5, 1.5, 1.5, 1.5, 1.0]
    """
    singleton = check_singleton(singleton)
    layout = batch.layout
    returns = layout.episode_sums(layout.rewards)
    stats = normalise(returns, layout.ep_group, layout.n_groups, norm="mean")
    n = stats.counts[layout.ep_group]
    adv = stats.values * (n / np.maximum(n - 1, 1))  # R - mean_others = n/(n-1) (R - mean)
    if singleton == "raw":
        adv = np.where(n == 1, returns, adv)
    report = pool_report("episode", stats, np.arange(layout.n_groups), layout)
    return finish(batch, "rloo", {"singleton": singleton}, adv[layout.episode], pools=[report])
