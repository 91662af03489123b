"""AEM: response-level entropy modulation of any estimator's advantages.

Source: Zhao, Zhou, Zhang, Yau, ..., Dong, Wu, "AEM: Adaptive Entropy Modulation for
Multi-Turn Agentic Reinforcement Learning", arXiv:2605.00425 (2026), the method section's
practical proxy. The formula below was transcribed from two independent public readings of
the paper (a reading note of v3 that writes the coefficient out and gives the 0.1 range
rule and lambda = 1, and a question-and-answer reading of v1 that gives the same
coefficient); neither the paper's own text past its introduction nor the authors' code
could be read from here, so equation numbers are not given. See ``aem``'s docstring.
"""

from __future__ import annotations

import numpy as np

from .batch import TurnBatch
from .checks import check_modifier_inputs, check_real
from .registry import register_modifier
from .result import AdvantageResult

MIN_RANGE = 0.1
"""The paper's threshold: a group whose response entropies span less than this (nats) is
left unmodulated (``alpha = 1``), so that noise is not amplified."""


def aem(
    result: AdvantageResult, batch: TurnBatch, lam: float = 1.0, min_range: float = MIN_RANGE
) -> AdvantageResult:
    """AEM, Adaptive Entropy Modulation (Zhao et al. 2026, arXiv:2605.00425).

    The unit is the response: one turn, the complete text the environment reacts to. With
    ``H_{i,t}`` the turn's length-normalised entropy (the mean over the turn's tokens of
    the policy's next-token entropy; the trainer's ``entropy`` field is exactly this), and
    ``G`` the turns of every episode of the turn's group (one task's rollouts):

        ``H~_{i,t} = (H_{i,t} - min_G H) / (max_G H - min_G H)``
        ``alpha_{i,t} = exp(-lam * H~_{i,t}) / mean_G exp(-lam * H~)``
        ``A_{i,t} <- alpha_{i,t} * A_{i,t}``

    and ``alpha = 1`` for every turn of a group whose entropy range ``max_G H - min_G H``
    is below ``min_range`` (0.1 in the paper; this covers one-turn groups). ``lam`` is the
    paper's temperature, 1 in its experiments; ``lam = 0`` turns AEM off. ``alpha`` has
    mean 1 over each group, is above 1 for the group's more confident responses and below
    1 for its less confident ones, and never changes an advantage's sign: zero advantages
    (equal rewards under GRPO) stay exactly 0.

    Why (the paper's theorem, as its readers summarise it): under a natural-gradient
    step, a sampled response ``a`` moves the response-level entropy in the direction of
    ``A(a) * (S(a) - H_resp)``, its advantage times its surprisal relative to the
    response entropy. ``H~`` stands in for the relative surprisal, which cannot be
    computed for open-ended text. Early in training, when negative advantages dominate,
    damping uncertain and boosting confident negative responses pushes entropy up
    (exploration); once positive advantages dominate, boosting confident positive ones
    pushes it down (exploitation).

    Works on the result of any estimator (``clip_ranges`` pass through); needs ``entropy``
    in the batch. Registered as a modifier: ``estimate("grpo", batch, modifiers=["aem"])``
    is ``aem(estimate("grpo", batch), batch)``.

    Example: GRPO gives +-0.7071 to two 2-turn episodes of one group; entropies
    0.2, 0.6 | 1.0, 0.2 give H~ = 0, 0.5 | 1, 0 and g = exp(-H~) = 1, 0.6065 | 0.3679, 1
    with mean 0.7436, so alpha = 1.3448, 0.8157 | 0.4947, 1.3448.

    >>> from turngym.trainers.advantages import grpo_advantages
    >>> batch = TurnBatch.from_groups([[[0, 1], [0, 0]]], entropy=[[[0.2, 0.6], [1.0, 0.2]]])
    >>> aem(grpo_advantages(batch), batch).advantages.round(4).tolist()
    [0.9509, 0.5768, -0.3498, -0.9509]
    """
    check_modifier_inputs("aem", result, batch)
    lam = check_real("lam", lam, low=0.0)
    min_range = check_real("min_range", min_range, low=0.0)
    entropy = batch.require("entropy", "aem")
    layout = batch.layout

    alpha, flat = response_coefficients(entropy, layout.group, lam=lam, min_range=min_range)
    advantages = result.advantages[layout.order] * alpha
    diagnostics = dict(result.diagnostics)
    diagnostics.update(
        estimator=f"aem({diagnostics.get('estimator', '?')})",
        advantage_mean=float(advantages.mean()),
        advantage_std=float(advantages.std()),
        aem={
            "lam": lam,
            "min_range": min_range,
            "groups": int(flat.size),
            "groups_unmodulated": int(flat.sum()),
            "alpha_min": float(alpha.min()),
            "alpha_max": float(alpha.max()),
        },
    )
    return AdvantageResult(
        advantages=layout.to_input_order(advantages),
        clip_ranges=result.clip_ranges,
        diagnostics=diagnostics,
    )


def response_coefficients(
    entropy: np.ndarray, group: np.ndarray, *, lam: float, min_range: float
) -> tuple[np.ndarray, np.ndarray]:
    """AEM's ``alpha`` for each row, and for each group whether it was left at 1.

    ``entropy`` and ``group`` are per row with equal groups contiguous (the canonical
    order of a :class:`Layout`).

    >>> alpha, flat = response_coefficients(
    ...     np.array([0.0, 1.0, 0.5, 0.52]), np.array([0, 0, 1, 1]), lam=1.0, min_range=0.1
    ... )
    >>> alpha.round(4).tolist(), flat.tolist()
    ([1.4621, 0.5379, 1.0, 1.0], [False, True])
    """
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    row_group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, group.size]))
    low = np.minimum.reduceat(entropy, starts)
    spread = np.maximum.reduceat(entropy, starts) - low
    flat = (spread < min_range) | (spread <= 0.0)
    safe_spread = np.where(flat, 1.0, spread)
    normalised = (entropy - low[row_group]) / safe_spread[row_group]
    g = np.exp(-lam * normalised)
    g_mean = np.add.reduceat(g, starts) / np.diff(np.r_[starts, group.size])
    alpha = np.where(flat[row_group], 1.0, g / g_mean[row_group])
    return alpha, flat


register_modifier("aem", aem)
