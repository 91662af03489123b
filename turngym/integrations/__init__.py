"""Thin adapters to existing engines, each imported only when used.

- :mod:`turngym.integrations.ray_pool` - environments in Ray actors, driven by the one
  episode runner (``pip install 'turngym[ray]'``);
- :mod:`turngym.integrations.verl` - turngym environments and estimators inside verl's
  PPO trainer (an agent loop and registered advantage estimators; verl in its own
  environment, ``make verl-env``).

Importing this package imports neither Ray nor verl. :func:`parse_env_workers` and
:func:`env_source` are what ``turngym train`` / ``turngym eval`` use to pick where
environments run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ENV_WORKERS_PATTERN = r"local|ray:[1-9][0-9]*"
"""Accepted values of the environment-workers switch: ``local`` or ``ray:N`` (N Ray actors)."""


def parse_env_workers(text: str) -> int:
    """``"local"`` -> 0, ``"ray:N"`` -> N (actors); else a ``ValueError`` saying what is accepted."""
    if not isinstance(text, str) or not re.fullmatch(ENV_WORKERS_PATTERN, text.strip()):
        raise ValueError(
            f"environment workers {text!r} not understood; accepted: 'local' (in this process) or "
            "'ray:N' (N >= 1 Ray actors, e.g. 'ray:4')"
        )
    text = text.strip()
    return 0 if text == "local" else int(text.split(":", 1)[1])


def env_source(env_id: str, env_kwargs: Mapping[str, Any] | None = None, workers: str = "local") -> Any:
    """Where the runner gets its environments: a local factory, or a :class:`RayEnvPool` for ``ray:N``.

    Both are zero-argument callables returning a fresh ``gymnasium.Env``; the pool's
    environments live in Ray actors (close it with ``pool.close()`` when done).
    """
    actors = parse_env_workers(workers)
    kwargs = dict(env_kwargs or {})
    if actors == 0:
        import gymnasium as gym

        return lambda: gym.make(env_id, **kwargs)
    from turngym.integrations.ray_pool import RayEnvPool

    return RayEnvPool(env_id, env_kwargs=kwargs, actors=actors)
