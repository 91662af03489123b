"""Presets: named bundles of an estimator's keyword parameters.

Every registered estimator takes ``preset=``: ``"turngym"`` (the defaults in its signature)
or ``"paper"`` (its authors' published conventions; see the table in the package
docstring). A preset only fills the parameters the caller did not give, so any single
one can still be overridden::

    estimate("igpo", batch, preset="paper", mode="separate")

The resolved preset is recorded in ``diagnostics["params"]["preset"]``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .result import AdvantageResult

PRESETS = ("turngym", "paper")
"""The presets every estimator accepts."""

F = TypeVar("F", bound=Callable[..., AdvantageResult])


def check_preset(estimator: str, preset: Any) -> str:
    """Return ``preset`` after checking it is one of :data:`PRESETS`."""
    if not isinstance(preset, str) or preset not in PRESETS:
        accepted = ", ".join(repr(p) for p in PRESETS)
        raise ValueError(
            f"estimator {estimator!r}: unknown preset {preset!r}; accepted presets: {accepted}"
        )
    return preset


def with_presets(estimator: str, *, paper: Mapping[str, Any]) -> Callable[[F], F]:
    """Give ``fn`` a keyword-only ``preset`` parameter (``"turngym"`` by default).

    ``paper`` maps parameter names of ``fn`` to the values its authors' code uses; those
    values fill the parameters the caller leaves out when ``preset="paper"``. The wrapper
    keeps ``fn``'s docstring and signature (plus ``preset``), so the registry lists the
    preset with the other parameters.
    """
    paper = dict(paper)

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        unknown = sorted(set(paper) - set(signature.parameters))
        if unknown:
            raise TypeError(f"preset 'paper' of {estimator!r} sets unknown parameters {unknown}")
        bundles = {"turngym": {}, "paper": paper}

        @functools.wraps(fn)
        def wrapper(batch: Any, *, preset: str = "turngym", **params: Any) -> AdvantageResult:
            bundle = bundles[check_preset(estimator, preset)]
            result = fn(batch, **{**bundle, **params})
            result.diagnostics.setdefault("params", {})["preset"] = preset
            return result

        parameters = list(signature.parameters.values())
        parameters.append(
            inspect.Parameter("preset", inspect.Parameter.KEYWORD_ONLY, default="turngym")
        )
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.presets = bundles  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def preset_params(fn: Callable[..., Any], preset: str) -> dict[str, Any]:
    """The parameter values ``preset`` sets for an estimator function (``{}`` for
    ``"turngym"`` and for estimators without presets)."""
    return dict(getattr(fn, "presets", {}).get(preset, {}))
