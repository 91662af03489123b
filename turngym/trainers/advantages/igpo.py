"""IGPO: information-gain turn rewards plus the outcome, normalised in the group, summed."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_choice, check_gamma, check_norm, check_real, check_return_form
from .normalise import normalise
from .registry import register_estimator
from .result import AdvantageResult, finish, pool_report
from .returns import reverse_returns

IGPO_MODES = ("joint", "separate")


@register_estimator("igpo")
def igpo_advantages(
    batch: TurnBatch,
    *,
    mode: str = "joint",
    lambda_ig: float = 1.0,
    lambda_out: float = 1.0,
    gamma: float = 1.0,
    return_form: str = "sum",
    norm: str = "std",
    norm_eps: float = 1e-6,
) -> AdvantageResult:
    """IGPO, Information Gain-based Policy Optimization (Wang et al. 2025, arXiv:2510.14967).

    Turn rewards ``r'_{i,t} = lambda_ig * IG_{i,t}`` for ``t < T_i`` and
    ``r'_{i,T_i} = lambda_out * r_{i,T_i}`` on the terminal turn (its IG is ignored); they
    are normalised over the group into ``z``, then
    ``A_{i,t} = sum_{k>=t} gamma^(k-t) z_{i,k}`` (``return_form="min"``:
    ``min_{k>=t} z_{i,k}``).

    * ``mode="joint"``: one pool per group holding every r' of the group's turns, IG turns
      and outcome turns together; exact zeros stay in the pool (pool kind ``"group"``).
    * ``mode="separate"``: the IG values of the group's non-terminal turns and the outcomes
      of its terminal turns (one per episode) are normalised apart (kinds ``"info_gain"``
      and ``"outcome"``).

    Needs ``info_gain``.

    Example (joint): A has r' = [1, 2], B has r' = [0, 0, 2]; the pool {1, 2, 0, 0, 2} has
    mean 1 and std 1, so z_A = [0, 1], z_B = [-1, -1, 1], summed from the end.

    >>> batch = TurnBatch.from_groups(
    ...     [[[0, 2], [0, 0, 2]]], info_gain=[[[1, 0], [0, 0, 0]]]
    ... )
    >>> igpo_advantages(batch).advantages.round(4).tolist()
    [1.0, 1.0, -1.0, 0.0, 1.0]
    >>> igpo_advantages(batch, mode="separate").advantages.round(4).tolist()
    [1.1547, 0.0, -1.1547, -0.5773, 0.0]
    """
    mode = check_choice("mode", mode, IGPO_MODES)
    lambda_ig = check_real("lambda_ig", lambda_ig)
    lambda_out = check_real("lambda_out", lambda_out)
    gamma = check_gamma(gamma)
    return_form = check_return_form(return_form)
    norm, norm_eps = check_norm(norm, norm_eps)
    info_gain = batch.require("info_gain", "igpo")
    layout = batch.layout

    turn_reward = np.where(layout.is_last, lambda_out * layout.rewards, lambda_ig * info_gain)
    groups = np.arange(layout.n_groups)
    if mode == "joint":
        stats = normalise(turn_reward, layout.group, layout.n_groups, norm=norm, eps=norm_eps)
        pools = [pool_report("group", stats, groups, layout)]
    else:
        pool = 2 * layout.group + layout.is_last
        stats = normalise(turn_reward, pool, 2 * layout.n_groups, norm=norm, eps=norm_eps)
        ig_pools = np.arange(2 * layout.n_groups) % 2 == 0
        pools = [
            pool_report("info_gain", stats, np.repeat(groups, 2), layout, used=ig_pools),
            pool_report("outcome", stats, np.repeat(groups, 2), layout, used=~ig_pools),
        ]
    adv = reverse_returns(stats.values, layout.remaining, gamma=gamma, form=return_form)
    params = {
        "mode": mode,
        "lambda_ig": lambda_ig,
        "lambda_out": lambda_out,
        "gamma": gamma,
        "return_form": return_form,
        "norm": norm,
        "norm_eps": norm_eps,
    }
    return finish(batch, "igpo", params, adv, pools=pools)
