"""Pooled normalisation: norm(x; X) = (x - mean X) / (std X + eps), over arbitrary pools at once.

The rule every estimator shares (settled once, here):

* ``std`` is the sample standard deviation (``ddof=1``, as verl computes it), ``eps`` is
  added to it (default 1e-6); the ``"mean"`` variant returns ``x - mean X`` instead.
* A pool with fewer than 2 members, or with ``std X < 1e-6``, is *degenerate*: every value
  normalised in it is exactly 0, and the pool is flagged in the diagnostics.
* A pool holds whatever the estimator puts in it. Group statistics over episodes use one
  value per episode (never one per turn, so long episodes do not weigh more:
  verl-agent #138).

Statistics are accumulated with ``np.bincount`` in canonical row order (two passes: mean,
then squared deviations), so they are deterministic and free of the cancellation that a
one-pass ``E[x^2] - E[x]^2`` suffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STD_FLOOR = 1e-6
"""A pool whose sample std is below this is degenerate (its normalised values are 0)."""


@dataclass(frozen=True)
class Normalised:
    """Result of :func:`normalise`: the values and per-pool statistics.

    ``degenerate`` is only true for pools that have members (``counts > 0``).
    """

    values: np.ndarray
    counts: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    degenerate: np.ndarray


def normalise(
    x: np.ndarray,
    pool: np.ndarray,
    n_pools: int,
    *,
    norm: str = "std",
    eps: float = 1e-6,
) -> Normalised:
    """Normalise each ``x[j]`` within its pool ``pool[j]`` (ids in ``0..n_pools-1``).

    >>> out = normalise(np.array([0.0, 1.0, 2.0, 5.0]), np.array([0, 0, 0, 1]), 2)
    >>> out.values.round(4).tolist(), out.degenerate.tolist()
    ([-1.0, 0.0, 1.0, 0.0], [False, True])
    >>> normalise(np.array([0.0, 1.0, 2.0]), np.zeros(3, int), 1, norm="mean").values.tolist()
    [-1.0, 0.0, 1.0]
    """
    counts = np.bincount(pool, minlength=n_pools)
    mean = np.bincount(pool, weights=x, minlength=n_pools) / np.maximum(counts, 1)
    dev = x - mean[pool]
    var = np.bincount(pool, weights=dev * dev, minlength=n_pools) / np.maximum(counts - 1, 1)
    std = np.sqrt(var)
    degenerate = (counts > 0) & ((counts < 2) | (std < STD_FLOOR))
    values = dev / (std + eps)[pool] if norm == "std" else dev
    values[degenerate[pool]] = 0.0
    return Normalised(values=values, counts=counts, mean=mean, std=std, degenerate=degenerate)
