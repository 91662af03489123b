"""Benchmark statistics: every number a turngym run or report shows, each with its formula and source.

Sources:

* **pass@k** - Chen et al. 2021, *Evaluating Large Language Models Trained on Code*
  (arXiv:2107.03374), section 2.1: the unbiased estimator ``1 - C(n-c, k) / C(n, k)``.
* **pass^k** - Yao et al. 2024, *tau-bench* (arXiv:2406.12045), section 5:
  ``pass^k = E_task[C(c, k) / C(n, k)]``, the chance that k i.i.d. trials all succeed.
* **IQM, stratified bootstrap intervals, performance profiles** - Agarwal et al. 2021, *Deep
  Reinforcement Learning at the Edge of the Statistical Precipice* (NeurIPS, arXiv:2108.13264),
  with the definitions of its library ``rliable``. That library is not used: it fails to import
  with pandas 3 and draws from NumPy's global generator; here every random draw comes from an
  explicit ``numpy.random.Generator`` built from ``seed``, so the same call gives the same numbers.

Vocabulary. A *run* is one episode: one task played once (one seed or sample). Scores are given
per task as ``{task_id: [score of each run]}`` (:data:`ScoresByTask`); tasks may have different
numbers of runs. Aggregates pool all runs (the paper's ``M x N`` score matrix, flattened), so with
equal runs per task - what ``turngym eval`` produces - the mean equals the mean of task means.

Failed episodes (one treatment, everywhere): an episode whose ``status`` is not ``"ok"`` (the agent
or the environment raised) scores outcome 0 and is not a success; it stays in every denominator
(a crash counts against the agent, it is never silently dropped) and is also counted on its own
(``failed``). An ``"ok"`` episode without an outcome (truncated before the verifier ran) also
scores 0. Its recorded turns count for turns, tokens and the invalid-action rate like any other.

Success means ``outcome >= 1`` (with a 1e-9 tolerance for rounding).

Empty input raises ``ValueError`` naming what was empty; so do ``k < 1``, ``k > n``, ``c > n``
and confidence levels outside (0, 1).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from turngym.core.trajectory import EpisodeRecord
from turngym.rollout.metrics import SUCCESS_THRESHOLD, episode_score, is_success

ScoresByTask = Mapping[str, Sequence[float]]
DEFAULT_RESAMPLES = 2000
FAILED_EPISODES = (
    "an episode whose status is not 'ok' scores outcome 0 (not a success) and stays in every "
    "denominator; it is also counted in 'failed'"
)


# ----- per-episode metrics -----------------------------------------------------------------


@dataclass(frozen=True)
class EpisodeMetrics:
    """The per-episode numbers every summary is built from.

    ``outcome``: the record's outcome; 0 for a failed episode or a missing outcome.
    ``success``: ``outcome >= 1``. ``turns``: recorded turns. ``invalid_turns``: turns whose
    ``signals["valid_action"] == 0`` (a turn without the signal counts as valid).
    ``tokens``: total ``len(action_ids)`` over the turns, ``None`` when no turn has token ids
    (scripted and remote agents). ``wall_s``: ``metadata["wall_s"]`` when recorded, else ``None``.
    """

    env_id: str
    agent: str
    task_id: str
    outcome: float
    success: bool
    failed: bool
    turns: int
    invalid_turns: int
    tokens: int | None
    wall_s: float | None


def episode_metrics(record: EpisodeRecord) -> EpisodeMetrics:
    """The :class:`EpisodeMetrics` of one record (see the failed-episode rule in the module docstring)."""
    outcome = episode_score(record)  # the one definition, shared with the trainer's logs
    tokens = sum(len(t.action_ids) for t in record.turns)
    has_tokens = any(t.action_ids for t in record.turns)
    wall = record.metadata.get("wall_s") if isinstance(record.metadata, dict) else None
    return EpisodeMetrics(
        env_id=record.env_id,
        agent=record.agent,
        task_id=record.task_id,
        outcome=outcome,
        success=is_success(record),
        failed=record.status != "ok",
        turns=len(record.turns),
        invalid_turns=sum(1 for t in record.turns if t.signals.get("valid_action", 1.0) == 0.0),
        tokens=tokens if has_tokens else None,
        wall_s=float(wall) if isinstance(wall, (int, float)) and not isinstance(wall, bool) else None,
    )


def scores_by_task(metrics: Iterable[EpisodeMetrics], field: str = "outcome") -> dict[str, list[float]]:
    """``{task_id: [value of each run]}`` of ``field`` (``"outcome"`` or ``"success"`` as 0/1)."""
    grouped: dict[str, list[float]] = defaultdict(list)
    for m in metrics:
        grouped[m.task_id].append(float(getattr(m, field)))
    return dict(grouped)


# ----- pass@k and pass^k ------------------------------------------------------------------------


def _check_nck(n: int, c: int, k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if n < 1:
        raise ValueError(f"n (samples of the task) must be >= 1, got {n}")
    if not 0 <= c <= n:
        raise ValueError(f"c (successful samples) must be in [0, n={n}], got {c}")
    if k > n:
        raise ValueError(
            f"k={k} > n={n}: the unbiased estimators need at least k samples per task; "
            f"draw more samples or use k <= {n}"
        )


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one task with ``c`` successes in ``n`` samples (Chen et al. 2021, sec. 2.1).

    ``pass@k = 1 - C(n-c, k) / C(n, k)``, computed in the stable product form
    ``1 - prod_{i=n-c+1}^{n} (1 - k / i)`` (no large binomials). When ``n - c < k`` every
    draw of k contains a success: 1. Examples: ``pass_at_k(5, 2, 2) = 1 - C(3,2)/C(5,2) = 0.7``;
    ``c = 0`` gives 0, ``c = n`` gives 1. ``k > n`` raises (the estimator is undefined there;
    Codex's reference code silently returns 1).
    """
    _check_nck(n, c, k)
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=float)))


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k of one task: the chance that k samples drawn without replacement all succeed.

    ``C(c, k) / C(n, k)`` (Yao et al. 2024, tau-bench, sec. 5), computed as the product
    ``prod_{i=0}^{k-1} (c - i) / (n - i)``; 0 when ``c < k``. Example:
    ``pass_hat_k(5, 3, 2) = C(3,2)/C(5,2) = 0.3``. ``pass_hat_k(n, c, 1) = c / n = pass_at_k(n, c, 1)``.
    """
    _check_nck(n, c, k)
    if c < k:
        return 0.0
    i = np.arange(k, dtype=float)
    return float(np.prod((c - i) / (n - i)))


def _mean_over_tasks(successes: ScoresByTask, k: int, one: Callable[[int, int, int], float]) -> float:
    if not successes:
        raise ValueError("no tasks: pass@k / pass^k need at least one task with samples")
    counts: Counter[tuple[int, int]] = Counter()  # tasks with the same (n, c) share one value
    for task, runs in successes.items():
        flags = np.asarray(runs, dtype=float)
        if flags.size == 0:
            raise ValueError(f"task {task!r} has no samples")
        counts[(int(flags.size), int(np.sum(flags >= SUCCESS_THRESHOLD)))] += 1
    return float(sum(one(n, c, k) * m for (n, c), m in counts.items()) / sum(counts.values()))


def mean_pass_at_k(successes: ScoresByTask, k: int) -> float:
    """Mean over tasks of :func:`pass_at_k` (each task's ``n``, ``c`` from its runs' 0/1 successes)."""
    return _mean_over_tasks(successes, k, pass_at_k)


def mean_pass_hat_k(successes: ScoresByTask, k: int) -> float:
    """pass^k as tau-bench reports it: the mean over tasks of :func:`pass_hat_k`."""
    return _mean_over_tasks(successes, k, pass_hat_k)


def max_k(successes: ScoresByTask) -> int:
    """The largest k both estimators accept for every task: the fewest samples any task has."""
    if not successes:
        raise ValueError("no tasks")
    return min(len(runs) for runs in successes.values())


# ----- aggregates and the stratified bootstrap -------------------------------------------------


def iqm(values: Sequence[float] | np.ndarray, axis: int | None = None) -> float | np.ndarray:
    """Interquartile mean: the mean of the middle 50% of the sorted scores (Agarwal et al. 2021).

    As ``rliable`` defines it, ``scipy.stats.trim_mean(x, 0.25)``: ``g = floor(0.25 * n)`` scores
    are cut from each end of the sorted values and the rest averaged. Ties are cut by position
    (``[0, 1, 1, 1]`` -> mean of ``[1, 1]`` = 1). n < 4 cuts nothing (the plain mean).
    With ``axis`` it reduces along that axis of an array.
    """
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        raise ValueError("IQM of no scores: pass at least one score")
    result = sps.trim_mean(array, 0.25, axis=axis)
    return float(result) if axis is None else np.asarray(result)


def _mean(values: np.ndarray, axis: int | None = None) -> float | np.ndarray:
    return np.mean(values, axis=axis)


AGGREGATES: dict[str, Callable[..., Any]] = {"mean": _mean, "iqm": iqm, "median": np.median}


def _aggregate(name: str) -> Callable[..., Any]:
    try:
        return AGGREGATES[name]
    except KeyError:
        raise ValueError(f"unknown aggregate {name!r}; known: {sorted(AGGREGATES)}") from None


def _check_scores(scores: ScoresByTask) -> list[np.ndarray]:
    if not scores:
        raise ValueError("no tasks: pass scores as {task_id: [score of each run]} with at least one task")
    columns = []
    for task, runs in scores.items():
        column = np.asarray(runs, dtype=float).ravel()
        if column.size == 0:
            raise ValueError(f"task {task!r} has no runs")
        if not np.all(np.isfinite(column)):
            raise ValueError(f"task {task!r} has non-finite scores")
        columns.append(column)
    return columns


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence}")


def _strata(columns: Sequence[np.ndarray]) -> list[tuple[list[int], np.ndarray]]:
    """Tasks grouped by their number of runs: ``(task positions, (tasks, runs) matrix)`` each."""
    by_size: dict[int, list[int]] = {}
    for position, column in enumerate(columns):
        by_size.setdefault(column.size, []).append(position)
    return [(positions, np.stack([columns[p] for p in positions])) for positions in by_size.values()]


def _redraw(matrix: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    """``rows`` stratified redraws of a (tasks, runs) matrix: ``(rows, tasks, runs)``."""
    tasks, runs = matrix.shape
    index_type = np.int32 if matrix.size < 2**31 else np.int64
    picks = rng.integers(0, runs, size=(rows, tasks, runs), dtype=index_type)
    picks += (np.arange(tasks, dtype=index_type) * runs)[None, :, None]  # flat index of each pick
    return np.take(matrix.ravel(), picks)


def _chunk_rows(resamples: int, total: int, chunk: int | None) -> list[int]:
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    chunk = chunk or max(1, min(resamples, 2_000_000 // max(total, 1)))
    return [min(chunk, resamples - done) for done in range(0, resamples, chunk)]


def stratified_resamples(
    scores: ScoresByTask, resamples: int, rng: np.random.Generator, *, chunk: int | None = None
) -> Iterable[np.ndarray]:
    """Stratified bootstrap draws, ``(chunk, total runs)`` arrays of ``resamples`` rows in all.

    Each row redraws, independently for every task, as many runs as the task has, with
    replacement from that task's own runs (tasks are the strata; rliable's ``StratifiedBootstrap``).
    Columns hold tasks with equal run counts together (tasks keep their order within such a
    group), which changes no pooled aggregate. Rows are yielded in chunks so that 10,000 runs x
    2,000 resamples never sit in memory at once.
    """
    strata = _strata(_check_scores(scores))
    total = sum(matrix.size for _, matrix in strata)
    for rows in _chunk_rows(resamples, total, chunk):
        yield np.concatenate([_redraw(matrix, rows, rng).reshape(rows, -1) for _, matrix in strata], axis=1)


def _task_mean_draws(columns: Sequence[np.ndarray], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(resamples, tasks)``: each task's mean over a stratified redraw of its runs, in task order."""
    out = np.empty((resamples, len(columns)))
    strata = _strata(columns)
    done = 0
    for rows in _chunk_rows(resamples, sum(c.size for c in columns), None):
        for positions, matrix in strata:
            out[done:done + rows, positions] = _redraw(matrix, rows, rng).mean(axis=2)
        done += rows
    return out


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def to_list(self) -> list[float]:
        """``[value, low, high]``."""
        return [self.value, self.low, self.high]


