"""Episode summary metrics, defined once for the trainer's logs and the benchmark's tables.

The rule for failed episodes (``status != "ok"``: the agent, the policy or the
environment raised) is the same everywhere: they stay in every denominator and
score 0 (outcome, reward, success), and are also counted on their own
(``failed_episodes``). An episode that ended without an outcome (truncated)
scores 0 too. Behaviour statistics (turns, valid actions, tokens, wall time)
are over what was actually played.

Tree records (``metadata["tree"]``, :mod:`turngym.rollout.branching`) are not a flat sample:
paths through a node that branched more are more numerous. Their ``outcome_mean``,
``reward_mean`` and ``success_rate`` are therefore weighted by
:func:`~turngym.rollout.branching.path_weights` (the chance that flat sampling follows each
path), so tree and flat runs report the same quantity; the plain means over paths are kept as
``outcome_mean_paths``, ``reward_mean_paths`` and ``success_rate_paths``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from turngym.core.trajectory import EpisodeRecord

SUCCESS_THRESHOLD = 1.0 - 1e-9
"""An episode succeeds when its outcome reaches 1 (a perfect score), up to rounding."""


def episode_score(record: EpisodeRecord) -> float:
    """The outcome that counts: the record's outcome, or 0 when it failed or has none."""
    if record.status != "ok" or record.outcome is None:
        return 0.0
    return float(record.outcome)


def episode_reward(record: EpisodeRecord) -> float:
    """The episode's summed reward, or 0 when it failed."""
    return record.total_reward if record.status == "ok" else 0.0


def is_success(record: EpisodeRecord) -> bool:
    """Whether the episode scored a perfect outcome (see :data:`SUCCESS_THRESHOLD`)."""
    return episode_score(record) >= SUCCESS_THRESHOLD


def summary_metrics(records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """The standard summary of a batch of episodes (see the module docstring for failures).

    Keys: ``episodes``, ``failed_episodes``, ``outcome_mean``, ``reward_mean``, ``success_rate``,
    ``turns_mean``, ``valid_action_rate`` (share of played turns whose ``valid_action`` signal
    was not 0), ``invalid_action_rate`` (1 minus it), ``action_tokens_mean`` (policy tokens per
    episode, 0 for text agents) and ``seconds_episode_mean`` (wall time per episode, where recorded).
    Empty input gives zeros with ``episodes = 0``. For tree records the first three are
    path-weighted and the plain means come as ``outcome_mean_paths``, ``reward_mean_paths`` and
    ``success_rate_paths`` (see the module docstring).
    """
    n = len(records)
    turns = [t for r in records for t in r.turns]
    valid = [t.signals.get("valid_action", 1.0) != 0.0 for t in turns]
    walls = [float(w) for r in records if isinstance(w := r.metadata.get("wall_s"), (int, float))]

    def mean(values: Sequence[float]) -> float:
        return float(np.mean(values)) if len(values) else 0.0

    valid_rate = mean([float(v) for v in valid]) if valid else 1.0
    outcomes = {
        "outcome_mean": [episode_score(r) for r in records],
        "reward_mean": [episode_reward(r) for r in records],
        "success_rate": [float(is_success(r)) for r in records],
    }
    from turngym.rollout.branching import path_weights, tree_node_ids  # branching imports this package

    weighted: dict[str, float] = {}
    if any(tree_node_ids(r) for r in records):
        weights = np.asarray(path_weights(records), dtype=np.float64)
        for key, values in outcomes.items():
            weighted[key] = float(np.dot(weights, values) / weights.sum())
            weighted[f"{key}_paths"] = mean(values)
    return {
        "episodes": n,
        "failed_episodes": sum(r.status != "ok" for r in records),
        **{key: mean(values) for key, values in outcomes.items()},
        **weighted,
        "turns_mean": mean([float(len(r.turns)) for r in records]),
        "valid_action_rate": valid_rate if n else 0.0,
        "invalid_action_rate": (1.0 - valid_rate) if n else 0.0,
        "action_tokens_mean": mean([float(sum(len(t.action_ids) for t in r.turns)) for r in records]),
        "seconds_episode_mean": mean(walls),
    }
