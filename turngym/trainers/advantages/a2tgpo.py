"""A^2TGPO: IG normalised per (group, turn index), accumulated with a 1/sqrt(n) correction,
plus the episode outcome term, with per-turn clip ranges widened on informative turns."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_gamma, check_norm, check_real, check_return_form
from .grpo import episode_advantage
from .normalise import normalise
from .registry import register_estimator
from .result import AdvantageResult, finish, pool_report
from .returns import reverse_returns


@register_estimator("a2tgpo")
def a2tgpo_advantages(
    batch: TurnBatch,
    *,
    gamma: float = 1.0,
    eps: float = 0.2,
    kappa: float = 0.5,
    eps_min: float = 0.1,
    eps_max: float = 0.3,
    return_form: str = "sum",
    norm: str = "std",
    norm_eps: float = 1e-6,
) -> AdvantageResult:
    """A^2TGPO, Agentic Turn-Group Policy Optimization with Adaptive Turn-level Clipping
    (Chen et al. 2026, arXiv:2605.06200).

    With 1-based turns t = 1..T_i:

    * ``z_{i,t} = norm(IG_{i,t}; {IG_{j,t} : j in g, t < T_j})`` for ``t < T_i``: IG is
      normalised within (group, turn index) pools over the non-terminal turns; the
      terminal turn contributes through the outcome term only, its ``z`` is 0.
    * ``A^IG_{i,t} = (sum_{k>=t} gamma^(k-t) z_{i,k}) / sqrt(T_i - t + 1)``: the sum
      divided by the square root of its number of terms (terminal included), so long
      tails do not dominate. With ``return_form="min"`` it is ``min_{t<=k<T_i} z_{i,k}``
      (no division; 0 on the terminal turn).
    * ``A_{i,t} = A^IG_{i,t} + norm(R_i; {R_j : j in g})``.
    * ``clip_ranges``: ``eps_{i,t} = clip(eps * (1 + kappa * tanh(z_{i,t})), eps_min,
      eps_max)``, wider for informative turns; the terminal turn (z = 0) gets ``eps``.
      Requires ``0 < eps_min <= eps <= eps_max`` and ``kappa >= 0``.

    Needs ``info_gain`` (the terminal turn's value is ignored).

    Example: turn 0 IG {1, 0, 2} has mean 1, std 1; C's turn-1 IG is alone in its pool
    (z = 0); returns 1, 0, 2 give outcome terms 0, -1, 1.

    >>> batch = TurnBatch.from_groups(
    ...     [[[0, 1], [0, 0], [0, 0, 2]]], info_gain=[[[1, 0], [0, 0], [2, 5, 0]]]
    ... )
    >>> res = a2tgpo_advantages(batch)
    >>> res.advantages.round(4).tolist()
    [0.0, 0.0, -1.7071, -1.0, 1.5773, 1.0, 1.0]
    >>> res.clip_ranges.round(4).tolist()
    [0.2, 0.2, 0.1238, 0.2, 0.2762, 0.2, 0.2]
    """
    gamma = check_gamma(gamma)
    eps_min = check_real("eps_min", eps_min, low=0.0, low_open=True)
    eps_max = check_real("eps_max", eps_max, low=eps_min)
    eps = check_real("eps (between eps_min and eps_max)", eps, low=eps_min, high=eps_max)
    kappa = check_real("kappa", kappa, low=0.0)
    return_form = check_return_form(return_form)
    norm, norm_eps = check_norm(norm, norm_eps)
    info_gain = batch.require("info_gain", "a2tgpo")
    layout = batch.layout

    rows = np.flatnonzero(~layout.is_last)
    stats = normalise(
        info_gain[rows], layout.group_turn[rows], layout.n_group_turn, norm=norm, eps=norm_eps
    )
    z = np.zeros(layout.n_turns)
    z[rows] = stats.values
    if return_form == "sum":
        total = reverse_returns(z, layout.remaining, gamma=gamma)
        ig_adv = total / np.sqrt(layout.remaining + 1.0)
    else:
        ig_adv = reverse_returns(np.where(layout.is_last, np.inf, z), layout.remaining, form="min")
        ig_adv[layout.is_last] = 0.0
    outcome_adv, outcome_report = episode_advantage(batch, norm, norm_eps)
    clip_ranges = np.clip(eps * (1.0 + kappa * np.tanh(z)), eps_min, eps_max)

    pools = [
        pool_report("turn", stats, layout.group_turn_group, layout, layout.group_turn_key),
        outcome_report,
    ]
    params = {
        "gamma": gamma,
        "eps": eps,
        "kappa": kappa,
        "eps_min": eps_min,
        "eps_max": eps_max,
        "return_form": return_form,
        "norm": norm,
        "norm_eps": norm_eps,
    }
    return finish(
        batch, "a2tgpo", params, ig_adv + outcome_adv, pools=pools, clip_ranges=clip_ranges
    )
