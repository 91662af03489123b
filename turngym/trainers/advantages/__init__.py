"""Credit-assignment estimators: turn-level signals in, per-turn advantages out.

Build a :class:`TurnBatch` from flat per-turn arrays (any row order), then run an
estimator by name or call its function::

    from turngym.trainers.advantages import TurnBatch, estimate

    batch = TurnBatch(group_ids, episode_ids, turn_index, rewards, anchors=anchors)
    result = estimate("gigpo", batch, omega=1.0)
    result.advantages          # one float per turn, in the batch's row order
    result.diagnostics         # degenerate pools, anchor-group sizes, mean/std

Registered estimators: ``grpo``, ``rloo``, ``turn_discounted``, ``gigpo``, ``igpo``,
``a2tgpo``, ``mapo``, ``mt_grpo``, ``combine``; ``empg(result, batch)`` modulates any of
them by entropy. Every return-based estimator takes ``return_form="min"`` (PURE). The
normalisation rule they share is documented in :mod:`.normalise`.

Edge cases, the same for every estimator:

* A pool with one member (a singleton group, a state seen once, a turn index only one
  episode reached) or with std < 1e-6 (zero variance, e.g. equal rewards) gives exactly 0
  and is listed in ``diagnostics["pools"]``.
* Ragged episodes: group statistics use one value per episode; a turn-index pool holds
  the episodes that reached that turn. Every turn of an episode gets its episode term.
* Exact zeros are values like any other: they stay in their pools.
* Row order does not matter: results are bit-identical for any permutation of the rows,
  because every estimator works in the batch's canonical (group, episode, turn) order.
* Missing ``anchors`` / ``info_gain`` / ``entropy`` for an estimator that needs them,
  unknown estimator names and unknown or invalid parameters raise, saying what is
  accepted.
"""

from .a2tgpo import a2tgpo_advantages
from .batch import Layout, TurnBatch
from .combine import combine, combine_advantages
from .empg import empg
from .gigpo import SIMILARITY_THRESHOLD, gigpo_advantages
from .grpo import grpo_advantages
from .igpo import igpo_advantages
from .mapo import mapo_advantages
from .mt_grpo import mt_grpo_advantages
from .normalise import normalise
from .registry import (
    estimate,
    estimator_params,
    get_estimator,
    list_estimators,
    register_estimator,
    unregister_estimator,
)
from .result import AdvantageResult, PoolReport
from .returns import reverse_returns
from .rloo import rloo_advantages
from .turn_discounted import turn_discounted_advantages

__all__ = [
    "SIMILARITY_THRESHOLD",
    "AdvantageResult",
    "Layout",
    "PoolReport",
    "TurnBatch",
    "a2tgpo_advantages",
    "combine",
    "combine_advantages",
    "empg",
    "estimate",
    "estimator_params",
    "get_estimator",
    "gigpo_advantages",
    "grpo_advantages",
    "igpo_advantages",
    "list_estimators",
    "mapo_advantages",
    "mt_grpo_advantages",
    "normalise",
    "register_estimator",
    "reverse_returns",
    "rloo_advantages",
    "turn_discounted_advantages",
    "unregister_estimator",
]
