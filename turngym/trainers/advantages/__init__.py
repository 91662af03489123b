"""Credit-assignment estimators: turn-level signals in, per-turn advantages out.

Build a :class:`TurnBatch` from flat per-turn arrays (any row order), then run an
estimator by name or call its function::

    from turngym.trainers.advantages import TurnBatch, estimate

    batch = TurnBatch(group_ids, episode_ids, turn_index, rewards, anchors=anchors)
    result = estimate("gigpo", batch, omega=1.0)
    result.advantages          # one float per turn, in the batch's row order
    result.diagnostics         # degenerate pools, anchor-group sizes, mean/std

Registered estimators: ``grpo``, ``rloo``, ``turn_discounted``, ``gigpo``, ``igpo``,
``a2tgpo``, ``mapo``, ``mt_grpo``, ``combine`` and, for tree rollouts (per-turn
``node_ids``), ``tempo`` and ``tree_step`` (:mod:`.tree`) (``list_estimators()``). The modifiers
``empg`` and ``aem`` rescale any of them by entropy: ``estimate("grpo", batch,
modifiers=["empg"])`` or ``empg(result, batch)``, likewise ``aem`` (``list_modifiers()``).
Every return-based estimator takes
``return_form="min"`` (PURE). The normalisation rule they share is documented in
:mod:`.normalise`.

Presets. Every estimator takes ``preset="turngym"`` (default: the signature's defaults) or
``preset="paper"`` (its authors' published code). A preset only fills the parameters the
caller leaves out, so ``estimate("igpo", batch, preset="paper", mode="separate")`` works;
see :mod:`.presets`. Each estimator's docstring says where turngym keeps its own choice
and why. The conventions, estimator by estimator (sources: verl ``core_algos.py``,
verl-agent ``gigpo/core_gigpo.py``, the IGPO authors' ``core_algos.py`` of Feb 2026,
SiliangZeng/Multi-Turn-RL-Agent ``mt_grpo_env_trainer.py``, CuSO4-Chen/A-TGPO as quoted
in a public reading of it)::

    estimator  convention            turngym                   paper
    ---------  --------------------  ------------------------  ----------------------------
    (all)      1 member / std<1e-6   exactly 0                 exactly 0 (authors: rounding
                                                               noise / eps; turngym's kept)
    (all)      std, eps              sample std, (x-m)/(s+e)   same, except where listed
    grpo       norm, eps             std, 1e-6                 same (verl)
    grpo       singleton group       0                         R / (1 + eps)  (mean 0, std 1)
    rloo       singleton group       0                         raw R (verl ``rloo``)
    gigpo      norm                  std (x-m)/(s+1e-6)        mean only, x - m (mean_norm)
    gigpo      singleton episode     0                         raw R
    gigpo      similarity text       case-folded, spaces       raw text
                                     collapsed
    gigpo      difflib autojunk      off                       on (difflib's default)
    gigpo      similarity grouping   off (exact anchors)       off (0.95 when enabled)
    igpo       std                   sample, s + 1e-6          population, sqrt(v+1e-8)+1e-6
    igpo       exact-zero IG         in the pool               out of the pool, z = 0
    igpo       mode                  joint                     joint (their script: separate)
    mt_grpo    episode term          norm(sum of rewards)      norm(outcome); one-turn
                                                               episodes: norm(sum)
    mt_grpo    turn pool             turns t that are not      every episode of the group
                                     last                      (0 where none)
    mt_grpo    eps                   1e-6                      1e-4
    a2tgpo     IG weight             1                         0.3 (adv_rescale_alpha)
    a2tgpo     sqrt count            T - t + 1 (with final)    T - t (IG terms only)
    a2tgpo     clip range            clip(e(1+0.5 tanh z),     e(1 + 0.3 (2 sigmoid(z) - 1))
                                     0.1, 0.3)                 (no bounds)
    a2tgpo     std, zero IG          sample, kept              same (not verified)
    mapo       (all)                 as above                  same (no published code)
    turn_disc. (all)                 as above                  same (not one paper's method)
    aem        modifier: scope, lam  group's turns, lam 1,     same (transcribed from two
               min_range             alpha = 1 if range < 0.1  readings of the paper, not
                                                               its text; no public code)
    combine    preset                passed to components      passed to components

Edge cases, the same for every estimator:

* A pool with one member (a singleton group, a state seen once, a turn index only one
  episode reached) or with std < 1e-6 (zero variance, e.g. equal rewards) gives exactly 0
  and is listed in ``diagnostics["pools"]`` (``singleton="raw"``, the verl convention in
  the paper presets of grpo, rloo and gigpo, gives a lone episode its return instead).
* Ragged episodes: group statistics use one value per episode; a turn-index pool holds
  the episodes that reached that turn. Every turn of an episode gets its episode term.
* Exact zeros are values like any other: they stay in their pools (IGPO's paper preset
  leaves exact-zero IG out, as its authors' code does).
* Row order does not matter: results are bit-identical for any permutation of the rows,
  because every estimator works in the batch's canonical (group, episode, turn) order.
* Missing ``anchors`` / ``info_gain`` / ``entropy`` for an estimator that needs them,
  unknown estimator names and unknown or invalid parameters raise, saying what is
  accepted.
"""

from .a2tgpo import a2tgpo_advantages
from .aem import aem
from .batch import Layout, TurnBatch
from .combine import combine, combine_advantages
from .empg import empg
from .gigpo import SIMILARITY_THRESHOLD, gigpo_advantages
from .grpo import grpo_advantages
from .igpo import igpo_advantages
from .mapo import mapo_advantages
from .matchtir import matchtir_advantages
from .mt_grpo import mt_grpo_advantages
from .normalise import normalise
from .presets import PRESETS
from .registry import (
    estimate,
    estimator_params,
    get_estimator,
    list_estimators,
    list_modifiers,
    register_estimator,
    register_modifier,
    unregister_estimator,
)
from .result import AdvantageResult, PoolReport
from .returns import reverse_returns
from .rloo import rloo_advantages
from .tree import TREE_ESTIMATORS, tempo_advantages, tree_step_advantages
from .turn_discounted import turn_discounted_advantages

__all__ = [
    "PRESETS",
    "SIMILARITY_THRESHOLD",
    "TREE_ESTIMATORS",
    "AdvantageResult",
    "Layout",
    "PoolReport",
    "TurnBatch",
    "a2tgpo_advantages",
    "aem",
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
    "list_modifiers",
    "mapo_advantages",
    "matchtir_advantages",
    "mt_grpo_advantages",
    "normalise",
    "register_estimator",
    "register_modifier",
    "reverse_returns",
    "rloo_advantages",
    "tempo_advantages",
    "tree_step_advantages",
    "turn_discounted_advantages",
    "unregister_estimator",
]
