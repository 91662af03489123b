"""GiGPO: episode advantage over the group plus step advantage within anchor-state groups."""

from __future__ import annotations

from typing import Any

import numpy as np

from .anchor_similarity import similar_anchor_pools
from .batch import TurnBatch
from .checks import check_choice, check_gamma, check_norm, check_real, check_return_form
from .grpo import check_singleton, episode_advantage
from .normalise import normalise
from .presets import with_presets
from .registry import register_estimator
from .result import AdvantageResult, finish, pool_report
from .returns import reverse_returns

SIMILARITY_THRESHOLD = 0.95
"""The threshold GiGPO's reference code uses for similarity grouping of text anchors."""

SIMILARITY_TEXT = ("normalised", "raw")

GIGPO_PAPER = {
    "norm": "mean",
    "singleton": "raw",
    "similarity_text": "raw",
    "similarity_autojunk": True,
}
"""verl-agent's ``compute_gigpo_outcome_advantage`` defaults (``mode="mean_norm"``)."""


@register_estimator("gigpo")
@with_presets("gigpo", paper=GIGPO_PAPER)
def gigpo_advantages(
    batch: TurnBatch,
    *,
    omega: float = 1.0,
    gamma: float = 0.95,
    return_form: str = "sum",
    similarity_threshold: float | None = None,
    norm: str = "std",
    norm_eps: float = 1e-6,
    singleton: str = "zero",
    similarity_text: str = "normalised",
    similarity_autojunk: bool = False,
) -> AdvantageResult:
    """GiGPO, Group-in-Group Policy Optimization (Feng et al. 2025, arXiv:2505.10978).

    ``A_{i,t} = A^E_i + omega * A^S_{i,t}`` with

    * ``A^E_i = norm(R_i; {R_j : j in g})``, the episode term (as ``grpo``), on every turn;
    * ``A^S_{i,t} = norm(G_{i,t}; {G_{j,u} : j in g, anchor_{j,u} = anchor_{i,t}})``, the
      step term: among all turns of the group taken from the same anchor state (the same
      episode may revisit a state), ``G`` being the discounted return-to-go
      ``sum_{k>=t} gamma^(k-t) r_{i,k}`` (or ``min_{k>=t} r_{i,k}`` with
      ``return_form="min"``). An anchor state seen once in the group is a degenerate pool:
      ``A^S = 0``, which makes GiGPO equal GRPO when all anchors are distinct.

    Needs ``anchors``. ``similarity_threshold=None`` (default) groups equal anchors;
    a float in (0, 1] also merges string anchors of one group whose normalised text has
    ``difflib`` ratio >= threshold (``SIMILARITY_THRESHOLD = 0.95`` is the value GiGPO
    uses; see ``anchor_similarity`` for the rule and its cost, which is a Python loop over
    distinct anchors, unlike the vectorised exact path).

    ``preset="paper"`` follows verl-agent's ``core_gigpo.py`` defaults: ``mode="mean_norm"``
    (``norm="mean"``: both terms are ``x - mean``, no division by the std), a group with
    one episode keeps its raw return as episode term (``singleton="raw"``; verl-agent sets
    mean 0, std 1), and similarity grouping compares the raw text with difflib's default
    ``autojunk`` (``similarity_text="raw"``, ``similarity_autojunk=True``); similarity
    grouping stays off, as its ``enable_similarity`` default. Statistics use the sample std
    plus eps in both. turngym's defaults differ where they are better: std normalisation
    keeps the two terms on one scale whatever the reward scale (the paper's Eq. 3 and 7
    divide by the std), a lone episode gets 0 (no baseline), and case/whitespace-normalised
    text without autojunk keeps long prose anchors comparable. verl-agent clusters anchors
    in batch row order; turngym in (episode, turn) order, which can change which anchor
    represents a cluster when the greedy clustering is order-sensitive.

    Diagnostics: pools ``"episode"`` and ``"anchor"`` (keys = the anchor, or the cluster's
    first anchor), and ``anchor_group_sizes``: ``{size: number of anchor groups}``.

    Example: three episodes of one group all start in state ``s0``; A and C then reach
    ``s1``. Returns 1, 0, 0 give A^E = [1.1547, -0.5774, -0.5774]; the ``s0`` pool
    {0.95, 0, 0} has the same pattern, the ``s1`` pool {1, 0} gives +-0.7071, ``s2`` is
    alone.

    >>> batch = TurnBatch.from_groups(
    ...     [[[0, 1], [0, 0], [0, 0]]],
    ...     anchors=[[["s0", "s1"], ["s0", "s2"], ["s0", "s1"]]],
    ... )
    >>> res = gigpo_advantages(batch)
    >>> res.advantages.round(4).tolist()
    [2.3094, 1.8618, -1.1547, -0.5773, -1.1547, -1.2845]
    >>> res.diagnostics["anchor_group_sizes"]
    {1: 1, 2: 1, 3: 1}

    With the paper's mean-only normalisation: A^E = R - 1/3, the ``s0`` pool
    {0.95, 0, 0} has mean 0.3167 and the ``s1`` pool {1, 0} mean 0.5.

    >>> gigpo_advantages(batch, preset="paper").advantages.round(4).tolist()
    [1.3, 1.1667, -0.65, -0.3333, -0.65, -0.8333]
    """
    omega = check_real("omega", omega)
    gamma = check_gamma(gamma)
    return_form = check_return_form(return_form)
    if similarity_threshold is not None:
        similarity_threshold = check_real(
            "similarity_threshold (None for exact matching)",
            similarity_threshold,
            low=0.0,
            high=1.0,
            low_open=True,
        )
    norm, norm_eps = check_norm(norm, norm_eps)
    singleton = check_singleton(singleton)
    similarity_text = check_choice("similarity_text", similarity_text, SIMILARITY_TEXT)
    if not isinstance(similarity_autojunk, bool):
        raise TypeError(f"similarity_autojunk must be True or False, got {similarity_autojunk!r}")
    anchor = batch.require("anchors", "gigpo")
    layout = batch.layout

    episode_adv, episode_report = episode_advantage(batch, norm, norm_eps, singleton)
    returns = reverse_returns(layout.rewards, layout.remaining, gamma=gamma, form=return_form)

    if similarity_threshold is None:
        key = layout.group * np.int64(layout.anchor_values.size) + anchor
        _, first, pool = np.unique(key, return_index=True, return_inverse=True)
        n_pools = first.size
        pool_group = layout.group[first]
        pool_anchor = layout.anchor_values[anchor[first]]
    else:
        pool, n_pools, pool_group, pool_anchor = similar_anchor_pools(
            layout, similarity_threshold, text=similarity_text, autojunk=similarity_autojunk
        )
    step = normalise(returns, pool, n_pools, norm=norm, eps=norm_eps)
    adv = episode_adv + omega * step.values

    params: dict[str, Any] = {
        "omega": omega,
        "gamma": gamma,
        "return_form": return_form,
        "similarity_threshold": similarity_threshold,
        "norm": norm,
        "norm_eps": norm_eps,
        "singleton": singleton,
        "similarity_text": similarity_text,
        "similarity_autojunk": similarity_autojunk,
    }
    reports = [episode_report, pool_report("anchor", step, pool_group, layout, pool_anchor)]
    return finish(
        batch,
        "gigpo",
        params,
        adv,
        pools=reports,
        anchor_group_sizes=size_histogram(step.counts),
    )


def size_histogram(counts: np.ndarray) -> dict[int, int]:
    """``{pool size: number of pools of that size}`` for the non-empty pools."""
    hist = np.bincount(counts)
    sizes = np.flatnonzero(hist)
    sizes = sizes[sizes > 0]
    return dict(zip(sizes.tolist(), hist[sizes].tolist()))
