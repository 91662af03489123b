"""Parameter checks shared by the estimators: errors say what was given and what is accepted."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

NORM_MODES = ("std", "mean")
RETURN_FORMS = ("sum", "min")


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is a finite real number in range.

    ``low`` is inclusive unless ``low_open``; ``high`` is always inclusive.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        left = "(" if low_open else "["
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        closer = ")" if high is None else "]"
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{closer}, got {value!r}")
    return value


def check_int(name: str, value: Any, *, low: int) -> int:
    """Return ``value`` after checking it is an integer (not a bool) and at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` after checking it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        accepted = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {accepted}, got {value!r}")
    return value


def check_norm(norm: Any, norm_eps: Any) -> tuple[str, float]:
    """Check the two normalisation parameters every ``norm``-based estimator takes."""
    return check_choice("norm", norm, NORM_MODES), check_real("norm_eps", norm_eps, low=0.0)


def check_gamma(gamma: Any) -> float:
    """Check a discount factor: a real number in [0, 1]."""
    return check_real("gamma", gamma, low=0.0, high=1.0)


def check_return_form(return_form: Any) -> str:
    """Check ``return_form``: ``"sum"`` (discounted sum) or ``"min"`` (PURE's min-form)."""
    return check_choice("return_form", return_form, RETURN_FORMS)


def check_modifier_inputs(name: str, result: Any, batch: Any) -> None:
    """What every advantage modifier checks first: an ``AdvantageResult`` computed on ``batch``."""
    from .batch import TurnBatch
    from .result import AdvantageResult

    if not isinstance(result, AdvantageResult):
        raise TypeError(f"{name}() needs an AdvantageResult, got {type(result).__name__}")
    if not isinstance(batch, TurnBatch):
        raise TypeError(f"{name}() needs a TurnBatch, got {type(batch).__name__}")
    if result.advantages.shape != (batch.n_turns,):
        raise ValueError(
            f"result has {result.advantages.shape} advantages but the batch has "
            f"{batch.n_turns} turns; pass the batch the result was computed on"
        )
