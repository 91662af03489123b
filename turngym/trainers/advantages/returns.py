"""Per-turn returns within episodes: reverse discounted sums (or PURE's min-form), vectorised.

``G_t = sum_{k>=t} gamma^(k-t) v_k`` is a linear recurrence ``G_t = v_t + gamma G_{t+1}``;
it is computed for every episode at once by recursive doubling: after the step with offset
``d`` each ``G_t`` holds the discounted sum of the window ``[t, t + 2d)`` (clipped at the
episode's end), so ``ceil(log2(T_max))`` steps of whole-array operations suffice. Every
addition combines terms of one episode only (no global cumulative sum minus an offset),
so the result is as accurate as the sequential loop. ``"min"`` uses the same scan with
``min`` (and ignores ``gamma``).
"""

from __future__ import annotations

import numpy as np


def reverse_returns(
    values: np.ndarray, remaining: np.ndarray, *, gamma: float = 1.0, form: str = "sum"
) -> np.ndarray:
    """Return ``G_t`` for each row, given rows in canonical (episode, turn) order.

    ``remaining[j]`` is the number of turns after row ``j`` in its episode.

    >>> v = np.array([1.0, 2.0, 4.0, 8.0])  # an episode of 3 turns, then one of 1 turn
    >>> rem = np.array([2, 1, 0, 0])
    >>> reverse_returns(v, rem, gamma=0.5).tolist()
    [3.0, 4.0, 4.0, 8.0]
    >>> reverse_returns(v, rem, form="min").tolist()
    [1.0, 2.0, 4.0, 8.0]
    """
    out = np.array(values, dtype=np.float64, copy=True)
    step = 1
    max_remaining = int(remaining.max(initial=0))
    while step <= max_remaining:
        rows = np.flatnonzero(remaining >= step)
        ahead = out[rows + step]  # a copy: values from before this step
        if form == "sum":
            out[rows] += gamma**step * ahead
        else:
            out[rows] = np.minimum(out[rows], ahead)
        step *= 2
    return out
