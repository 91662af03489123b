"""MatchTIR's dual-level advantage: a trajectory term from the return plus a turn term."""

from __future__ import annotations

from .batch import TurnBatch
from .checks import check_gamma, check_norm, check_real
from .grpo import episode_advantage
from .normalise import normalise
from .presets import with_presets
from .registry import register_estimator
from .result import AdvantageResult, finish, pool_report
from .returns import reverse_returns

MATCHTIR_PAPER = {"weight": 0.5, "gamma": 0.9}
"""The released code's ``compute_grpo_outcome_advantage`` (quchangle1/MatchTIR)."""


@register_estimator("matchtir")
@with_presets("matchtir", paper=MATCHTIR_PAPER)
def matchtir_advantages(
    batch: TurnBatch,
    *,
    weight: float = 0.5,
    gamma: float = 0.9,
    norm: str = "std",
    norm_eps: float = 1e-6,
) -> AdvantageResult:
    """MatchTIR's dual-level advantage (Qu et al. 2026, arXiv:2601.10712, "Dual-Level
    Advantage Estimation"; formulas as the authors' released code computes them).

    ``A_{i,t} = weight * A^traj_i + (1 - weight) * A^turn_{i,t}`` with

    * ``A^traj_i = norm(R_i; {R_j : j in g})``, ``R_i = sum_t r_{i,t}`` the trajectory's
      return (as ``grpo``), on every turn of it;
    * ``A^turn_{i,t} = norm(G_{i,t}; {G_{j,t} : j in g, T_j > t})``, the turn term:
      ``G_{i,t} = sum_{k>=t} gamma^(k-t) r_{i,k}`` is the discounted return-to-go from
      turn t, normalised among the group's episodes at the same turn index.

    ``r_{i,t}`` are the turn rewards: MatchTIR's matched-call rewards (ToolUse's
    ``match_reward`` signal) with the outcome added on the last turn, e.g. an environment
    made with ``reward_weights={"match_reward": 1.0}``. The defaults are the released
    code's (``compute_grpo_outcome_advantage``: ``gamma = 0.9``, the two terms averaged,
    ``weight = 0.5``), so ``preset="paper"`` equals the defaults. There, a pool of one gets
    its raw value (mean 0, std 1); here, under both presets, a degenerate pool (one
    member, or std < 1e-6) gives 0, as in every turngym estimator.

    Example: one group of three two-turn episodes with rewards A = [1, 1], B = [0, 1],
    C = [0, 0]: returns 2, 1, 0 give ``A^traj = [1, 0, -1]``; with gamma 0.5 the turn-0
    returns-to-go 1.5, 0.5, 0 normalise to 1.0911, -0.2182, -0.8729 and the turn-1 ones
    1, 1, 0 to 0.5774, 0.5774, -1.1547.

    >>> batch = TurnBatch.from_groups([[[1, 1], [0, 1], [0, 0]]])
    >>> matchtir_advantages(batch, gamma=0.5).advantages.round(4).tolist()
    [1.0455, 0.7887, -0.1091, 0.2887, -0.9364, -1.0773]
    """
    weight = check_real("weight", weight, low=0.0, high=1.0)
    gamma = check_gamma(gamma)
    norm, norm_eps = check_norm(norm, norm_eps)
    layout = batch.layout

    trajectory_adv, trajectory_report = episode_advantage(batch, norm, norm_eps)
    returns = reverse_returns(layout.rewards, layout.remaining, gamma=gamma)
    turn = normalise(returns, layout.group_turn, layout.n_group_turn, norm=norm, eps=norm_eps)
    adv = weight * trajectory_adv + (1.0 - weight) * turn.values
    pools = [
        trajectory_report,
        pool_report("turn", turn, layout.group_turn_group, layout, layout.group_turn_key),
    ]
    params = {"weight": weight, "gamma": gamma, "norm": norm, "norm_eps": norm_eps}
    return finish(batch, "matchtir", params, adv, pools=pools)

