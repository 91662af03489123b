"""MAPO: a mix of turn-level and batch-level normalisation of Monte Carlo returns."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_gamma, check_norm, check_real, check_return_form
from .normalise import normalise
from .presets import with_presets
from .registry import register_estimator
from .result import AdvantageResult, finish, pool_report
from .returns import reverse_returns


@register_estimator("mapo")
@with_presets("mapo", paper={})
def mapo_advantages(
    batch: TurnBatch,
    *,
    alpha: float = 0.5,
    gamma: float = 1.0,
    return_form: str = "sum",
    norm: str = "std",
    norm_eps: float = 1e-6,
) -> AdvantageResult:
    """MAPO, Mixed Advantage Policy Optimization (Zhang et al. 2026, arXiv:2603.06194).

    ``A_{i,t} = alpha * norm(G_{i,t}; {G_{j,t} : j in g, T_j >= t})
    + (1 - alpha) * norm(G_{i,t}; all G in the batch)`` with ``G`` the return-to-go of
    ``turn_discounted`` (``return_form="min"``: ``min_{k>=t} r_{i,k}``). The batch pool is
    every turn's G in the batch; a turn pool with one episode is degenerate (0), with no
    fallback. ``alpha`` in [0, 1].

    ``preset="paper"`` equals ``"turngym"``: no code was published with the paper (arXiv
    2603.06194) to take conventions from.

    Example (gamma = 1): returns-to-go A = [2, 2], B = [0], C = [1, 0]. Turn 0 pool
    {2, 0, 1} gives [1, -1, 0]; turn 1 pool {2, 0} gives +-0.7071; the batch pool
    {2, 2, 0, 1, 0} has mean 1 and std 1.

    >>> batch = TurnBatch.from_groups([[[0, 2], [0], [1, 0]]])
    >>> mapo_advantages(batch).advantages.round(4).tolist()
    [1.0, 0.8536, -1.0, 0.0, -0.8536]
    """
    alpha = check_real("alpha", alpha, low=0.0, high=1.0)
    gamma = check_gamma(gamma)
    return_form = check_return_form(return_form)
    norm, norm_eps = check_norm(norm, norm_eps)
    layout = batch.layout

    returns = reverse_returns(layout.rewards, layout.remaining, gamma=gamma, form=return_form)
    turn = normalise(returns, layout.group_turn, layout.n_group_turn, norm=norm, eps=norm_eps)
    whole = normalise(returns, np.zeros(layout.n_turns, dtype=np.int64), 1, norm=norm, eps=norm_eps)
    adv = alpha * turn.values + (1.0 - alpha) * whole.values
    pools = [
        pool_report("turn", turn, layout.group_turn_group, layout, layout.group_turn_key),
        pool_report("batch", whole, np.zeros(1, dtype=np.int64), layout),
    ]
    params = {
        "alpha": alpha,
        "gamma": gamma,
        "return_form": return_form,
        "norm": norm,
        "norm_eps": norm_eps,
    }
    return finish(batch, "mapo", params, adv, pools=pools)