def bootstrap_intervals(
    scores: ScoresByTask,
    aggregates: Sequence[str] = ("mean", "iqm"),
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Several aggregates of all runs' scores, each with its stratified bootstrap percentile interval.

    ``aggregates`` are names from ``"mean"``, ``"iqm"``, ``"median"``, each over the pooled runs.
    Each interval is the ``(1-confidence)/2`` and ``(1+confidence)/2`` percentiles of that
    aggregate over ``resamples`` stratified bootstrap draws (:func:`stratified_resamples`; Agarwal
    et al. 2021, sec. 4; rliable's ``get_interval_estimates`` with the percentile method); the
    aggregates share the draws. One run per task gives zero-width intervals: resampling within
    tasks has nothing to vary.
    """
    _check_confidence(confidence)
    functions = {name: _aggregate(name) for name in aggregates}
    if not functions:
        raise ValueError("no aggregates asked for; known: " + ", ".join(sorted(AGGREGATES)))
    pooled = np.concatenate(_check_scores(scores))
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in functions}
    for block in stratified_resamples(scores, resamples, rng):
        for name, fn in functions.items():
            draws[name].append(np.atleast_1d(fn(block, axis=1)))
    alpha = (1.0 - confidence) / 2.0
    out = {}
    for name, fn in functions.items():
        low, high = np.quantile(np.concatenate(draws[name]), [alpha, 1.0 - alpha])
        out[name] = Interval(float(fn(pooled)), float(low), float(high))
    return out


def bootstrap_interval(
    scores: ScoresByTask,
    aggregate: str = "mean",
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """One aggregate (``"mean"``, ``"iqm"``, ``"median"``) and its interval (:func:`bootstrap_intervals`)."""
    return bootstrap_intervals(scores, (aggregate,), resamples=resamples, confidence=confidence,
                               seed=seed)[aggregate]


# ----- performance profiles --------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """A performance profile: for each threshold tau, the fraction above it and its band."""

    taus: list[float]
    fraction: list[float]
    low: list[float]
    high: list[float]
    kind: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"kind": self.kind, "taus": self.taus, "fraction": self.fraction,
                "low": self.low, "high": self.high}


def _profile_of(block: np.ndarray, taus: np.ndarray, kind: str, bounds: np.ndarray) -> np.ndarray:
    """Fractions strictly above each tau for each row of ``block`` (runs pooled, or task means).

    Rows are sorted once and all thresholds located with one ``searchsorted`` over the rows laid
    end to end (each row shifted past the previous one), so the cost does not grow with ``taus``.
    """
    if kind == "tasks":
        block = np.add.reduceat(block, bounds[:-1], axis=1) / np.diff(bounds)
    rows, width = block.shape
    ordered = np.sort(block, axis=1)
    low = min(float(ordered[:, 0].min()), float(taus.min()))
    span = max(float(ordered[:, -1].max()), float(taus.max())) - low + 1.0
    shift = (np.arange(rows) * span)[:, None]
    at_or_below = np.searchsorted((ordered - low + shift).ravel(), ((taus[None, :] - low) + shift).ravel(),
                                  side="right").reshape(rows, -1) - (np.arange(rows) * width)[:, None]
    return 1.0 - at_or_below / width


def performance_profile(
    scores: ScoresByTask,
    taus: Sequence[float] | np.ndarray,
    *,
    kind: str = "runs",
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Profile:
    """Performance profile with stratified bootstrap bands (Agarwal et al. 2021, sec. 4.2).

    ``kind="runs"``: the run-score distribution ``F(tau) = (1/R) * sum_r 1[x_r > tau]`` over all
    ``R`` runs (rliable's ``run_score_distribution``). ``kind="tasks"``: the fraction of tasks whose
    mean score over runs exceeds tau (rliable's ``mean_score_distribution``). The band is the
    percentile interval of ``F(tau)`` over stratified bootstrap draws, tau by tau.
    """
    if kind not in ("runs", "tasks"):
        raise ValueError(f"kind must be 'runs' or 'tasks', got {kind!r}")
    _check_confidence(confidence)
    grid = np.asarray(taus, dtype=float).ravel()
    if grid.size == 0:
        raise ValueError("taus is empty: give the thresholds to evaluate the profile at")
    strata = _strata(_check_scores(scores))
    ordered = np.concatenate([matrix.ravel() for _, matrix in strata])  # the draws' column order
    bounds = np.cumsum([0] + [matrix.shape[1] for _, matrix in strata for _ in range(matrix.shape[0])])
    point = _profile_of(ordered[None, :], grid, kind, bounds)[0]
    rng = np.random.default_rng(seed)
    draws = np.concatenate([_profile_of(block, grid, kind, bounds)
                            for block in stratified_resamples(scores, resamples, rng)])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha], axis=0)
    return Profile(grid.tolist(), point.tolist(), low.tolist(), high.tolist(), kind)


# ----- paired comparison ------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """``b - a`` on the tasks both runs share, with its interval; tasks only one run has are listed."""

    difference: Interval
    mean_a: float
    mean_b: float
    tasks: int
    only_in_a: list[str]
    only_in_b: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "difference": self.difference.to_list(), "mean_a": self.mean_a, "mean_b": self.mean_b,
            "tasks": self.tasks, "only_in_a": self.only_in_a, "only_in_b": self.only_in_b,
        }


def paired_difference(
    a: ScoresByTask,
    b: ScoresByTask,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Compare two runs on the same tasks: ``D = mean_t(mean(b_t)) - mean_t(mean(a_t))``.

    Only tasks present in both count, each task weighing the same (so the pairing is by task:
    a task that is hard for both cancels out). The interval is a stratified bootstrap (Agarwal
    et al. 2021): in every draw each task's runs of ``a`` and of ``b`` are resampled independently
    within that task and ``D`` recomputed; the percentile interval of those ``D``. Positive means
    ``b`` scored higher. No shared task raises ``ValueError``.
    """
    _check_confidence(confidence)
    shared = [t for t in a if t in b]
    if not shared:
        raise ValueError(f"the two runs share no task (a has {sorted(a)[:5]}..., b has {sorted(b)[:5]}...)")
    cols_a = _check_scores({t: a[t] for t in shared})
    cols_b = _check_scores({t: b[t] for t in shared})
    mean_a = float(np.mean([c.mean() for c in cols_a]))
    mean_b = float(np.mean([c.mean() for c in cols_b]))
    rng = np.random.default_rng(seed)
    draws = (_task_mean_draws(cols_b, resamples, rng) - _task_mean_draws(cols_a, resamples, rng)).mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return Comparison(
        Interval(mean_b - mean_a, float(low), float(high)), mean_a, mean_b, len(shared),
        sorted(set(a) - set(b)), sorted(set(b) - set(a)),
    )


# ----- signals -----------------------------------------------------------------------------------


def signal_means(records: Iterable[EpisodeRecord]) -> dict[str, dict[str, dict[str, float]]]:
    """Per environment, each turn signal's mean over the turns carrying it: ``{env: {name: {mean, turns}}}``.

    ``mean = sum of the signal over turns that report it / number of such turns`` (all episodes,
    failed ones included, since their recorded turns were really played).
    """
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    for record in records:
        per_env = sums[record.env_id]
        for turn in record.turns:
            for name, value in turn.signals.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    slot = per_env[name]
                    slot[0] += float(value)
                    slot[1] += 1
    return {
        env: {name: {"mean": total / count, "turns": int(count)}
              for name, (total, count) in sorted(names.items())}
        for env, names in sorted(sums.items())
    }


# ----- the summary ---------------------------------------------------------------------------------


def _mean_or_none(values: Sequence[float | int | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _ks(limit: int) -> list[int]:
    ks = sorted({1, limit} | {2**i for i in range(1, 20) if 2**i < limit})
    return [k for k in ks if k <= limit]


def group_summary(
    metrics: Sequence[EpisodeMetrics],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The summary of one (environment, agent) group of episodes (see :func:`summarize`)."""
    if not metrics:
        raise ValueError("no episodes in the group")
    outcome = scores_by_task(metrics, "outcome")
    success = scores_by_task(metrics, "success")
    turns = sum(m.turns for m in metrics)
    limit = max_k(success)
    kw = {"resamples": resamples, "confidence": confidence, "seed": seed}
    outcome_intervals = bootstrap_intervals(outcome, ("mean", "iqm"), **kw)
    return {
        "env_id": metrics[0].env_id,
        "agent": metrics[0].agent,
        "episodes": len(metrics),
        "failed": sum(m.failed for m in metrics),
        "tasks": len(outcome),
        "runs_per_task": {"min": limit, "max": max(len(v) for v in outcome.values())},
        "mean_outcome": outcome_intervals["mean"].to_list(),
        "iqm_outcome": outcome_intervals["iqm"].to_list(),
        "success_rate": bootstrap_interval(success, "mean", **kw).to_list(),
        "invalid_action_rate": (sum(m.invalid_turns for m in metrics) / turns) if turns else None,
        "turns_mean": float(np.mean([m.turns for m in metrics])),
        "tokens_mean": _mean_or_none([m.tokens for m in metrics]),
        "wall_s_mean": _mean_or_none([m.wall_s for m in metrics]),
        "pass_at_k": {str(k): mean_pass_at_k(success, k) for k in _ks(limit)},
        "pass_hat_k": {str(k): mean_pass_hat_k(success, k) for k in _ks(limit)},
    }


def summarize(
    records: Sequence[EpisodeRecord],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """A JSON-ready summary of episodes, one entry per (``env_id``, ``agent``) group.

    Each group has ``episodes``, ``failed``, ``tasks``, ``runs_per_task``; ``mean_outcome``,
    ``iqm_outcome`` and ``success_rate`` as ``[value, low, high]`` (stratified bootstrap,
    ``confidence`` level, ``resamples`` draws, generator seeded with ``seed``);
    ``invalid_action_rate`` (invalid turns / all turns), ``turns_mean``, ``tokens_mean`` and
    ``wall_s_mean`` (``None`` when no episode recorded them); ``pass_at_k`` and ``pass_hat_k`` for
    k = 1, 2, 4, ... up to the fewest samples of any task (keys are strings, as in JSON).
    ``signals`` holds :func:`signal_means` per environment. Empty input raises ``ValueError``.
    """
    if not records:
        raise ValueError("no episodes to summarise: pass at least one EpisodeRecord")
    groups: dict[tuple[str, str], list[EpisodeMetrics]] = defaultdict(list)
    for record in records:
        m = episode_metrics(record)
        groups[(m.env_id, m.agent)].append(m)
    return {
        "groups": [group_summary(groups[key], resamples=resamples, confidence=confidence, seed=seed)
                   for key in sorted(groups)],
        "signals": signal_means(records),
        "settings": {
            "confidence": confidence, "resamples": resamples, "seed": seed,
            "interval": "stratified bootstrap over tasks (runs resampled within each task), percentile",
            "success": "outcome >= 1",
            "failed_episodes": FAILED_EPISODES,
        },
    }
