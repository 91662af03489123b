"""The estimator registry: ``estimate(name, batch, **params)`` and ``register_estimator``.

An estimator is a function ``fn(batch, *, param=default, ...) -> AdvantageResult`` whose
parameters are all keyword-only. ``estimate`` checks the name and the parameter names
before calling it, so a typo gets an error listing what is accepted; each estimator checks
its parameter values itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from .batch import TurnBatch
from .result import AdvantageResult

Estimator = Callable[..., AdvantageResult]
E = TypeVar("E", bound=Estimator)

_ESTIMATORS: dict[str, Estimator] = {}


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


def estimate(name: str, batch: TurnBatch, **params: Any) -> AdvantageResult:
    """Run the estimator registered as ``name`` on ``batch``.

    Unknown names raise ``ValueError`` listing the registered ones; unknown parameter names
    raise ``TypeError`` listing the accepted ones (with defaults); bad parameter values
    raise ``ValueError``/``TypeError`` from the estimator.

    >>> batch = TurnBatch.from_groups([[[0.0, 1.0], [0.0]]])
    >>> estimate("rloo", batch).advantages.tolist()
    [1.0, 1.0, -1.0]
    """
    fn = _get(name)
    if not isinstance(batch, TurnBatch):
        raise TypeError(f"estimate() needs a TurnBatch, got {type(batch).__name__}")
    check_params(name, params)
    return fn(batch, **params)


def _get(name: str) -> Estimator:
    try:
        return _ESTIMATORS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown estimator {name!r}; registered: {', '.join(list_estimators())}"
        ) from None
