"""MatchTIR's tool-call matching: predicted calls against gold calls as a bipartite assignment.

MatchTIR (Qu et al. 2026, "Fine-Grained Supervision for Tool-Integrated Reasoning via
Bipartite Matching", arXiv:2601.10712, method section "Reward Modeling", paragraph
"Matching Matrix Construction"; the equation numbers could not be checked here) scores a
predicted call ``p_i`` against a gold call ``g_j`` with the matching-matrix entry

    S_ij = S_tn * (S_tn + S_pn + S_pc) / (1 + 1 + |N_gj|)                      (MatchTIR, S_ij)

* ``S_tn = 1[name(p_i) = name(g_j)]`` (tool-name match, 0 or 1);
* ``S_pn = |N_pi ∩ N_gj| / |N_pi ∪ N_gj|``, the Jaccard overlap of the argument names
  (1 when both take no arguments);
* ``S_pc = sum_{k in N_gj} 1[p_i[k] == g_j[k]]``, the gold arguments whose value the
  prediction got right; here equality is :func:`values_equal` (after type coercion:
  ``1 == 1.0 == "1"``, tuples equal lists), where the paper compares raw values.

so ``S_ij`` is in [0, 1], 1 exactly for the right call, 0 for a call of another tool.

Two assignments of predictions to gold calls (the paper's "hard" and "soft" strategies):

* **hard**: the Kuhn-Munkres (Hungarian) optimum ``sigma = argmax sum_i S_{i,sigma(i)}``
  over one-to-one partial matchings, by :func:`scipy.optimize.linear_sum_assignment`
  (MatchTIR's released code uses a greedy matching under that name; this is the exact
  optimum). A pair with ``S = 0`` is not a match.
* **soft**: entropic optimal transport. The similarity matrix is padded with zeros to
  ``k x k`` (``k = max(m, n)``), the plan ``T`` solves
  ``max <T, S> + tau * H(T)`` with uniform marginals ``1/k`` (log-domain Sinkhorn), and the
  soft matched similarity of prediction ``i`` is ``k * sum_j T_ij S_ij``. The padding is what
  makes the soft total converge to the hard optimum as the temperature ``tau -> 0`` (the
  released code uses unpadded marginals ``1/m``, ``1/n``, which have no such limit).

The stage (turn) reward turns the matched similarity ``M = sum_i s_i`` (``s_i`` the hard
or soft matched similarity of prediction ``i``) into precision and recall, so that extra
calls and missing calls both cost:

    precision = M / m,   recall = M / n,   match_reward = 2 M / (m + n)      (F1 of the two)

``precision`` is MatchTIR's turn reward (the mean reward of the turn's calls with the
unmatched-call penalty set to 0, as in its ``compute_process_KM``); the F1 adds the recall
term MatchTIR gets from its outcome reward. With no gold call a stage is perfect exactly
when no call was made (``m = n = 0`` gives 1; calls where none were wanted give 0).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from turngym.core.actions import ParsedCall

Call = ParsedCall | tuple[str, Mapping[str, Any]]
"""A tool call: a :class:`ParsedCall` or a ``(name, arguments)`` pair."""


def _name_args(call: Call) -> tuple[str, Mapping[str, Any]]:
    if isinstance(call, ParsedCall):
        return call.name, call.arguments
    if isinstance(call, tuple) and len(call) == 2 and isinstance(call[1], Mapping):
        return str(call[0]), call[1]
    raise TypeError(f"a call is a ParsedCall or a (name, arguments) pair, got {call!r}")


def values_equal(a: Any, b: Any) -> bool:
    """Equality after type coercion: numbers by value (``1 == 1.0``, ``"2.5" == 2.5``),
    lists and tuples element-wise, dicts key-wise; booleans only equal booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, str) and isinstance(b, (int, float)):
        return _number_text_equal(a, b)
    if isinstance(b, str) and isinstance(a, (int, float)):
        return _number_text_equal(b, a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _number_text_equal(text: str, number: float) -> bool:
    try:
        return math.isclose(float(text.strip()), number, rel_tol=1e-9, abs_tol=1e-12)
    except ValueError:
        return False


def call_similarity(predicted: Call, gold: Call) -> float:
    """MatchTIR's ``S_ij`` for one pair (see the module docstring), in [0, 1].

    >>> call_similarity(("cd", {"folder": "docs"}), ("cd", {"folder": "docs"}))
    1.0
    >>> call_similarity(("cd", {"folder": "tmp"}), ("cd", {"folder": "docs"}))  # (1+1+0)/3
    0.6666666666666666
    >>> call_similarity(("ls", {}), ("cd", {"folder": "docs"}))
    0.0
    """
    p_name, p_args = _name_args(predicted)
    g_name, g_args = _name_args(gold)
    if p_name != g_name:
        return 0.0
    p_keys, g_keys = set(p_args), set(g_args)
    union = p_keys | g_keys
    s_pn = len(p_keys & g_keys) / len(union) if union else 1.0
    s_pc = sum(1 for k in g_keys if k in p_args and values_equal(p_args[k], g_args[k]))
    return (1.0 + s_pn + s_pc) / (2.0 + len(g_keys))


def similarity_matrix(predicted: Sequence[Call], gold: Sequence[Call]) -> np.ndarray:
    """The ``m x n`` matrix of :func:`call_similarity`."""
    out = np.zeros((len(predicted), len(gold)))
    for i, p in enumerate(predicted):
        for j, g in enumerate(gold):
            out[i, j] = call_similarity(p, g)
    return out


def hungarian_assignment(similarity: np.ndarray) -> tuple[np.ndarray, float]:
    """The maximum-weight one-to-one matching: ``(gold index per prediction or -1, total)``.

    >>> hungarian_assignment(np.array([[0.9, 0.8], [0.85, 0.0]]))[0].tolist()
    [1, 0]
    """
    sim = _as_matrix(similarity)
    assigned = np.full(sim.shape[0], -1, dtype=np.int64)
    if sim.size == 0:
        return assigned, 0.0
    if sim.shape[0] == sim.shape[1] and np.all(np.diagonal(sim) == 1.0) and sim.max() <= 1.0:
        rows = cols = np.arange(sim.shape[0])  # every row at its maximum: the diagonal is optimal
    else:
        rows, cols = linear_sum_assignment(sim, maximize=True)
    keep = sim[rows, cols] > 0
    assigned[rows[keep]] = cols[keep]
    return assigned, float(sim[rows[keep], cols[keep]].sum())


def brute_force_assignment(similarity: np.ndarray) -> float:
    """The optimum total by enumerating every partial matching (for tests; tiny inputs)."""
    sim = _as_matrix(similarity)
    m, n = sim.shape
    if m > 7 or n > 7:
        raise ValueError(f"brute force is for at most 7 x 7, got {m} x {n}")
    best = 0.0
    if m <= n:
        for cols in itertools.permutations(range(n), m):
            best = max(best, float(sum(sim[i, c] for i, c in enumerate(cols))))
    else:
        for rows in itertools.permutations(range(m), n):
            best = max(best, float(sum(sim[r, j] for j, r in enumerate(rows))))
    return best


def sinkhorn_plan(
    similarity: np.ndarray, temperature: float = 0.1, *, max_iter: int = 300, tol: float = 1e-7
) -> np.ndarray:
    """The entropic OT plan on the zero-padded ``k x k`` problem, cut back to ``m x n``.

    Maximises ``<T, S> + temperature * H(T)`` subject to uniform marginals ``1/k``, by
    log-domain Sinkhorn iterations with temperature annealing (from 1 down, halving, each
    stage warm-started from the last one's dual potentials), so that small temperatures
    converge in a few hundred iterations instead of tens of thousands.
    """
    if not (isinstance(temperature, (int, float)) and temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    sim = _as_matrix(similarity)
    m, n = sim.shape
    k = max(m, n)
    if k == 0 or min(m, n) == 0:
        return np.zeros((m, n))
    padded = np.zeros((k, k))
    padded[:m, :n] = sim
    log_marginal = np.full(k, -math.log(k))
    u = np.zeros(k)  # dual potentials, in similarity units
    v = np.zeros(k)
    schedule = [float(temperature)]
    while schedule[-1] * 2 < 1.0:
        schedule.append(schedule[-1] * 2)
    for tau in reversed(schedule):
        kernel = padded / tau
        f, g = u / tau, v / tau
        for iteration in range(max_iter):
            f = log_marginal - _logsumexp(kernel + g[None, :], axis=1)
            g = log_marginal - _logsumexp(kernel + f[:, None], axis=0)
            if iteration % 5 == 4:
                rows = np.exp(_logsumexp(kernel + f[:, None] + g[None, :], axis=1))
                if np.max(np.abs(rows - 1.0 / k)) < tol:
                    break
        u, v = tau * f, tau * g
    plan = np.exp(padded / temperature + (u / temperature)[:, None] + (v / temperature)[None, :])
    return plan[:m, :n]


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """``log(sum(exp(x)))`` along ``axis`` (finite inputs), cheaper than scipy's on tiny arrays."""
    top = x.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def _as_matrix(similarity: Any) -> np.ndarray:
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.ndim != 2 or not np.all(np.isfinite(sim)):
        raise ValueError(f"similarity must be a finite 2-D matrix, got shape {sim.shape}")
    return sim


@dataclass(frozen=True)
class MatchResult:
    """One stage's matching: per-prediction matched similarity and the stage scores."""

    matched: tuple[float, ...]
    """``s_i`` for each predicted call (0 for an unmatched one)."""
    assignment: tuple[int, ...]
    """The gold call each prediction was matched to (hard), or its heaviest (soft); -1 if none."""
    precision: float
    recall: float
    reward: float
    """``2 M / (m + n)``, the F1 of precision and recall (1 when ``m = n = 0``)."""


@lru_cache(maxsize=256)
def _perfect(m: int) -> MatchResult:
    """The result of ``m`` predicted calls that are exactly the ``m`` gold calls (shared: frozen)."""
    return MatchResult((1.0,) * m, tuple(range(m)), 1.0, 1.0, 1.0)


class ToolCallMatcher:
    """Scores a stage's predicted calls against its gold calls (see module docstring).

    Args:
        strategy: ``"hard"`` (Hungarian) or ``"soft"`` (Sinkhorn optimal transport).
        temperature: the entropic regularisation of ``"soft"``.

    >>> gold = [("cd", {"folder": "docs"}), ("ls", {})]
    >>> result = ToolCallMatcher().score([("ls", {}), ("cd", {"folder": "tmp"})], gold)
    >>> result.assignment, round(result.reward, 4)
    ((1, 0), 0.8333)
    """

    strategies = ("hard", "soft")

    def __init__(self, strategy: str = "hard", temperature: float = 0.1) -> None:
        if strategy not in self.strategies:
            raise ValueError(f"strategy must be one of {self.strategies}, got {strategy!r}")
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.strategy = strategy
        self.temperature = float(temperature)

    def score(self, predicted: Sequence[Call], gold: Sequence[Call]) -> MatchResult:
        """Match ``predicted`` to ``gold`` and compute precision, recall and the reward."""
        m, n = len(predicted), len(gold)
        if m == n and all(_name_args(p) == _name_args(g) for p, g in zip(predicted, gold)):
            return _perfect(m)  # exactly the gold calls
        if m == 0 or n == 0:
            perfect = float(m == n)
            return MatchResult((0.0,) * m, (-1,) * m, perfect if m == 0 else 0.0,
                               perfect if n == 0 else 0.0, perfect)
        sim = similarity_matrix(predicted, gold)
        if self.strategy == "hard":
            assigned, _ = hungarian_assignment(sim)
            matched = np.where(assigned >= 0, sim[np.arange(m), np.maximum(assigned, 0)], 0.0)
        else:
            plan = sinkhorn_plan(sim, self.temperature)
            matched = max(m, n) * (plan * sim).sum(axis=1)
            assigned = np.where(sim.max(axis=1) > 0, (plan * sim).argmax(axis=1), -1)
        total = float(matched.sum())
        return MatchResult(
            tuple(float(x) for x in matched), tuple(int(a) for a in assigned),
            precision=total / m, recall=total / n, reward=2.0 * total / (m + n),
        )
