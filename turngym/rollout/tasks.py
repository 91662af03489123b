"""What to play: tasks (seeds and reset options) and where environments come from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym

Task = int | Mapping[str, Any] | None
"""One task: a reset seed (int), ``None`` (unseeded), or ``{"seed": ..., "options": {...}}``."""

EnvSource = str | Callable[[], gym.Env]
"""A registered environment id (made with ``gymnasium.make``) or a function making a fresh environment."""


def parse_task(task: Task, index: int) -> tuple[int | None, dict[str, Any] | None]:
    """``(seed, options)`` of one task, or ``ValueError`` saying what a task may be."""
    if task is None or (isinstance(task, int) and not isinstance(task, bool)):
        return task, None
    if isinstance(task, Mapping):
        unknown = set(task) - {"seed", "options"}
        seed = task.get("seed")
        options = task.get("options")
        if unknown or not (seed is None or (isinstance(seed, int) and not isinstance(seed, bool))) or not (
            options is None or isinstance(options, Mapping)
        ):
            raise ValueError(
                f"task {index} is {dict(task)!r}; a task is a seed (int), None, or a dict with "
                "'seed' (int) and/or 'options' (dict)"
            )
        return seed, dict(options) if options is not None else None
    raise ValueError(f"task {index} is {task!r}; a task is a seed (int), None, or {{'seed', 'options'}}")


def env_factory(env: EnvSource, **kwargs: Any) -> Callable[[], gym.Env]:
    """A function making a fresh environment from an id (with ``kwargs``) or a factory."""
    if isinstance(env, str):
        return lambda: gym.make(env, **kwargs)
    if callable(env):
        if kwargs:
            raise ValueError("environment keyword arguments are only accepted with an environment id")
        return env
    raise ValueError(f"env must be an environment id or a function making an environment, got {env!r}")


def source_label(env: EnvSource) -> str:
    """A name for ``env`` before any environment is made (records take the made one's id)."""
    if isinstance(env, str):
        return env
    name = getattr(env, "__name__", type(env).__name__)
    return "" if name == "<lambda>" else name
