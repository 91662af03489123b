"""Unit-test verifiers: per-test pass/fail into a share, and VeRPO's difficulty-weighted reward.

VeRPO (verifiable dense rewards for code) weighs each unit test by how hard it
is, estimated online from how often candidates pass it: a test everyone
passes says little, a rarely passed one says a lot. With ``n`` attempts and
``k`` passes of test ``i`` so far, its smoothed pass rate is
``p_i = (k + prior) / (n + 2 * prior)`` and its weight ``w_i = 1 - p_i``. The
dense reward of a candidate passing tests ``S`` is ``sum(w_i, i in S) /
sum(w_i)``, and the outcome is ``alpha * dense + (1 - alpha) * all_pass``.

Worked example (prior 1, alpha 0.5): test A passed 3 of 4 times (p = 4/6,
w = 1/3), test B 0 of 4 (p = 1/6, w = 5/6). A candidate passing only B gets
dense = (5/6) / (7/6) = 5/7 ~ 0.714 and outcome = 0.5 * 0.714 + 0 = 0.357;
passing only A gets dense = 2/7 and outcome 1/7.

Pure: no environment or sandbox import; statistics are plain dicts that save
and load as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def pass_share(passed: Sequence[bool]) -> float:
    """Share of tests passed; 0.0 when there are no tests."""
    return sum(bool(p) for p in passed) / len(passed) if passed else 0.0


@dataclass(frozen=True)
class UnitTestScore:
    """One candidate's score: ``dense`` (difficulty-weighted share), ``all_pass`` (0/1),
    ``share`` (plain share), ``outcome`` (their VeRPO mix) and the ``weights`` used."""

    dense: float
    all_pass: float
    share: float
    outcome: float
    weights: tuple[float, ...]


class PassStatistics:
    """Running pass counts per (task, test index), shared across episodes.

    Args:
        prior: pseudo-counts of one pass and one failure (Beta(prior, prior)
            smoothing) so an unseen test has pass rate 0.5 and all weights start
            equal; must be > 0 so no weight is ever exactly 0 or 1.
    """

    def __init__(self, prior: float = 1.0) -> None:
        if not prior > 0:
            raise ValueError(f"prior must be > 0 (Beta smoothing pseudo-count), got {prior!r}")
        self.prior = float(prior)
        self._counts: dict[str, list[list[int]]] = {}

    def pass_rates(self, task_id: str, n_tests: int) -> list[float]:
        """Smoothed pass rate of each of the task's ``n_tests`` tests."""
        counts = self._counts.get(task_id, [])
        rates = []
        for i in range(n_tests):
            passes, attempts = counts[i] if i < len(counts) else (0, 0)
            rates.append((passes + self.prior) / (attempts + 2 * self.prior))
        return rates

    def weights(self, task_id: str, n_tests: int) -> list[float]:
        """Difficulty weights ``1 - pass rate`` of the task's tests."""
        return [1.0 - p for p in self.pass_rates(task_id, n_tests)]

    def update(self, task_id: str, passed: Sequence[bool]) -> None:
        """Count one candidate's per-test results."""
        counts = self._counts.setdefault(task_id, [])
        while len(counts) < len(passed):
            counts.append([0, 0])
        for i, ok in enumerate(passed):
            counts[i][0] += int(bool(ok))
            counts[i][1] += 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot (for saving with a checkpoint)."""
        return {"prior": self.prior, "counts": {k: [list(c) for c in v] for k, v in self._counts.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PassStatistics:
        """Rebuild statistics saved by :meth:`to_dict`."""
        stats = cls(prior=float(data.get("prior", 1.0)))
        for task_id, counts in dict(data.get("counts", {})).items():
            stats._counts[str(task_id)] = [[int(p), int(n)] for p, n in counts]
        return stats


class VeRPOReward:
    """Difficulty-weighted dense reward combined with the all-pass outcome (see module doc).

    Args:
        alpha: weight of the dense part, in [0, 1]; 0 is plain all-pass, 1 purely dense.
        statistics: running pass statistics to use (share one between environments
            to pool them); a fresh one by default.
        update: whether :meth:`score` also counts the candidate's results (after
            scoring it, so a candidate's own results never weigh its own tests).
    """

    def __init__(self, alpha: float = 0.5, statistics: PassStatistics | None = None, update: bool = True):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        self.alpha = float(alpha)
        self.statistics = statistics if statistics is not None else PassStatistics()
        self.update = update

    def score(self, task_id: str, passed: Sequence[bool]) -> UnitTestScore:
        """Score one candidate's per-test results for ``task_id``."""
        n = len(passed)
        weights = self.statistics.weights(task_id, n)
        total = sum(weights)
        if n == 0:
            dense = 0.0
        elif total > 0:
            dense = sum(w for w, ok in zip(weights, passed) if ok) / total
        else:  # unreachable with prior > 0; kept so the formula never divides by zero
            dense = pass_share(passed)
        all_pass = 1.0 if n and all(passed) else 0.0
        outcome = self.alpha * dense + (1.0 - self.alpha) * all_pass
        if self.update and n:
            self.statistics.update(task_id, passed)
        return UnitTestScore(dense, all_pass, pass_share(passed), outcome, tuple(weights))
