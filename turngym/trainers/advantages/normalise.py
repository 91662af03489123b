"""Pooled normalisation: norm(x; X) = (x - mean X) / (std X + eps), over arbitrary pools at once.

The rule every estimator shares (settled once, here):

* ``std`` is the sample standard deviation (``ddof=1``, as verl computes it), ``eps`` is
  added to it (default 1e-6); the ``"mean"`` variant returns ``x - mean X`` instead.
  Authors' conventions that differ are options: ``ddof=0`` (population std) and
  ``var_eps`` added under the square root (IGPO's code: ``sqrt(var + 1e-8) + eps``), and
  ``pad_zeros``, members of value 0 that a pool holds without rows (MT-GRPO's turn pool
  counts rollouts that have no turn there as 0).
* A pool with fewer than 2 members, or with ``std X < 1e-6`` (the std before ``var_eps``),
  is *degenerate*: every value normalised in it is exactly 0, and the pool is flagged in
  the diagnostics. This holds under every preset: the authors' codes divide float32
  rounding noise by ``eps`` there, turngym gives exact zeros.
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
    ddof: int = 1,
    var_eps: float = 0.0,
    pad_zeros: np.ndarray | None = None,
) -> Normalised:
    """Normalise each ``x[j]`` within its pool ``pool[j]`` (ids in ``0..n_pools-1``).

    ``(x - mean) / (sqrt(var_ddof + var_eps) + eps)``; ``pad_zeros[p]`` (optional) is a
    number of extra members of value 0 in pool ``p`` that have no entry in ``x``. The
    returned ``counts`` include them.

    >>> out = normalise(np.array([0.0, 1.0, 2.0, 5.0]), np.array([0, 0, 0, 1]), 2)
    >>> out.values.round(4).tolist(), out.degenerate.tolist()
    ([-1.0, 0.0, 1.0, 0.0], [False, True])
    >>> normalise(np.array([0.0, 1.0, 2.0]), np.zeros(3, int), 1, norm="mean").values.tolist()
    [-1.0, 0.0, 1.0]

    Population std with ``var_eps`` (IGPO's code) and an implicit zero member: the pool
    {2, 4, 0} has mean 2 and population variance 8/3.

    >>> out = normalise(np.array([2.0, 4.0]), np.zeros(2, int), 1, ddof=0, var_eps=1e-8,
    ...                 pad_zeros=np.array([1]))
    >>> out.values.round(6).tolist(), out.counts.tolist()
    ([0.0, 1.224744], [3])
    """
    counts = np.bincount(pool, minlength=n_pools)
    if pad_zeros is not None:
        counts = counts + pad_zeros
    mean = np.bincount(pool, weights=x, minlength=n_pools) / np.maximum(counts, 1)
    dev = x - mean[pool]
    squares = np.bincount(pool, weights=dev * dev, minlength=n_pools)
    if pad_zeros is not None:
        squares = squares + pad_zeros * mean * mean
    var = squares / np.maximum(counts - ddof, 1)
    std = np.sqrt(var)
    degenerate = (counts > 0) & ((counts < 2) | (std < STD_FLOOR))
    if norm == "std":
        scale = (np.sqrt(var + var_eps) if var_eps else std) + eps
        values = dev / scale[pool]
    else:
        values = dev
    values[degenerate[pool]] = 0.0
    return Normalised(values=values, counts=counts, mean=mean, std=std, degenerate=degenerate)
