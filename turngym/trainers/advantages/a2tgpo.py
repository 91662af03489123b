"""A^2TGPO: IG normalised per (group, turn index), accumulated with a 1/sqrt(n) correction,
plus the episode outcome term, with per-turn clip ranges widened on informative turns."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_choice, check_gamma, check_norm, check_real, check_return_form
from .grpo import episode_advantage
from .normalise import normalise
from .presets import with_presets
from .registry import register_estimator
from .result import AdvantageResult, finish, pool_report
from .returns import reverse_returns

SQRT_TERMS = ("all_turns", "ig_turns")
CLIP_FORMS = ("tanh", "sigmoid")

A2TGPO_PAPER = {
    "lambda_ig": 0.3,
    "sqrt_terms": "ig_turns",
    "clip_form": "sigmoid",
    "kappa": 0.3,
    "eps_min": None,
    "eps_max": None,
}
"""The authors' ``turn-group-v1d`` mode with ``dynamic_clip`` (CuSO4-Chen/A-TGPO)."""


@register_estimator("a2tgpo")
@with_presets("a2tgpo", paper=A2TGPO_PAPER)
def a2tgpo_advantages(
    batch: TurnBatch,
    *,
    gamma: float = 1.0,
    eps: float = 0.2,
    kappa: float = 0.5,
    eps_min: float | None = 0.1,
    eps_max: float | None = 0.3,
    return_form: str = "sum",
    norm: str = "std",
    norm_eps: float = 1e-6,
    lambda_ig: float = 1.0,
    sqrt_terms: str = "all_turns",
    clip_form: str = "tanh",
) -> AdvantageResult:
    """A^2TGPO, Agentic Turn-Group Policy Optimization with Adaptive Turn-level Clipping
    (Chen et al. 2026, arXiv:2605.06200).

    With 1-based turns t = 1..T_i:

    * ``z_{i,t} = norm(IG_{i,t}; {IG_{j,t} : j in g, t < T_j})`` for ``t < T_i``: IG is
      normalised within (group, turn index) pools over the non-terminal turns; the
      terminal turn contributes through the outcome term only, its ``z`` is 0.
    * ``A^IG_{i,t} = (sum_{k>=t} gamma^(k-t) z_{i,k}) / sqrt(n_{i,t})``: the sum divided
      by the square root of its number of terms, so long tails do not dominate;
      ``sqrt_terms="all_turns"``: ``n = T_i - t + 1`` (terminal turn included),
      ``"ig_turns"``: ``n = T_i - t``, the IG terms only (``A^IG = 0`` on the terminal
      turn). With ``return_form="min"`` it is ``min_{t<=k<T_i} z_{i,k}`` (no division; 0 on
      the terminal turn).
    * ``A_{i,t} = lambda_ig * A^IG_{i,t} + norm(R_i; {R_j : j in g})``.
    * ``clip_ranges``: ``eps_{i,t} = clip(eps * (1 + kappa * f(z_{i,t})), eps_min,
      eps_max)`` with ``f = tanh`` (``clip_form="tanh"``) or ``f(z) = 2 sigmoid(z) - 1 =
      tanh(z / 2)`` (``"sigmoid"``), wider for informative turns; the terminal turn
      (z = 0) gets ``eps``. ``eps_min`` / ``eps_max`` may be ``None`` (no bound on that
      side). Requires ``0 < eps_min <= eps <= eps_max`` where given, ``kappa >= 0``, and
      ``kappa < 1`` without ``eps_min`` (the range must stay positive).

    Needs ``info_gain`` (the terminal turn's value is ignored).

    ``preset="paper"`` follows the authors' released code (CuSO4-Chen/A-TGPO,
    ``verl_atgpo`` ``core_algos.py``, ``info_gain_norm_mode="turn-group-v1d"`` with
    ``dynamic_clip``) as quoted in a public reading of it, since neither that repository
    nor the paper's equations could be read here: the IG term is weighted by
    ``adv_rescale_alpha = 0.3`` (``lambda_ig=0.3``), ``D_t`` is divided by the square root
    of the number of IG terms it sums (``sqrt_terms="ig_turns"``), and each IG turn's clip
    range is multiplied by ``1 + 0.3 (2 sigmoid(z) - 1)``, bounded in (0.7, 1.3) by its
    form alone (``clip_form="sigmoid", kappa=0.3, eps_min=None, eps_max=None``). Not
    verified here: whether their code pools exact-zero IG and which std it uses (its IGPO
    parent uses the population std and skips zeros; see ``igpo``), so the paper preset
    keeps turngym's choices for those. turngym's defaults (weight 1, terminal turn counted,
    ``tanh`` with explicit bounds) are kept for compatibility with existing runs; the
    paper's count (IG terms only) is the exact variance rescaling of a sum of that many
    unit-variance terms.

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

    Paper preset: A's turn 0 sums one IG term (z = 0, divided by 1), B's z = -1 gives
    0.3 * -1 = -0.3, C's turn 0 sums z = 1 and 0 (divided by sqrt 2), its turn 1 z = 0;
    clip ranges 0.2 * (1 + 0.3 tanh(z / 2)).

    >>> res = a2tgpo_advantages(batch, preset="paper")
    >>> res.advantages.round(4).tolist()
    [0.0, 0.0, -1.3, -1.0, 1.2121, 1.0, 1.0]
    >>> res.clip_ranges.round(4).tolist()
    [0.2, 0.2, 0.1723, 0.2, 0.2277, 0.2, 0.2]
    """
    gamma = check_gamma(gamma)
    if eps_min is not None:
        eps_min = check_real("eps_min (or None)", eps_min, low=0.0, low_open=True)
    if eps_max is not None:
        low, low_open = (0.0, True) if eps_min is None else (eps_min, False)
        eps_max = check_real("eps_max (or None)", eps_max, low=low, low_open=low_open)
    eps = check_real("eps (between eps_min and eps_max)", eps, low=eps_min, high=eps_max)
    if eps <= 0.0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    kappa = check_real("kappa", kappa, low=0.0)
    if eps_min is None and kappa >= 1.0:
        raise ValueError(
            f"kappa must be < 1 when eps_min is None (the clip range must stay > 0), got {kappa!r}"
        )
    return_form = check_return_form(return_form)
    norm, norm_eps = check_norm(norm, norm_eps)
    lambda_ig = check_real("lambda_ig", lambda_ig)
    sqrt_terms = check_choice("sqrt_terms", sqrt_terms, SQRT_TERMS)
    clip_form = check_choice("clip_form", clip_form, CLIP_FORMS)
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
        if sqrt_terms == "all_turns":
            ig_adv = total / np.sqrt(layout.remaining + 1.0)
        else:
            ig_adv = np.where(layout.is_last, 0.0, total / np.sqrt(np.maximum(layout.remaining, 1)))
    else:
        ig_adv = reverse_returns(np.where(layout.is_last, np.inf, z), layout.remaining, form="min")
        ig_adv[layout.is_last] = 0.0
    outcome_adv, outcome_report = episode_advantage(batch, norm, norm_eps)
    shape = np.tanh(z) if clip_form == "tanh" else np.tanh(0.5 * z)  # 2 sigmoid(z) - 1
    clip_ranges = eps * (1.0 + kappa * shape)
    if eps_min is not None or eps_max is not None:
        clip_ranges = np.clip(clip_ranges, eps_min, eps_max)

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
        "lambda_ig": lambda_ig,
        "sqrt_terms": sqrt_terms,
        "clip_form": clip_form,
    }
    advantages = lambda_ig * ig_adv + outcome_adv
    return finish(batch, "a2tgpo", params, advantages, pools=pools, clip_ranges=clip_ranges)
