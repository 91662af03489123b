"""Score an agent on an environment: episodes, summary statistics, a results file.

Intervals are percentile bootstrap intervals over episodes (seeded), so that a
small run reports its uncertainty rather than a bare mean.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from turngym.agents.base import Agent
from turngym.core.trajectory import EpisodeRecord, write_episodes
from turngym.rollout import episode_score, play_episodes, summary_metrics


@dataclass
class Summary:
    """What a run of ``episodes`` scored; ``outcome_ci95`` is a bootstrap interval of the mean."""

    env_id: str
    agent: str
    episodes: int
    failed: int
    mean_outcome: float
    outcome_ci95: tuple[float, float]
    success_rate: float
    mean_turns: float
    mean_valid_action: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def bootstrap_ci(values: np.ndarray, *, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean (a point interval for < 2 values)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return (float("nan"), float("nan"))
    if values.size < 2:
        return (float(values[0]), float(values[0]))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return (float(low), float(high))


def summarise(records: list[EpisodeRecord], env_id: str, agent: str) -> Summary:
    """Summary statistics (:func:`turngym.rollout.summary_metrics`: a failed episode scores 0)."""
    metrics = summary_metrics(records)
    if not records:  # nothing was played: no mean exists
        metrics.update(dict.fromkeys(("outcome_mean", "success_rate", "turns_mean", "valid_action_rate"),
                                     float("nan")))
    return Summary(
        env_id=env_id,
        agent=agent,
        episodes=metrics["episodes"],
        failed=metrics["failed_episodes"],
        mean_outcome=metrics["outcome_mean"],
        outcome_ci95=bootstrap_ci(np.array([episode_score(r) for r in records], dtype=float)),
        success_rate=metrics["success_rate"],
        mean_turns=metrics["turns_mean"],
        mean_valid_action=metrics["valid_action_rate"],
    )


def evaluate(
    env_id: str,
    agent: Agent,
    *,
    episodes: int = 10,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    out: str | Path | None = None,
) -> tuple[list[EpisodeRecord], Summary]:
    """Play ``episodes`` episodes (seeds ``seed, seed+1, ...``) and summarise them.

    A failing episode (the agent or the environment raised) is kept with its
    reason and scores 0. With ``out``, the trajectories are written there
    atomically as JSON lines.
    """
    records = play_episodes(
        env_id, agent, list(range(seed, seed + episodes)), run_id=agent.name, progress=False,
        env_kwargs=env_kwargs,
    )
    if out is not None:
        write_episodes(out, records)
    return records, summarise(records, env_id, agent.name)
