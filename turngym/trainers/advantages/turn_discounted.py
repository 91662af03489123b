"""Turn-discounted: each turn's return-to-go normalised among the group's turns at that index."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_gamma, check_int, check_norm, check_return_form
from .normalise import normalise
from .presets import with_presets
from .registry import register_estimator
from .result import AdvantageResult, finish, pool_report
from .returns import reverse_returns


@register_estimator("turn_discounted")
@with_presets("turn_discounted", paper={})
def turn_discounted_advantages(
    batch: TurnBatch,
    *,
    gamma: float = 1.0,
    min_episodes: int = 2,
    return_form: str = "sum",
    norm: str = "std",
    norm_eps: float = 1e-6,
) -> AdvantageResult:
    """Per-turn discounted return-to-go, normalised within (group, turn index) pools.

    ``G_{i,t} = sum_{k>=t} gamma^(k-t) r_{i,k}`` (``return_form="min"``, PURE
    arXiv:2504.15275: ``G_{i,t} = min_{k>=t} r_{i,k}``, gamma ignored) and
    ``A_{i,t} = norm(G_{i,t}; {G_{j,t} : j in g, T_j >= t})`` when at least
    ``min_episodes`` (m) episodes of the group reached turn t; otherwise the turn is
    normalised over all of the group's G (every turn of every episode; pool kind
    ``"group"``, reported only for groups that needed it).

    Not one paper's method but the common per-step baseline they build on: the turn-level
    normalisation of MAPO's Monte Carlo returns (arXiv:2603.06194) and GiGPO's step term
    (arXiv:2505.10978) with the turn index standing in for the anchor state; the
    fallback keeps late turns reached by few episodes from getting a degenerate 0.

    Diagnostics: pools ``"turn"`` (keys = 0-based turn index; only the pools actually used)
    and ``"group"``; ``fallback_turn_pools`` counts turn pools with fewer than m episodes.

    ``preset="paper"`` equals ``"turngym"``: this is not one paper's method.

    Example (gamma = 1): returns-to-go A = [0], B = [2], C = [1, 0, 2]. Turn 0 has 3
    episodes {0, 2, 1}: mean 1, std 1. Turns 1 and 2 have only C, so they use the group's
    pool {0, 2, 1, 0, 2}: mean 1, std 1.

    >>> batch = TurnBatch.from_groups([[[0], [2], [1, -2, 2]]])
    >>> res = turn_discounted_advantages(batch)
    >>> res.advantages.round(4).tolist()
    [-1.0, 1.0, 0.0, -1.0, 1.0]
    >>> res.diagnostics["fallback_turn_pools"]
    2
    """
    gamma = check_gamma(gamma)
    min_episodes = check_int("min_episodes", min_episodes, low=1)
    return_form = check_return_form(return_form)
    norm, norm_eps = check_norm(norm, norm_eps)
    layout = batch.layout

    returns = reverse_returns(layout.rewards, layout.remaining, gamma=gamma, form=return_form)
    turn = normalise(returns, layout.group_turn, layout.n_group_turn, norm=norm, eps=norm_eps)
    use_turn_pool = turn.counts >= min_episodes
    row_uses_turn = use_turn_pool[layout.group_turn]
    group = normalise(returns, layout.group, layout.n_groups, norm=norm, eps=norm_eps)
    adv = np.where(row_uses_turn, turn.values, group.values)

    group_used = np.zeros(layout.n_groups, dtype=bool)
    group_used[layout.group[~row_uses_turn]] = True
    pools = [
        pool_report(
            "turn", turn, layout.group_turn_group, layout, layout.group_turn_key, use_turn_pool
        ),
        pool_report("group", group, np.arange(layout.n_groups), layout, used=group_used),
    ]
    params = {
        "gamma": gamma,
        "min_episodes": min_episodes,
        "return_form": return_form,
        "norm": norm,
        "norm_eps": norm_eps,
    }
    fallback = int(((turn.counts > 0) & ~use_turn_pool).sum())
    return finish(batch, "turn_discounted", params, adv, pools=pools, fallback_turn_pools=fallback)
