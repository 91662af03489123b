"""The estimator registry: ``estimate(name, batch, **params)`` and ``register_estimator``.

An estimator is a function ``fn(batch, *, param=default, ...) -> AdvantageResult`` whose
parameters are all keyword-only. ``estimate`` checks the name and the parameter names
before calling it, so a typo gets an error listing what is accepted; each estimator checks
its parameter values itself.

A *modifier* (``empg``) rescales the advantages another estimator produced:
``fn(result, batch, **params) -> AdvantageResult``. Modifiers are registered apart
(``register_modifier``) and applied by ``estimate(name, batch, modifiers=[...])``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from .batch import TurnBatch
from .result import AdvantageResult

Estimator = Callable[..., AdvantageResult]
E = TypeVar("E", bound=Estimator)
Modifier = Callable[..., AdvantageResult]

_ESTIMATORS: dict[str, Estimator] = {}
_MODIFIERS: dict[str, Modifier] = {}


def register_estimator(
    name: str, fn: E | None = None, *, overwrite: bool = False
) -> E | Callable[[E], E]:
    """Register ``fn`` under ``name``; usable as ``@register_estimator("name")``.

    ``fn`` must take the batch as its one positional parameter and everything else as
    keyword-only parameters. Registering a taken name raises unless ``overwrite=True``.

    >>> @register_estimator("zeros_example")
    ... def zeros(batch, *, scale=1.0):
    ...     return AdvantageResult(advantages=0.0 * scale * batch.rewards)
    >>> "zeros_example" in list_estimators()
    True
    >>> unregister_estimator("zeros_example")
    """

    def decorate(func: E) -> E:
        if not isinstance(name, str) or not name:
            raise TypeError(f"estimator name must be a non-empty string, got {name!r}")
        if name in _ESTIMATORS and not overwrite:
            raise ValueError(
                f"estimator {name!r} is already registered; pass overwrite=True to replace it"
            )
        if not callable(func):
            raise TypeError(f"estimator {name!r} must be callable, got {type(func).__name__}")
        params = list(inspect.signature(func).parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise TypeError(f"estimator {name!r} must take the TurnBatch as first argument")
        loose = [p.name for p in params[1:] if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        if loose:
            raise TypeError(
                f"estimator {name!r}: parameters after the batch must be keyword-only "
                f"(put them after '*'), got {loose}"
            )
        _ESTIMATORS[name] = func
        return func

    return decorate if fn is None else decorate(fn)


def unregister_estimator(name: str) -> None:
    """Remove a registered estimator (for tests and plugins); unknown names raise."""
    _get(name)
    del _ESTIMATORS[name]


def list_estimators() -> list[str]:
    """Names of the registered estimators, sorted."""
    return sorted(_ESTIMATORS)


def estimator_params(name: str) -> dict[str, Any]:
    """The parameters ``name`` accepts with their defaults (``inspect.Parameter.empty``
    for required ones).

    >>> estimator_params("grpo")
    {'norm': 'std', 'norm_eps': 1e-06, 'singleton': 'zero', 'preset': 'turngym'}
    """
    params = list(inspect.signature(_get(name)).parameters.values())[1:]
    return {p.name: p.default for p in params}


def get_estimator(name: str) -> Estimator:
    """The function registered under ``name``."""
    return _get(name)


def check_params(name: str, params: dict[str, Any]) -> None:
    """Raise ``TypeError`` if ``params`` has names ``name`` does not accept or lacks required
    ones; the message lists the accepted parameters and their defaults."""
    accepted = estimator_params(name)
    unknown = sorted(set(params) - set(accepted))
    missing = sorted(
        k for k, v in accepted.items() if v is inspect.Parameter.empty and k not in params
    )
    if unknown or missing:
        listing = ", ".join(
            k if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in accepted.items()
        )
        what = f"unknown parameter(s) {unknown}" if unknown else f"missing parameter(s) {missing}"
        raise TypeError(f"estimator {name!r}: {what}; accepted: {listing or '(none)'}")


def estimate(
    name: str,
    batch: TurnBatch,
    *,
    modifiers: Sequence[str | tuple[str, Mapping[str, Any]]] = (),
    **params: Any,
) -> AdvantageResult:
    """Run the estimator registered as ``name`` on ``batch``, then each modifier in turn.

    ``modifiers`` lists registered modifiers as names or ``(name, params)`` pairs, e.g.
    ``modifiers=[("empg", {"k": 1.0, "zeta": 0.1})]``; they are checked before the
    estimator runs. Unknown names raise ``ValueError`` listing the registered ones (naming
    a modifier as the estimator says how to apply it); unknown parameter names raise
    ``TypeError`` listing the accepted ones (with defaults, ``preset`` included); bad
    parameter values raise ``ValueError``/``TypeError`` from the estimator.

    >>> batch = TurnBatch.from_groups([[[0.0, 1.0], [0.0]]], entropy=[[[0.0, 1.0], [1.0]]])
    >>> estimate("rloo", batch).advantages.tolist()
    [1.0, 1.0, -1.0]
    >>> # EMPG scales by g / mean(g), g = exp(-H_norm) = [1, 1/e, 1/e]
    >>> estimate("rloo", batch, modifiers=[("empg", {"zeta": 0.0})]).advantages.round(4).tolist()
    [1.7284, 0.6358, -0.6358]
    """
    fn = _get(name)
    if not isinstance(batch, TurnBatch):
        raise TypeError(f"estimate() needs a TurnBatch, got {type(batch).__name__}")
    check_params(name, params)
    chain = [_check_modifier(i, item) for i, item in enumerate(_as_list(modifiers))]
    result = fn(batch, **params)
    for modifier, modifier_params in chain:
        result = modifier(result, batch, **modifier_params)
    return result


def register_modifier(name: str, fn: Modifier) -> Modifier:
    """Register ``fn(result, batch, **params) -> AdvantageResult`` as modifier ``name``."""
    if not isinstance(name, str) or not name or name in _MODIFIERS or name in _ESTIMATORS:
        raise ValueError(f"modifier name {name!r} must be a new, non-empty string")
    _MODIFIERS[name] = fn
    return fn


def list_modifiers() -> list[str]:
    """Names of the registered modifiers (applied with ``estimate(..., modifiers=...)``)."""
    return sorted(_MODIFIERS)


def _as_list(modifiers: Any) -> list[Any]:
    one_pair = (
        isinstance(modifiers, tuple) and len(modifiers) == 2 and isinstance(modifiers[1], Mapping)
    )
    if isinstance(modifiers, str) or one_pair:
        return [modifiers]
    if not isinstance(modifiers, Sequence):
        raise TypeError(
            "modifiers must be a list of names or (name, params) pairs, e.g. "
            f"[('empg', {{'k': 1.0}})], got {type(modifiers).__name__}"
        )
    return list(modifiers)


def _check_modifier(i: int, item: Any) -> tuple[Modifier, dict[str, Any]]:
    if isinstance(item, str):
        name, params = item, {}
    elif isinstance(item, (tuple, list)) and len(item) == 2:
        name, params = item
    else:
        raise TypeError(f"modifiers[{i}] must be a name or a (name, params) pair, got {item!r}")
    if name not in _MODIFIERS:
        registered = ", ".join(list_modifiers()) or "(none)"
        raise ValueError(f"modifiers[{i}]: unknown modifier {name!r}; registered: {registered}")
    if not isinstance(params, Mapping):
        raise TypeError(f"modifiers[{i}]: params of {name!r} must be a dict, got {params!r}")
    fn = _MODIFIERS[name]
    accepted = list(inspect.signature(fn).parameters)[2:]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(
            f"modifier {name!r}: unknown parameter(s) {unknown}; accepted: {', '.join(accepted)}"
        )
    return fn, dict(params)


def _get(name: str) -> Estimator:
    try:
        return _ESTIMATORS[name]
    except (KeyError, TypeError):
        hint = ""
        if isinstance(name, str) and name in _MODIFIERS:
            hint = (
                f" ({name!r} is a modifier: it rescales another estimator's advantages; "
                f"use estimate('grpo', batch, modifiers=[{name!r}]), or with parameters "
                f"modifiers=[({name!r}, {{...}})])"
            )
        raise ValueError(
            f"unknown estimator {name!r}; registered: {', '.join(list_estimators())}{hint}"
        ) from None
