"""AdvantageResult (what every estimator returns) and the diagnostics it carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .batch import Layout, TurnBatch
from .normalise import Normalised


@dataclass(frozen=True)
class PoolReport:
    """How the pools of one kind fared: how many there were and which were degenerate.

    ``kind`` names the pool (``"episode"``: one return per episode within a group;
    ``"turn"``: a (group, turn index) pool; ``"anchor"``: a (group, anchor state) pool;
    ``"group"``: all turns of a group; ``"batch"``: the whole batch; ...).
    ``degenerate_group_ids`` holds, for each degenerate pool, the group id it belongs to
    (repeated if a group has several); ``degenerate_keys`` the pool's key within the group
    (turn index, anchor) or ``None`` where a group has one pool of this kind.
    """

    kind: str
    n_pools: int
    n_degenerate: int
    degenerate_group_ids: np.ndarray
    degenerate_keys: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"PoolReport({self.kind!r}, pools={self.n_pools}, degenerate={self.n_degenerate})"


@dataclass(frozen=True)
class AdvantageResult:
    """Per-turn advantages, in the batch's row order.

    Attributes:
        advantages: float array, one value per turn.
        clip_ranges: per-turn PPO clip range (A^2TGPO), or ``None`` (use the trainer's).
        diagnostics: ``estimator`` and ``params`` (resolved, defaults included),
            ``advantage_mean`` / ``advantage_std`` (over turns, ddof=0), ``pools``
            (``{kind: PoolReport}``: degenerate pools per kind) and estimator-specific keys
            such as ``anchor_group_sizes`` (GiGPO: ``{size: number of anchor groups}``).
    """

    advantages: np.ndarray
    clip_ranges: np.ndarray | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.advantages.size)


def pool_report(
    kind: str,
    stats: Normalised,
    pool_group: np.ndarray,
    layout: Layout,
    pool_key: np.ndarray | None = None,
    used: np.ndarray | None = None,
) -> PoolReport:
    """Summarise the pools in ``stats``: ``pool_group[p]`` is pool ``p``'s group code.

    ``used`` (per pool, optional) restricts the report to the pools that were used.
    """
    exists = stats.counts > 0 if used is None else (stats.counts > 0) & used
    deg = np.flatnonzero(stats.degenerate & exists)
    return PoolReport(
        kind=kind,
        n_pools=int(exists.sum()),
        n_degenerate=int(deg.size),
        degenerate_group_ids=layout.group_ids[pool_group[deg]],
        degenerate_keys=None if pool_key is None else pool_key[deg],
    )


def finish(
    batch: TurnBatch,
    estimator: str,
    params: dict[str, Any],
    advantages: np.ndarray,
    *,
    pools: list[PoolReport],
    clip_ranges: np.ndarray | None = None,
    **extra: Any,
) -> AdvantageResult:
    """Build the result from canonical-order arrays: reorder to the input order, add stats."""
    layout = batch.layout
    adv = layout.to_input_order(advantages)
    clips = None if clip_ranges is None else layout.to_input_order(clip_ranges)
    diagnostics: dict[str, Any] = {
        "estimator": estimator,
        "params": params,
        "advantage_mean": float(advantages.mean()),
        "advantage_std": float(advantages.std()),
        "pools": {report.kind: report for report in pools},
        **extra,
    }
    return AdvantageResult(advantages=adv, clip_ranges=clips, diagnostics=diagnostics)
