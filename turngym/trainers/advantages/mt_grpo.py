"""MT-GRPO: the episode's group advantage plus a turn-level advantage before the last turn."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_norm, check_real
from .grpo import episode_advantage
from .normalise import normalise
from .registry import register_estimator
from .result import AdvantageResult, finish, pool_report


@register_estimator("mt_grpo")
def mt_grpo_advantages(
    batch: TurnBatch,
    *,
    lambda_turn: float = 1.0,
    norm: str = "std",
    norm_eps: float = 1e-6,
) -> AdvantageResult:
    """MT-GRPO, multi-turn GRPO with turn-level credit (Zeng et al. 2025, arXiv:2505.11821).

    ``A_{i,t} = norm(R_i; g) + lambda_turn * norm(r_{i,t}; {r_{j,t} : j in g, t < T_j})``
    for non-terminal turns ``t < T_i`` and ``A_{i,T_i} = norm(R_i; g)`` on the last turn:
    the turn pool holds the rewards of the group's episodes at that turn index that were
    not their last turn (``lambda_turn`` is the paper's lambda).

    Example: returns 2, 0, 1 give outcome terms 1, -1, 0; turn 0 rewards {1, 0, 2} give
    0, -1, 1; C's turn 1 is the only non-terminal turn 1, a degenerate pool.

    >>> batch = TurnBatch.from_groups([[[1, 1], [0, 0], [2, 0, -1]]])
    >>> mt_grpo_advantages(batch).advantages.round(4).tolist()
    [1.0, 1.0, -2.0, -1.0, 1.0, 0.0, 0.0]
    """
    lambda_turn = check_real("lambda_turn", lambda_turn)
    norm, norm_eps = check_norm(norm, norm_eps)
    layout = batch.layout

    episode_adv, episode_report = episode_advantage(batch, norm, norm_eps)
    rows = np.flatnonzero(~layout.is_last)
    turn = normalise(
        layout.rewards[rows], layout.group_turn[rows], layout.n_group_turn, norm=norm, eps=norm_eps
    )
    adv = episode_adv.copy()
    adv[rows] += lambda_turn * turn.values
    pools = [
        episode_report,
        pool_report("turn", turn, layout.group_turn_group, layout, layout.group_turn_key),
    ]
    params = {"lambda_turn": lambda_turn, "norm": norm, "norm_eps": norm_eps}
    return finish(batch, "mt_grpo", params, adv, pools=pools)
