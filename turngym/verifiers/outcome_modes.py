"""Outcome modes (SIOP): a group's final answers clustered, and a target distribution over the clusters.

SIOP (Self-Induced Outcome Potential, Hu et al. 2026, arXiv:2605.04984) gives turn credit
without gold answers. For one task's group of rollouts:

1. **Outcome modes.** The final answers are clustered into semantic modes (empty answers
   belong to none). The authors cluster by bidirectional NLI entailment with a DeBERTa MNLI
   model; turngym has no NLI model to hand, so :func:`cluster_answers` groups answers whose
   normalised text (:func:`~turngym.verifiers.answer_match.normalize_answer`) is equal, or,
   with ``similarity < 1``, whose rapidfuzz ``token_sort_ratio`` to a cluster's first member
   reaches it. Pass your own ``labels`` to :func:`outcome_modes` to cluster another way.
2. **Reliability-aware target.** ``q(c) ∝ m(c) · exp(eta · r(c))``: ``m(c)`` is the
   cluster's share of the answered rollouts, ``r(c)`` the mean reliability of its members
   (the authors: NLI support of the answer by the rollout's retrieved observations, in
   [0, 1]); ``eta = 0`` (the authors' default) gives ``q = m``.
3. **Turn rewards** (:func:`siop_turn_rewards`): with ``p_t`` the policy's probability of
   the rollout's own cluster's reference answer after turn t (the belief-gain scorer with
   the cluster's answer as target: :func:`turngym.trainers.siop.siop_rewards`),
   ``r_t = q(c) · (log(p_t + eps) - log(p_{t-1} + eps))`` for t = 1..T, and the last turn
   also gets ``(1 - lambda) · q(c)``; a rollout without an answer gets zeros.

Steps 2 and 3 follow the authors' public code (github.com/dl-m9/SIOP,
``verl/utils/siop/siop_process_reward.py``: ``siop_eta``, ``siop_lambda = 0.5``,
``siop_epsilon = 1e-8``, one reference answer per cluster by default); the paper's
equation numbers could not be checked here (its text was not available), so none are cited.

Model-free and torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from turngym.verifiers.answer_match import normalize_answer


@dataclass(frozen=True)
class OutcomeModes:
    """A group's answers clustered: ``labels[i]`` is answer i's cluster (None: no answer).

    ``representatives[c]`` is cluster c's reference answer (its first member, as written),
    ``frequency[c]`` its share of the answered rollouts (m), ``reliability[c]`` the mean
    reliability of its members (r, 0 when none was given) and ``target[c]`` q(c).
    """

    labels: tuple[int | None, ...]
    representatives: tuple[str, ...]
    frequency: np.ndarray
    reliability: np.ndarray
    target: np.ndarray

    def target_of(self, index: int) -> float:
        """q of answer ``index``'s cluster (0 for a rollout without an answer)."""
        label = self.labels[index]
        return 0.0 if label is None else float(self.target[label])

    def reference_of(self, index: int) -> str | None:
        """The reference answer of answer ``index``'s cluster (None without an answer)."""
        label = self.labels[index]
        return None if label is None else self.representatives[label]


def cluster_answers(answers: Sequence[str | None], *, similarity: float = 1.0) -> list[int | None]:
    """Cluster labels 0, 1, ... in order of first appearance; None/blank answers get None.

    ``similarity=1`` clusters equal normalised answers; below 1, an answer joins the first
    cluster whose first member's normalised text has ``token_sort_ratio / 100 >= similarity``.

    >>> cluster_answers(["Paris", "paris.", None, "Lyon", "The Paris"])
    [0, 0, None, 1, 0]
    """
    if not 0.0 < similarity <= 1.0:
        raise ValueError(f"similarity must be in (0, 1], got {similarity!r}")
    heads: list[str] = []
    labels: list[int | None] = []
    for answer in answers:
        text = normalize_answer(answer) if isinstance(answer, str) else ""
        if not text:
            labels.append(None)
            continue
        label = next(
            (c for c, head in enumerate(heads)
             if head == text or (similarity < 1.0 and fuzz.token_sort_ratio(head, text) / 100 >= similarity)),
            None,
        )
        if label is None:
            label = len(heads)
            heads.append(text)
        labels.append(label)
    return labels


