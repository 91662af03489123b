"""Registration on Gymnasium's own registry, in the ``turngym`` namespace.

``turngym.register`` is ``gymnasium.register`` plus a one-line description
that ``turngym list`` shows; ``turngym.make`` *is* ``gymnasium.make``. Ids
without a namespace are put in ``turngym/``::

    import turngym

    turngym.register("Echo-v0", "my_pkg.echo:EchoEnv", "repeat the user's word")
    env = turngym.make("turngym/Echo-v0")        # or gymnasium.make(...)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

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
    ``kwargs`` become the defaults passed to it. Re-registering an id replaces it.
    Returns the full id.
    """
    if not description or "\n" in description:
        raise ValueError("description must be one non-empty line")
    env_id = full_id(env_id)
    if env_id in gym.registry:
        del gym.registry[env_id]
    gym.register(id=env_id, entry_point=entry_point, kwargs=kwargs, disable_env_checker=False)
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
