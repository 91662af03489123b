"""EMPG: entropy modulation of any estimator's advantages, plus a future-clarity bonus."""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_modifier_inputs, check_real
from .registry import register_modifier
from .result import AdvantageResult


def empg(
    result: AdvantageResult, batch: TurnBatch, k: float = 1.0, zeta: float = 0.1
) -> AdvantageResult:
    """EMPG, Entropy-Modulated Policy Gradients (Wang et al. 2025, arXiv:2509.09265).

    With ``H`` the per-turn policy entropy of ``batch`` and
    ``H_norm = (H - min H) / (max H - min H)`` over the whole batch (all 0 when every
    entropy is equal), each turn's advantage becomes

        ``A'_{i,t} = A_{i,t} * g_{i,t} / mean(g) + zeta * exp(-k * H_norm_{i,t+1})``

    with ``g = exp(-k * H_norm)`` and ``mean(g)`` its mean over the batch's turns: confident
    turns (low entropy) are scaled up, uncertain ones damped; the second term is the
    future-clarity bonus for leading to a confident next turn of the same episode (0 on an
    episode's last turn). ``k >= 0``; ``zeta`` any real. Works on the result of any
    estimator (``clip_ranges`` pass through); needs ``entropy`` in the batch. Registered as
    a modifier: ``estimate("grpo", batch, modifiers=[("empg", {"k": 1.0})])`` is the same
    as ``empg(estimate("grpo", batch), batch, k=1.0)``.

    Example: GRPO gives +-0.7071 to two 2-turn episodes; entropies 0 and 1 give
    g = [1, e^-1, e^-1, 1] with mean 0.6839.

    >>> from turngym.trainers.advantages import grpo_advantages
    >>> batch = TurnBatch.from_groups([[[0, 1], [0, 0]]], entropy=[[[0.0, 1.0], [1.0, 0.0]]])
    >>> empg(grpo_advantages(batch), batch).advantages.round(4).tolist()
    [1.0707, 0.3803, -0.2803, -1.0339]
    """
    check_modifier_inputs("empg", result, batch)
    k = check_real("k", k, low=0.0)
    zeta = check_real("zeta", zeta)
    entropy = batch.require("entropy", "empg")
    layout = batch.layout

    low, high = float(entropy.min()), float(entropy.max())
    spread = high - low
    h_norm = (entropy - low) / spread if spread > 0 else np.zeros_like(entropy)
    clarity = np.exp(-k * h_norm)
    scale = clarity / clarity.mean()
    bonus = np.zeros_like(clarity)
    not_last = ~layout.is_last
    bonus[not_last] = zeta * clarity[1:][not_last[:-1]]  # the next row is the next turn

    advantages = result.advantages[layout.order] * scale + bonus
    diagnostics = dict(result.diagnostics)
    diagnostics.update(
        estimator=f"empg({diagnostics.get('estimator', '?')})",
        advantage_mean=float(advantages.mean()),
        advantage_std=float(advantages.std()),
        empg={
            "k": k,
            "zeta": zeta,
            "entropy_min": low,
            "entropy_max": high,
            "scale_min": float(scale.min()),
            "scale_max": float(scale.max()),
        },
    )
    return AdvantageResult(
        advantages=layout.to_input_order(advantages),
        clip_ranges=result.clip_ranges,
        diagnostics=diagnostics,
    )


register_modifier("empg", empg)