def outcome_modes(
    answers: Sequence[str | None],
    *,
    reliability: Sequence[float] | None = None,
    eta: float = 0.0,
    similarity: float = 1.0,
    labels: Sequence[int | None] | None = None,
) -> OutcomeModes:
    """Cluster ``answers`` and build the reliability-aware target ``q(c) ∝ m(c) exp(eta r(c))``.

    Args:
        answers: the group's final answers (None or blank: the rollout gave none).
        reliability: optional per-answer reliability in any scale (e.g. evidence support in [0, 1]).
        eta: how strongly reliability tilts the target (0: q = m).
        similarity: see :func:`cluster_answers`.
        labels: cluster labels to use instead of :func:`cluster_answers` (e.g. from an NLI model).

    >>> modes = outcome_modes(["Paris", "paris", "Lyon", None])
    >>> modes.frequency.tolist(), modes.target.round(3).tolist()
    ([0.6666666666666666, 0.3333333333333333], [0.667, 0.333])
    >>> tilted = outcome_modes(["Paris", "Paris", "Lyon"], reliability=[0, 0, 1], eta=math.log(4))
    >>> tilted.target.round(6).tolist()
    [0.333333, 0.666667]
    """
    if labels is None:
        labels = cluster_answers(answers, similarity=similarity)
    elif len(labels) != len(answers):
        raise ValueError(f"labels has {len(labels)} entries for {len(answers)} answers")
    if reliability is not None and len(reliability) != len(answers):
        raise ValueError(f"reliability has {len(reliability)} entries for {len(answers)} answers")
    if not math.isfinite(eta):
        raise ValueError(f"eta must be finite, got {eta!r}")
    present = sorted({label for label in labels if label is not None})
    if present != list(range(len(present))):
        raise ValueError(f"cluster labels must be 0..C-1 (or None), got {sorted(set(present))}")
    n = len(present)
    counts = np.zeros(n)
    rel_sum, rel_count = np.zeros(n), np.zeros(n)
    representatives: list[str] = [""] * n
    for i, label in enumerate(labels):
        if label is None:
            continue
        if counts[label] == 0:
            representatives[label] = str(answers[i]).strip()
        counts[label] += 1
        if reliability is not None:
            rel_sum[label] += float(reliability[i])
            rel_count[label] += 1
    frequency = counts / counts.sum() if n else counts
    rel = np.divide(rel_sum, rel_count, out=np.zeros(n), where=rel_count > 0)
    if n:
        logits = np.log(frequency + 1e-12) + eta * rel
        weights = np.exp(logits - logits.max())
        target = weights / weights.sum()
    else:
        target = np.zeros(0)
    return OutcomeModes(tuple(labels), tuple(representatives), frequency, rel, target)


def siop_turn_rewards(
    logp: Sequence[float], target: float, *, lam: float = 0.5, eps: float = 1e-8
) -> np.ndarray:
    """SIOP's rewards for turns 1..T from ``logp[t] = log p_t`` (t = 0..T; see the module docstring).

    >>> import numpy as np
    >>> r = siop_turn_rewards(np.log([0.1, 0.2, 0.4]), 0.5)
    >>> r.round(4).tolist()  # 0.5 * log 2 each, and (1 - 0.5) * 0.5 on the last
    [0.3466, 0.5966]
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam!r}")
    values = np.asarray(logp, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError("logp needs log p_0 .. log p_T for an episode of T >= 1 turns")
    p = np.exp(values)
    rewards = target * np.diff(np.log(p + eps))
    rewards = np.where(np.isfinite(rewards), rewards, 0.0)
    rewards[-1] += (1.0 - lam) * target
    return rewards
