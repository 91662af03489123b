"""MT-GRPO: the episode's group advantage plus a turn-level advantage before the last turn."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_choice, check_norm, check_real
from .grpo import episode_advantage
from .normalise import normalise
from .presets import with_presets
from .registry import register_estimator
from .result import AdvantageResult, finish, pool_report

EPISODE_TERMS = ("sum", "outcome")
TURN_POOLS = ("nonfinal", "group")

MT_GRPO_PAPER = {"episode_term": "outcome", "turn_pool": "group", "norm_eps": 1e-4}
"""The MT-GRPO authors' ``MTGRPOEnvTrainer`` (SiliangZeng/Multi-Turn-RL-Agent)."""


@register_estimator("mt_grpo")
@with_presets("mt_grpo", paper=MT_GRPO_PAPER)
def mt_grpo_advantages(
    batch: TurnBatch,
    *,
    lambda_turn: float = 1.0,
    norm: str = "std",
    norm_eps: float = 1e-6,
    episode_term: str = "sum",
    turn_pool: str = "nonfinal",
) -> AdvantageResult:
    """MT-GRPO, multi-turn GRPO with turn-level credit (Zeng et al. 2025, arXiv:2505.11821).

    ``A_{i,t} = E_i + lambda_turn * norm(r_{i,t}; P_{g,t})`` for non-terminal turns
    ``t < T_i`` and ``A_{i,T_i} = E_i`` on the last turn (``lambda_turn`` is the paper's
    lambda), where:

    * ``episode_term="sum"``: ``E_i = norm(R_i; {R_j : j in g})``, ``R`` the sum of the
      episode's rewards (as ``grpo``). ``"outcome"``: ``E_i = norm(o_i; {o_j : j in g})``
      with ``o`` the terminal turn's reward alone, for episodes with a non-terminal turn;
      an episode of a single turn gets ``norm(R_i; {R_j : j in g})``, as the authors' code
      gives rollouts without a tool turn the normalised combined reward.
    * ``turn_pool="nonfinal"``: ``P_{g,t}`` holds the rewards of the group's episodes at
      turn index t that were not their last turn. ``"group"``: it holds every episode of
      the group, those without a non-terminal turn t counting as 0.

    ``preset="paper"`` follows the authors' ``MTGRPOEnvTrainer``: outcome-only episode term,
    the turn pool over every rollout of the group, and ``std + 1e-4`` (sample std), i.e.
    ``episode_term="outcome", turn_pool="group", norm_eps=1e-4``. Their code handles one
    tool turn before the answer; turngym applies the same rule at every turn index. Its
    singleton groups give NaN (sample std of one value); turngym gives 0 under both
    presets. turngym's defaults pool only real turns (a rollout that never reached turn t
    says nothing about how good a turn t is, and padding it with 0 shifts the baseline by
    the share of short rollouts) and normalise the whole return, which is what the
    episode's actions are judged by when turns carry rewards.

    Example: returns 2, 0, 1 give outcome terms 1, -1, 0; turn 0 rewards {1, 0, 2} give
    0, -1, 1; C's turn 1 is the only non-terminal turn 1, a degenerate pool.

    >>> batch = TurnBatch.from_groups([[[1, 1], [0, 0], [2, 0, -1]]])
    >>> mt_grpo_advantages(batch).advantages.round(4).tolist()
    [1.0, 1.0, -2.0, -1.0, 1.0, 0.0, 0.0]

    Paper preset: outcomes {1, 0, -1} give +-1/(1 + 1e-4); turn 0 as before; the turn-1
    pool is {0 (C's reward), 0, 0 (A and B, whose turn 1 is terminal)}: zero variance, 0.

    >>> mt_grpo_advantages(batch, preset="paper").advantages.round(4).tolist()
    [0.9999, 0.9999, -0.9999, 0.0, 0.0, -0.9999, -0.9999]
    """
    lambda_turn = check_real("lambda_turn", lambda_turn)
    norm, norm_eps = check_norm(norm, norm_eps)
    episode_term = check_choice("episode_term", episode_term, EPISODE_TERMS)
    turn_pool = check_choice("turn_pool", turn_pool, TURN_POOLS)
    layout = batch.layout

    episode_adv, episode_report = episode_advantage(batch, norm, norm_eps)
    pools = [episode_report]
    if episode_term == "outcome":
        last = layout.ep_start + layout.ep_length - 1
        outcome = normalise(
            layout.rewards[last], layout.ep_group, layout.n_groups, norm=norm, eps=norm_eps
        )
        multi_turn = layout.ep_length > 1
        per_episode = np.where(multi_turn, outcome.values, episode_adv[layout.ep_start])
        episode_adv = per_episode[layout.episode]
        groups = np.arange(layout.n_groups)
        has_multi = np.bincount(layout.ep_group, weights=multi_turn, minlength=layout.n_groups)
        has_single = np.bincount(layout.ep_group, weights=~multi_turn, minlength=layout.n_groups)
        pools = [
            pool_report("outcome", outcome, groups, layout, used=has_multi > 0),
            pool_report(
                "episode",
                normalise(
                    layout.episode_sums(layout.rewards),
                    layout.ep_group,
                    layout.n_groups,
                    norm=norm,
                    eps=norm_eps,
                ),
                groups,
                layout,
                used=has_single > 0,
            ),
        ]

    rows = np.flatnonzero(~layout.is_last)
    pad = None
    if turn_pool == "group":
        # Every episode of the group is in each of the group's turn pools; those without a
        # non-terminal turn there count as 0 without a row.
        episodes_in_group = np.bincount(layout.ep_group, minlength=layout.n_groups)
        real = np.bincount(layout.group_turn[rows], minlength=layout.n_group_turn)
        pad = np.where(real > 0, episodes_in_group[layout.group_turn_group] - real, 0)
    turn = normalise(
        layout.rewards[rows],
        layout.group_turn[rows],
        layout.n_group_turn,
        norm=norm,
        eps=norm_eps,
        pad_zeros=pad,
    )
    adv = episode_adv.copy()
    adv[rows] += lambda_turn * turn.values
    pools.append(pool_report("turn", turn, layout.group_turn_group, layout, layout.group_turn_key))
    params = {
        "lambda_turn": lambda_turn,
        "norm": norm,
        "norm_eps": norm_eps,
        "episode_term": episode_term,
        "turn_pool": turn_pool,
    }
    return finish(batch, "mt_grpo", params, adv, pools=pools)
