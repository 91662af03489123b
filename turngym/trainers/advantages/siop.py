"""SIOP's turn-level advantage: turn rewards normalised over the group's turns, then summed forward.

SIOP (Hu et al. 2026, arXiv:2605.04984) turns its process rewards
(:func:`turngym.trainers.siop.siop_rewards`, given here as the batch's ``rewards``) into
advantages as its authors' ``compute_siop_turn_level_advantage`` does (github.com/dl-m9/SIOP,
``verl/trainer/ppo/core_algos.py``): all (episode, turn) rewards of a group form one pool,
``z = (r - mean) / (std + eps)`` (sample std), and each turn's advantage is the discounted
sum of the z of its turn and the turns after it, ``A_t = sum_{s >= t} gamma^(s-t) z_s``.

turngym's one difference: a degenerate pool (one member, or std < 1e-6) gives exactly 0,
where the authors' code divides by 1 instead (same values up to float noise for equal
rewards; a one-turn group stays 0 in both).

Not in the registry (no preset table row yet); ``register_estimator("siop", siop_advantages)``
adds it.

>>> batch = TurnBatch(["g"] * 3, [1, 1, 2], [0, 1, 0], [0.0, 2.0, 1.0])
>>> siop_advantages(batch).advantages.round(4).tolist()  # z = (-1, 1, 0): A = (-1 + 1, 1, 0)
[0.0, 1.0, 0.0]
"""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .normalise import normalise
from .result import AdvantageResult, finish, pool_report
from .returns import reverse_returns


def siop_advantages(batch: TurnBatch, *, gamma: float = 1.0, norm_eps: float = 1e-6) -> AdvantageResult:
    """SIOP's advantages from its turn rewards (``batch.rewards``); see the module docstring."""
    if not isinstance(gamma, (int, float)) or not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be a number in [0, 1], got {gamma!r}")
    layout = batch.layout
    stats = normalise(layout.rewards, layout.group, layout.n_groups, norm="std", eps=norm_eps)
    report = pool_report("group", stats, np.arange(layout.n_groups), layout)
    adv = reverse_returns(stats.values, layout.remaining, gamma=float(gamma))
    return finish(batch, "siop", {"gamma": gamma, "norm_eps": norm_eps}, adv, pools=[report])
