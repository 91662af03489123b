"""SIOP turn rewards for recorded episodes: outcome modes of each group, scored with the belief-gain scorer.

For each group (episodes sharing ``group_id``): the final answers are clustered into outcome
modes with the reliability-aware target q (:mod:`turngym.verifiers.outcome_modes`); each
answered episode is scored by :class:`~turngym.verifiers.info_gain.BeliefGainScorer` with its
own cluster's reference answer as the target (instead of the gold answer IGPO uses), one
packed forward pass per episode; the turn rewards are
``q(c) (log(p_t + eps) - log(p_{t-1} + eps))`` plus ``(1 - lambda) q(c)`` on the last turn.
Feed them to :func:`turngym.trainers.advantages.siop.siop_advantages` as the batch's rewards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from turngym.core.trajectory import EpisodeRecord
from turngym.rollout.records import with_probe_answers
from turngym.verifiers.outcome_modes import OutcomeModes, outcome_modes, siop_turn_rewards


def final_answer(record: EpisodeRecord) -> str | None:
    """The answer an episode ended with: the text between its probe's forcing prefix and answer
    suffix in the last turn's action (e.g. ``<answer>...</answer>``); None when there is none."""
    if not record.turns:
        return None
    probe = record.turns[-1].probe or record.metadata.get("opening_probe") or {}
    prefix, suffix = str(probe.get("forcing_prefix") or ""), str(probe.get("answer_suffix") or "")
    text = record.turns[-1].action_text
    if not prefix:
        return None
    pattern = re.escape(prefix) + r"(.*?)" + (re.escape(suffix) if suffix else r"$")
    found = re.findall(pattern, text, flags=re.DOTALL)
    answer = found[-1].strip() if found else ""
    return answer or None


def siop_rewards(
    scorer: Any,
    episodes: Sequence[EpisodeRecord],
    *,
    answer_of: Callable[[EpisodeRecord], str | None] = final_answer,
    reliability: Sequence[float] | None = None,
    eta: float = 0.0,
    lam: float = 0.5,
    eps: float = 1e-8,
    similarity: float = 1.0,
) -> tuple[list[np.ndarray], dict[str, OutcomeModes]]:
    """SIOP's per-turn rewards of every episode (in input order) and each group's outcome modes.

    Args:
        scorer: a :class:`~turngym.verifiers.info_gain.BeliefGainScorer` (anything with
            ``score(record).logp``).
        episodes: token-level records (from :func:`turngym.rollout.collect`) with probes.
        answer_of: how to read an episode's final answer (default :func:`final_answer`).
        reliability: optional per-episode reliability of its answer (for ``eta``).
        eta, lam, eps, similarity: see :mod:`turngym.verifiers.outcome_modes`.
    """
    if reliability is not None and len(reliability) != len(episodes):
        raise ValueError(f"reliability has {len(reliability)} entries for {len(episodes)} episodes")
    groups: dict[str, list[int]] = {}
    for i, record in enumerate(episodes):
        groups.setdefault(record.group_id, []).append(i)
    rewards: list[np.ndarray] = [np.zeros(len(r.turns)) for r in episodes]
    modes_of: dict[str, OutcomeModes] = {}
    for group, members in groups.items():
        answers = [answer_of(episodes[i]) for i in members]
        rel = None if reliability is None else [reliability[i] for i in members]
        modes = outcome_modes(answers, reliability=rel, eta=eta, similarity=similarity)
        modes_of[group] = modes
        for local, i in enumerate(members):
            reference = modes.reference_of(local)
            if reference is None or not episodes[i].turns:
                continue  # no answer: no cluster, zero rewards (as the authors' code gives)
            scores = scorer.score(with_probe_answers(episodes[i], [reference]))
            rewards[i] = siop_turn_rewards(scores.logp, modes.target_of(local), lam=lam, eps=eps)
    return rewards, modes_of
