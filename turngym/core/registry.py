"""Registration on Gymnasium's own registry, in the ``turngym`` namespace.

``turngym.register`` is ``gymnasium.register`` plus a one-line description
that ``turngym list`` shows; ``turngym.make`` *is* ``gymnasium.make``. Ids
without a namespace are put in ``turngym/``::

    import turngym

    turngym.register("Echo-v0", "my_pkg.echo:EchoEnv", "repeat the user's word")
    env = turngym.make("turngym/Echo-v0")        # or gymnasium.make(...)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import WrapperSpec
from gymnasium.wrappers import PassiveEnvChecker

NAMESPACE = "turngym"

make = gym.make
"""``gymnasium.make`` itself: ``turngym.make(id, **kwargs)`` is the same call."""


@dataclass(frozen=True)
class EnvEntry:
    """A registered turngym environment: its full id and a one-line description."""

    id: str
    description: str
    entry_point: str


_DESCRIPTIONS: dict[str, str] = {}


class RegistrationWarning(UserWarning):
    """``register`` replaced an id that was registered with a different entry."""


class TurnEnvChecker(PassiveEnvChecker):
    """Gymnasium's passive environment checker, except that a ``reset`` that raises is not
    taken as the checked first reset.

    Gymnasium's ``PassiveEnvChecker`` marks its first reset as checked before calling it, so
    after a refused first reset (an unknown ``task_id``) its first ``step`` fails on the data
    it never got. turngym's ids are registered with this checker in its place (through the
    spec's ``additional_wrappers``); ``check_env`` and everything else are unchanged.
    """

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        """Check the first reset that succeeds; a refused one leaves the checker as it was."""
        first = not self.checked_reset
        try:
            return super().reset(seed=seed, options=options)
        except BaseException:
            if first:
                self.checked_reset = False
            raise

    @property
    def spec(self) -> Any:
        """The wrapped env's spec with this wrapper recorded, so ``gymnasium.make(env.spec)`` works."""
        return gym.Wrapper.spec.fget(self)  # type: ignore[attr-defined]


_CHECKER = WrapperSpec("TurnEnvChecker", f"{__name__}:TurnEnvChecker", {})


def full_id(env_id: str) -> str:
    """``"Foo-v0"`` -> ``"turngym/Foo-v0"``; an id with a namespace is kept."""
    return env_id if "/" in env_id else f"{NAMESPACE}/{env_id}"


def register(
    env_id: str,
    entry_point: str | Callable[..., gym.Env],
    description: str,
    **kwargs: Any,
) -> str:
    """Register an environment with Gymnasium and describe it for ``turngym list``.

    ``entry_point`` is ``"module:Class"`` (imported only when made) or a callable;
    ``kwargs`` become the defaults passed to it. Registering an id again with the same
    entry point, arguments and description does nothing; with a different one it replaces
    the entry and warns (:class:`RegistrationWarning`). Returns the full id.
    """
    if not description or "\n" in description:
        raise ValueError("description must be one non-empty line")
    env_id = full_id(env_id)
    old = gym.registry.get(env_id)
    if old is not None:
        same = old.entry_point == entry_point and old.kwargs == kwargs
        if same and _DESCRIPTIONS.get(env_id) == description:
            return env_id
        warnings.warn(
            f"register: {env_id} was already registered (entry point {old.entry_point!r}, "
            f"kwargs {old.kwargs}); replacing it with {entry_point!r}, kwargs {kwargs}",
            RegistrationWarning,
            stacklevel=2,
        )
        del gym.registry[env_id]
    gym.register(id=env_id, entry_point=entry_point, kwargs=kwargs, disable_env_checker=True,
                 additional_wrappers=(_CHECKER,))
    _DESCRIPTIONS[env_id] = description
    return env_id


def list_envs() -> list[EnvEntry]:
    """turngym's registered environments, sorted by id."""
    entries = []
    for env_id, spec in gym.registry.items():
        if spec.namespace != NAMESPACE:
            continue
        entry = spec.entry_point
        entry_name = entry if isinstance(entry, str) else f"{entry.__module__}:{entry.__qualname__}"
        entries.append(EnvEntry(env_id, _DESCRIPTIONS.get(env_id, ""), entry_name))
    return sorted(entries, key=lambda e: e.id)
