"""IGPO: information-gain turn rewards plus the outcome, normalised in the group, summed."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_choice, check_gamma, check_norm, check_real, check_return_form
from .normalise import normalise
from .presets import with_presets
from .registry import register_estimator
from .result import AdvantageResult, finish, pool_report
from .returns import reverse_returns

IGPO_MODES = ("joint", "separate")
STD_FORMS = ("sample", "population")
ZERO_IG = ("keep", "exclude")

IGPO_PAPER = {"std": "population", "var_eps": 1e-8, "zero_ig": "exclude"}
"""The IGPO authors' ``compute_grpo_outcome_advantage`` (``compute_group_stats``)."""


@register_estimator("igpo")
@with_presets("igpo", paper=IGPO_PAPER)
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
    std: str = "sample",
    var_eps: float = 0.0,
    zero_ig: str = "keep",
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

    Normalisation: ``z = (x - mean) / (sqrt(var + var_eps) + norm_eps)`` with ``var`` the
    sample (``std="sample"``) or population (``"population"``) variance of the pool.
    ``zero_ig="exclude"`` leaves non-terminal turns whose IG is exactly 0 out of the pools
    and gives them ``z = 0`` (the outcome is always pooled, even when it is 0).

    ``preset="paper"`` follows the IGPO authors' code (``compute_group_stats`` in their
    ``core_algos.py``, Feb 2026 release): population variance with 1e-8 inside the square
    root, then ``+ 1e-6`` (``std="population", var_eps=1e-8``), and zero IG left out
    (``zero_ig="exclude"``: their IG mask is ``reward != 0``). Their code's default is
    ``mode="joint"`` and its training script uses ``separate``; pass ``mode`` as needed.
    turngym's defaults keep exact zeros in the pool (a turn that retrieved nothing useful
    is evidence too, and is compared with its peers rather than skipped) and use the sample
    std, as every other estimator here does. With ``gamma < 1`` their code also gives a
    zero-IG turn the next turn's advantage undiscounted (turn ends are found where the
    normalised reward is non-zero); turngym discounts it like any turn (identical at their
    ``gamma = 1``).

    Example (joint): A has r' = [1, 2], B has r' = [0, 0, 2]; the pool {1, 2, 0, 0, 2} has
    mean 1 and std 1, so z_A = [0, 1], z_B = [-1, -1, 1], summed from the end.

    >>> batch = TurnBatch.from_groups(
    ...     [[[0, 2], [0, 0, 2]]], info_gain=[[[1, 0], [0, 0, 0]]]
    ... )
    >>> igpo_advantages(batch).advantages.round(4).tolist()
    [1.0, 1.0, -1.0, 0.0, 1.0]
    >>> igpo_advantages(batch, mode="separate").advantages.round(4).tolist()
    [1.1547, 0.0, -1.1547, -0.5773, 0.0]

    With the paper preset B's two zero IGs leave the pool {1, 2, 2} (mean 5/3, population
    std 0.4714): z_A = [-1.4142, 0.7071], z_B = [0, 0, 0.7071].

    >>> igpo_advantages(batch, preset="paper").advantages.round(4).tolist()
    [-0.7071, 0.7071, 0.7071, 0.7071, 0.7071]
    """
    mode = check_choice("mode", mode, IGPO_MODES)
    lambda_ig = check_real("lambda_ig", lambda_ig)
    lambda_out = check_real("lambda_out", lambda_out)
    gamma = check_gamma(gamma)
    return_form = check_return_form(return_form)
    norm, norm_eps = check_norm(norm, norm_eps)
    std = check_choice("std", std, STD_FORMS)
    var_eps = check_real("var_eps", var_eps, low=0.0)
    zero_ig = check_choice("zero_ig", zero_ig, ZERO_IG)
    info_gain = batch.require("info_gain", "igpo")
    layout = batch.layout

    turn_reward = np.where(layout.is_last, lambda_out * layout.rewards, lambda_ig * info_gain)
    groups = np.arange(layout.n_groups)
    rows = None
    if zero_ig == "exclude":
        rows = np.flatnonzero(layout.is_last | (info_gain != 0.0))
    pooled = turn_reward if rows is None else turn_reward[rows]
    spread = {"norm": norm, "eps": norm_eps, "ddof": 1 if std == "sample" else 0}
    spread["var_eps"] = var_eps
    if mode == "joint":
        group = layout.group if rows is None else layout.group[rows]
        stats = normalise(pooled, group, layout.n_groups, **spread)
        pools = [pool_report("group", stats, groups, layout)]
    else:
        pool = 2 * layout.group + layout.is_last
        pool = pool if rows is None else pool[rows]
        stats = normalise(pooled, pool, 2 * layout.n_groups, **spread)
        ig_pools = np.arange(2 * layout.n_groups) % 2 == 0
        pools = [
            pool_report("info_gain", stats, np.repeat(groups, 2), layout, used=ig_pools),
            pool_report("outcome", stats, np.repeat(groups, 2), layout, used=~ig_pools),
        ]
    if rows is None:
        z = stats.values
    else:
        z = np.zeros(layout.n_turns)
        z[rows] = stats.values
    adv = reverse_returns(z, layout.remaining, gamma=gamma, form=return_form)
    params = {
        "mode": mode,
        "lambda_ig": lambda_ig,
        "lambda_out": lambda_out,
        "gamma": gamma,
        "return_form": return_form,
        "norm": norm,
        "norm_eps": norm_eps,
        "std": std,
        "var_eps": var_eps,
        "zero_ig": zero_ig,
    }
    return finish(batch, "igpo", params, adv, pools=pools)
