"""combine: a weighted sum of registered estimators, itself usable as an estimator."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .batch import TurnBatch
from .presets import check_preset
from .registry import check_params, estimate, get_estimator, register_estimator
from .result import AdvantageResult, finish

Component = tuple[float, str, Mapping[str, Any]]


def check_components(components: Any) -> list[Component]:
    """Validate ``[(weight, name, params), ...]``: finite real weights, registered names,
    ``params`` a dict of parameters that estimator accepts."""
    if isinstance(components, (str, bytes)) or not isinstance(components, Sequence):
        raise TypeError(
            "components must be a list of (weight, name, params) tuples, "
            f"got {type(components).__name__}"
        )
    if not components:
        raise ValueError("components must hold at least one (weight, name, params) tuple")
    checked: list[Component] = []
    for i, item in enumerate(components):
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise TypeError(
                f"components[{i}] must be a (weight, name, params) tuple, e.g. "
                f"(1.0, 'grpo', {{}}), got {item!r}"
            )
        weight, name, params = item
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise TypeError(f"components[{i}]: weight must be a real number, got {weight!r}")
        if not math.isfinite(weight):
            raise ValueError(f"components[{i}]: weight must be finite, got {weight!r}")
        get_estimator(name)  # unknown names raise, listing the registered ones
        if not isinstance(params, Mapping):
            raise TypeError(
                f"components[{i}]: params must be a dict of {name!r}'s parameters, "
                f"got {type(params).__name__}"
            )
        check_params(name, dict(params))
        checked.append((float(weight), name, dict(params)))
    return checked


@register_estimator("combine")
def combine_advantages(
    batch: TurnBatch, *, components: Sequence[Component], preset: str = "turngym"
) -> AdvantageResult:
    """A weighted sum of estimators: ``A = sum_k w_k * A^(k)``.

    ``preset`` is passed to every component whose params do not name their own.

    ``components`` is a list of ``(weight, name, params)`` with ``params`` a dict of that
    estimator's parameters. ``clip_ranges`` are taken from the one component that provides
    them (unweighted); two components providing them is an error. Diagnostics keep every
    component's (``components``) and prefix their pool reports with ``"<i>:<name>."``.

    Example: GRPO plus half of MT-GRPO's turn term.

    >>> batch = TurnBatch.from_groups([[[1, 1], [0, 0], [2, 0, -1]]])
    >>> res = combine_advantages(
    ...     batch, components=[(1.0, "grpo", {}), (0.5, "mt_grpo", {"lambda_turn": 1.0})]
    ... )
    >>> res.advantages.round(4).tolist()
    [1.5, 1.5, -2.0, -1.5, 0.5, 0.0, 0.0]
    >>> combine_advantages(
    ...     batch, components=[(1.0, "grpo", {}), (0.5, "mt_grpo", {})], preset="paper"
    ... ).advantages.round(3).tolist()
    [1.5, 1.5, -1.5, -1.0, 0.0, -0.5, -0.5]
    """
    parts = check_components(components)
    preset = check_preset("combine", preset)
    total = np.zeros(batch.n_turns)
    clip_ranges = None
    clip_source = None
    pools = []
    summaries = []
    for i, (weight, name, params) in enumerate(parts):
        result = estimate(name, batch, **{"preset": preset, **params})
        total += weight * result.advantages
        if result.clip_ranges is not None:
            if clip_source is not None:
                raise ValueError(
                    f"components {clip_source} and {i}:{name!r} both provide clip_ranges; "
                    "combine at most one estimator that sets per-turn clip ranges"
                )
            clip_ranges, clip_source = result.clip_ranges, f"{i}:{name!r}"
        for kind, report in result.diagnostics.get("pools", {}).items():
            pools.append(dataclasses.replace(report, kind=f"{i}:{name}.{kind}"))
        summaries.append({"weight": weight, "diagnostics": result.diagnostics})

    order = batch.layout.order
    params_out = {"components": [(w, n, p) for w, n, p in parts], "preset": preset}
    return finish(
        batch,
        "combine",
        params_out,
        total[order],
        pools=pools,
        clip_ranges=None if clip_ranges is None else clip_ranges[order],
        components=summaries,
    )


def combine(components: Sequence[Component]) -> Callable[[TurnBatch], AdvantageResult]:
    """Build an estimator ``fn(batch) -> AdvantageResult`` from weighted components.

    The components are checked now (names, parameter names, weights), so a typo fails
    when the mix is defined rather than mid-training. ``register_estimator("mix", ...)``
    is not needed: ``estimate("combine", batch, components=...)`` does the same by name.

    >>> mix = combine([(1.0, "grpo", {}), (0.5, "gigpo", {"omega": 1.0})])
    >>> batch = TurnBatch.from_groups([[[1], [0]]], anchors=[[["s"], ["s"]]])
    >>> mix(batch).advantages.round(4).tolist()
    [1.4142, -1.4142]
    """
    parts = check_components(components)

    def combined(batch: TurnBatch) -> AdvantageResult:
        return combine_advantages(batch, components=parts)

    combined.__name__ = combined.__qualname__ = "combined"
    combined.__doc__ = f"Weighted sum of estimators: {parts!r}"
    return combined
