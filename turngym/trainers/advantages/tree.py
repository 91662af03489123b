"""Tree credit: step values from a rollout tree (TEMPO's prefix-to-tree, TreePS-RAG's Monte Carlo values).

A group of episodes that share prefixes forms a tree of turns (from
:func:`turngym.rollout.branching.grow_tree`, or any group whose paths share turns). Each
turn row names the tree node it leads to (``node_ids``: equal ids within a group = the same
node, shared by every path through it; :func:`turngym.rollout.branching.tree_turn_rows`
gives them). Then, with ``R_i`` the return of path i (the sum of its rewards):

* **Node value** (P2T, Tran, Yao & Yu 2025, arXiv:2509.18314, Sec. 3; TreePS-RAG, Zhang
  et al. 2026, arXiv:2601.06922, Sec. 3): ``V(n) = mean {R_i : path i passes through n}``,
  the mean outcome of the node's descendants; the root's value is the group mean.
* **Step advantages** (:func:`tree_step_advantages`): ``mode="path"``: ``V(n) - V(parent(n))``,
  the value difference along the path; ``mode="sibling"``: ``V(n) - mean {V(m) : m a child of
  parent(n)}``, the comparison with the node's siblings. A node without siblings gets 0.
* **TEMPO** (:func:`tempo_advantages`): GRPO's group signal plus a branch-gated
  temporal-difference correction, at turn level::

      A_{i,t} = norm(R_i; group) + w * 1[parent(n_{i,t}) has >= 2 children] * (V(n_{i,t}) - V(parent))

  With no intermediate rewards and gamma = 1, the TD error of the step into node n is
  ``V(n) - V(parent(n))``; where the parent does not branch, the two values are equal (the
  same descendants), so the gate only makes the zero exact: TEMPO reduces to GRPO there,
  as the paper says.

What could not be checked: the stored copies of both papers available here lose their
equations (only the prose survives), so the exact normalisation of the TD term in TEMPO
(raw outcome differences or differences of normalised rewards: the paper's prose says
"average normalised reward of all descendant completions") and TreePS-RAG's exact advantage
combination are not transcribed. ``td_norm="std"`` divides the TD term by the group's
return std (the GRPO scale) for the second reading; ``"none"`` (default) keeps raw values.
TEMPO also applies the correction at token level where responses branch inside a turn;
turngym's tree branches at turn boundaries, so only the turn-level form is implemented.

Both are registered estimators (``estimate("tempo", batch)``, ``estimate("tree_step", batch)``)
reading the node ids from :attr:`TurnBatch.node_ids <.batch.TurnBatch>` (or from an explicit
``node_ids=`` argument, which wins). A batch of flat rollouts has none, and both raise a
``ValueError`` that says they need tree rollouts (``rollout.tree`` in the trainer's config,
:func:`turngym.rollout.branching.collect_trees` elsewhere). The trainer's
:func:`~turngym.trainers.batching.turn_batch` fills the node ids from the records'
``metadata["tree"]``.

Example (a root with two children A and B; A has two leaf children, B one):

>>> batch = TurnBatch(["g"] * 6, [1, 1, 2, 2, 3, 3], [0, 1] * 3, [0, 1, 0, 0, 0, 1])
>>> nodes = ["A", "A0", "A", "A1", "B", "B0"]
>>> tree_values(batch, nodes)["value"].round(3).tolist()
[0.5, 1.0, 0.5, 0.0, 1.0, 1.0]
>>> tree_step_advantages(batch, node_ids=nodes, mode="path").advantages.round(3).tolist()
[-0.167, 0.5, -0.167, -0.5, 0.333, 0.0]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from .batch import TurnBatch
from .checks import check_choice
from .grpo import episode_advantage
from .presets import with_presets
from .registry import register_estimator
from .result import AdvantageResult, finish

STEP_MODES = ("path", "sibling")
TD_NORMS = ("none", "std")
TREE_ESTIMATORS = ("tempo", "tree_step")
"""The registered estimators that need tree rollouts (per-turn node ids)."""


def tree_values(batch: TurnBatch, node_ids: Sequence[Hashable]) -> dict[str, np.ndarray]:
    """Per-row tree quantities, in the batch's input row order.

    Returns ``value`` (V of the node the turn leads to), ``parent_value`` (V of the node it
    acts from; the group mean at turn 0), ``sibling_mean`` (mean V of the parent's children),
    ``branches`` (how many children the parent has) and ``visits`` (paths through the node).
    Raises ``ValueError`` when ``node_ids`` has the wrong length or a node has two parents.
    """
    canon = _canonical(batch, node_ids)
    return {k: batch.layout.to_input_order(v) for k, v in canon.items()}


@register_estimator("tree_step")
@with_presets("tree_step", paper={})
def tree_step_advantages(
    batch: TurnBatch, *, node_ids: Sequence[Hashable] | None = None, mode: str = "path"
) -> AdvantageResult:
    """Step advantages from the values of a rollout tree (P2T / TreePS-RAG), nothing else.

    With ``V(n)`` the mean return of the paths through node ``n`` (Tran, Yao & Yu 2025,
    arXiv:2509.18314; Zhang et al. 2026, arXiv:2601.06922)::

        mode="path":     A_{i,t} = V(n_{i,t}) - V(parent(n_{i,t}))
        mode="sibling":  A_{i,t} = V(n_{i,t}) - mean {V(m) : m a child of parent(n_{i,t})}

    and ``A_{i,t} = 0`` where the parent has one child. ``node_ids`` defaults to the batch's
    (``TurnBatch(..., node_ids=...)``); without either this raises (it needs tree rollouts).
    ``preset="paper"`` is the same (no published code to follow).

    A root with children A (two leaves, returns 1 and 0) and B (one leaf, return 1):

    >>> batch = TurnBatch(["g"] * 6, [1, 1, 2, 2, 3, 3], [0, 1] * 3, [0, 1, 0, 0, 0, 1],
    ...                   node_ids=["A", "A0", "A", "A1", "B", "B0"])
    >>> tree_step_advantages(batch).advantages.round(3).tolist()
    [-0.167, 0.5, -0.167, -0.5, 0.333, 0.0]
    >>> tree_step_advantages(batch, mode="sibling").advantages.round(3).tolist()
    [-0.25, 0.5, -0.25, -0.5, 0.25, 0.0]
    """
    mode = check_choice("mode", mode, STEP_MODES)
    canon = _canonical(batch, _node_ids(batch, node_ids, "tree_step"))
    if mode == "path":
        adv = canon["value"] - canon["parent_value"]
    else:
        adv = canon["value"] - canon["sibling_mean"]
    adv = np.where(canon["branches"] >= 2, adv, 0.0)
    return finish(batch, "tree_step", {"mode": mode}, adv, pools=[], tree=_summary(canon))


@register_estimator("tempo")
@with_presets("tempo", paper={"td_norm": "std"})
def tempo_advantages(
    batch: TurnBatch,
    *,
    node_ids: Sequence[Hashable] | None = None,
    td_weight: float = 1.0,
    td_norm: str = "none",
    norm: str = "std",
    norm_eps: float = 1e-6,
) -> AdvantageResult:
    """TEMPO at turn level: GRPO's group advantage plus the branch-gated TD correction.

    TEMPO (Tran, Yao & Yu 2025, arXiv:2509.18314), with ``R_i`` path i's return, ``n_{i,t}``
    the tree node its turn t leads to and ``V`` the tree values (module docstring)::

        A_{i,t} = (R_i - mean_g R) / (std_g R + eps)
                  + w * 1[parent(n_{i,t}) has >= 2 children] * (V(n_{i,t}) - V(parent(n_{i,t})))

    ``td_weight`` is ``w`` (0 gives GRPO exactly); ``td_norm="std"`` divides the TD term by
    the group's return std (+ ``norm_eps``); ``norm``/``norm_eps`` are GRPO's. ``node_ids``
    defaults to the batch's; without either this raises (it needs tree rollouts).

    ``preset="paper"`` sets ``td_norm="std"``: the paper's prose defines node values over the
    descendants' *normalised* rewards, and a difference of values of normalised rewards is
    the raw difference over the group std. turngym's default keeps raw outcome differences
    (the reading that does not change with the group's spread); the paper's equations were
    not available to check either reading.

    The tree of :func:`tree_step_advantages`'s example: GRPO's term plus the TD term at the
    branching nodes (B0's parent does not branch, so B0 gets GRPO's term alone):

    >>> batch = TurnBatch(["g"] * 6, [1, 1, 2, 2, 3, 3], [0, 1] * 3, [0, 1, 0, 0, 0, 1],
    ...                   node_ids=["A", "A0", "A", "A1", "B", "B0"])
    >>> tempo_advantages(batch).advantages.round(3).tolist()
    [0.411, 1.077, -1.321, -1.655, 0.911, 0.577]
    >>> grpo = tempo_advantages(batch, td_weight=0.0).advantages  # GRPO's term alone
    >>> (tempo_advantages(batch).advantages - grpo).round(3).tolist()
    [-0.167, 0.5, -0.167, -0.5, 0.333, 0.0]
    """
    if not isinstance(td_weight, (int, float)) or not np.isfinite(td_weight):
        raise ValueError(f"td_weight must be a finite number, got {td_weight!r}")
    td_norm = check_choice("td_norm", td_norm, TD_NORMS)
    layout = batch.layout
    nodes = _node_ids(batch, node_ids, "tempo")
    grpo, report = episode_advantage(batch, norm, norm_eps)
    canon = _canonical(batch, nodes)
    td = np.where(canon["branches"] >= 2, canon["value"] - canon["parent_value"], 0.0)
    if td_norm == "std":
        returns = layout.episode_sums(layout.rewards)
        std = np.array([
            returns[layout.ep_group == g].std(ddof=1) if (layout.ep_group == g).sum() > 1 else 0.0
            for g in range(layout.n_groups)
        ])
        scale = std[layout.group] + norm_eps
        td = np.where(std[layout.group] < 1e-6, 0.0, td / scale)
    adv = grpo + float(td_weight) * td
    params = {"td_weight": td_weight, "td_norm": td_norm, "norm": norm, "norm_eps": norm_eps}
    return finish(batch, "tempo", params, adv, pools=[report], tree=_summary(canon))


# ----- the tree, built once per call ----------------------------------------------------------


def _node_ids(batch: TurnBatch, node_ids: Sequence[Hashable] | None, estimator: str) -> Sequence[Hashable]:
    """The explicit ``node_ids``, else the batch's; a clear error when there are none."""
    if node_ids is not None:
        return node_ids
    if batch.node_ids is None:
        raise ValueError(
            f"estimator {estimator!r} needs tree rollouts: per-turn tree node ids, which this batch "
            "lacks (flat rollouts have none). In the trainer set rollout.tree (e.g. "
            "rollout: {tree: {width: 2}}); elsewhere grow the episodes with "
            "turngym.rollout.branching.collect_trees and pass TurnBatch(..., node_ids=...) "
            "(turngym.trainers.batching.turn_batch fills them from the records)"
        )
    return batch.node_ids


def _canonical(batch: TurnBatch, node_ids: Sequence[Hashable]) -> dict[str, np.ndarray]:
    layout = batch.layout
    if len(node_ids) != layout.n_turns:
        raise ValueError(
            f"node_ids has {len(node_ids)} entries for {layout.n_turns} turns; give one per turn"
        )
    raw = [node_ids[int(i)] for i in layout.order]
    try:
        keys = [(int(g), n) for g, n in zip(layout.group, raw)]
        hash(tuple(keys))
    except TypeError as exc:
        raise TypeError(f"node_ids must be hashable (strings, ints): {exc}") from exc
    returns = layout.episode_sums(layout.rewards)
    ep_return = returns[layout.episode]
    totals: dict[Any, list[float]] = {}
    for key, r in zip(keys, ep_return):
        acc = totals.setdefault(key, [0.0, 0])
        acc[0] += r
        acc[1] += 1
    value_of = {k: s / c for k, (s, c) in totals.items()}
    visits_of = {k: c for k, (_, c) in totals.items()}
    group_mean = np.array([returns[layout.ep_group == g].mean() for g in range(layout.n_groups)])
    parents: list[Any] = []
    parent_of: dict[Any, Any] = {}
    for j, key in enumerate(keys):
        parent = ("root", int(layout.group[j])) if layout.turn[j] == 0 else keys[j - 1]
        if parent_of.setdefault(key, parent) != parent:
            raise ValueError(
                f"node {key[1]!r} of group {batch.layout.group_ids[key[0]]!r} has two parents "
                f"({parent_of[key]} and {parent}); node ids must name tree nodes (paths from the root)"
            )
        parents.append(parent)
    children: dict[Any, set[Any]] = {}
    for key, parent in zip(keys, parents):
        children.setdefault(parent, set()).add(key)

    def value(node: Any) -> float:
        return float(group_mean[node[1]]) if node[0] == "root" else value_of[node]

    sibling_mean = {p: float(np.mean([value_of[c] for c in kids])) for p, kids in children.items()}
    return {
        "value": np.array([value_of[k] for k in keys], dtype=float),
        "parent_value": np.array([value(p) for p in parents], dtype=float),
        "sibling_mean": np.array([sibling_mean[p] for p in parents], dtype=float),
        "branches": np.array([len(children[p]) for p in parents], dtype=np.int64),
        "visits": np.array([visits_of[k] for k in keys], dtype=np.int64),
    }


def _summary(canon: dict[str, np.ndarray]) -> dict[str, int]:
    return {"branching_rows": int((canon["branches"] >= 2).sum()), "rows": int(canon["value"].size)}
