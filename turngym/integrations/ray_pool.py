"""Environments in Ray actors, played by the one episode runner.

:class:`RayEnvPool` is an environment *source*: calling it returns a fresh
environment that lives in one of ``actors`` Ray actors, seen through a proxy
(:class:`RayEnv`, or :class:`RayTurnEnv` for turngym environments) that forwards
``reset``/``step``/``close`` and the rest of the environment's public surface
(``oracle_action``, ``get_state``, ``tools``, ...). So the runner needs no Ray
code of its own::

    pool = RayEnvPool("turngym/CodeSandbox-v0", actors=8)
    records = play_episodes(pool, agent, tasks, concurrency=8)   # or collect(pool, policy, ...)
    pool.close()

and the same seeds give the same records as in-process environments.

Placement: each new environment goes to the actor holding the fewest live ones, so
heavy environments (the code sandbox) get an actor, that is a process and a core,
each while there are at least as many actors as episodes, and light ones (SearchQA)
share actors, many environments per actor. An actor serves up to
``threads_per_actor`` calls at once, so one slow call does not hold up the other
environments it hosts.

Failures stay with their episode:

- an exception inside the environment reaches the runner as the environment's own
  exception (the record reads exactly as in-process);
- a call that takes longer than ``call_timeout_s`` raises :class:`EnvCallTimeout`; its
  actor takes no new environments and is killed (and replaced) once the others it
  hosts have closed;
- an actor that dies (``ray.kill``, a crash, its node lost) raises
  :class:`EnvActorDied` in each environment it hosted, and a fresh actor replaces it.

The runner records the reason and plays the rest of the batch. Ray is started
locally (``ray.init``) when no cluster is connected yet; the pool never shuts Ray
down, so several pools can share one cluster.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from turngym.core.env import TurnEnv
from turngym.rollout.tasks import EnvSource, env_factory, source_label


class EnvActorDied(RuntimeError):
    """The Ray actor hosting an environment died; the episode cannot go on."""


class EnvCallTimeout(TimeoutError):
    """An environment call took longer than the pool's ``call_timeout_s``."""


class _EnvHost:
    """The actor: a process holding several environments, addressed by key."""

    def __init__(self, env: EnvSource, env_kwargs: Mapping[str, Any], spec: Any = None) -> None:
        import turngym  # noqa: F401  (registers the turngym ids in this process)

        if spec is not None and spec.id not in gym.registry:  # registered in the driver at run time
            gym.registry[spec.id] = spec
        self._make = env_factory(env, **dict(env_kwargs))
        self._envs: dict[int, gym.Env] = {}

    def make(self, key: int) -> dict[str, Any]:
        env = self._make()
        self._envs[key] = env
        return _describe(env)

    def reset(self, key: int, seed: int | None, options: dict[str, Any] | None) -> Any:
        return self._envs[key].reset(seed=seed, options=options)

    def step(self, key: int, action: Any) -> Any:
        return self._envs[key].step(action)

    def call(self, key: int, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return getattr(self._envs[key].unwrapped, name)(*args, **kwargs)

    def get(self, key: int, name: str) -> tuple[bool, Any]:
        value = getattr(self._envs[key].unwrapped, name)
        return (True, None) if callable(value) else (False, value)

    def close(self, key: int) -> None:
        env = self._envs.pop(key, None)
        if env is not None:
            env.close()

    def pid(self) -> int:
        import os

        return os.getpid()


_TURN_ENV_FIELDS = ("max_turns", "max_invalid_turns", "action_formats", "all_signal_names", "reward_weights",
                    "signal_names", "default_action_formats")


def _describe(env: gym.Env) -> dict[str, Any]:
    """What the proxy copies once: spec, spaces, metadata and a turngym environment's settings."""
    inner = env.unwrapped
    description = {
        "spec": env.spec, "observation_space": env.observation_space, "action_space": env.action_space,
        "metadata": dict(env.metadata), "render_mode": env.render_mode, "class_name": type(inner).__name__,
        "turn_env": isinstance(inner, TurnEnv),
    }
    if isinstance(inner, TurnEnv):
        description["tools"] = tuple(inner.tools)
        description.update({name: getattr(inner, name) for name in _TURN_ENV_FIELDS})
    return description


@dataclass(eq=False)
class _Actor:
    handle: Any
    index: int
    envs: int = 0
    ready: Any = None  # the first call's result: the actor's process has started
    retired: bool = False  # takes no new environments (a call hung in it)
    dead: bool = False


class RayEnvPool:
    """A source of environments that live in Ray actors (see the module docstring).

    Args:
        env: a registered id (made with ``gymnasium.make`` inside the actor, with
            ``env_kwargs``) or a picklable function making an environment.
        env_kwargs: keyword arguments for ``gymnasium.make`` when ``env`` is an id.
        actors: how many actors host environments.
        num_cpus_per_actor: Ray CPUs each actor reserves (fractions allowed: ``0.25``
            packs four light actors per core).
        threads_per_actor: calls one actor serves at once (one per environment in flight).
        call_timeout_s: the most one ``make``/``reset``/``step``/... may take (``None``: no limit).
        start_timeout_s: the most an actor may take to start (a process importing turngym).
        ray_init: keyword arguments for ``ray.init`` when Ray is not started yet
            (default: a local cluster without the dashboard).
    """

    def __init__(
        self,
        env: EnvSource,
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        actors: int = 1,
        num_cpus_per_actor: float = 1.0,
        threads_per_actor: int = 8,
        call_timeout_s: float | None = 60.0,
        start_timeout_s: float = 300.0,
        ray_init: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(actors, int) or isinstance(actors, bool) or actors < 1:
            raise ValueError(f"actors must be a positive int, got {actors!r}")
        if not isinstance(threads_per_actor, int) or threads_per_actor < 1:
            raise ValueError(f"threads_per_actor must be a positive int, got {threads_per_actor!r}")
        if isinstance(num_cpus_per_actor, bool) or not isinstance(num_cpus_per_actor, (int, float)) \
                or num_cpus_per_actor < 0:
            raise ValueError(f"num_cpus_per_actor must be a number >= 0, got {num_cpus_per_actor!r}")
        if call_timeout_s is not None and not call_timeout_s > 0:
            raise ValueError(f"call_timeout_s must be > 0 or None, got {call_timeout_s!r}")
        if not (isinstance(env, str) or callable(env)):
            raise ValueError(f"env must be an environment id or a function making one, got {env!r}")
        if env_kwargs and not isinstance(env, str):
            raise ValueError("env_kwargs are only accepted with an environment id")
        self.env = env
        self.env_kwargs = dict(env_kwargs or {})
        self.actors = actors
        self.num_cpus_per_actor = float(num_cpus_per_actor)
        self.threads_per_actor = threads_per_actor
        self.call_timeout_s = call_timeout_s
        self.start_timeout_s = start_timeout_s
        self.ray_init = dict(ray_init or {})
        # An id registered in this process only (a test's, a user's turngym.register call) travels
        # to the actors with its spec, which gymnasium.make there needs.
        self._spec = gym.registry.get(env) if isinstance(env, str) else None
        self.__name__ = source_label(env)  # what the runner writes as env_id before the first reset
        self._lock = threading.Lock()
        self._pool: list[_Actor] = []
        self._index = itertools.count()
        self._keys = itertools.count()
        self._closed = False
        self.replaced = 0
        """Actors started to replace dead or hung ones."""
        self._finalizer = weakref.finalize(self, _kill_all, self._pool)

    # ----- the source --------------------------------------------------------------------

    def __call__(self) -> RayEnv:
        """A fresh environment in the least-loaded live actor."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this RayEnvPool is closed; make a new one")
            actor = self._place()
            actor.envs += 1
        key = next(self._keys)
        try:
            if actor.ready is not None:  # starting a process is not an environment call: own limit
                self._get(actor, actor.ready, "actor start", self.start_timeout_s)
                actor.ready = None
            description = self._get(actor, actor.handle.make.remote(key), "make")
        except BaseException:
            self._release(actor)
            raise
        return _proxy_class(description)(self, actor, key, description)

    def start(self) -> RayEnvPool:
        """Start Ray (when needed) and the actors now rather than on the first environment."""
        with self._lock:
            self._place()
        return self

    def close(self) -> None:
        """Kill this pool's actors (their environments with them); Ray itself keeps running."""
        with self._lock:
            self._closed = True
            _kill_all(self._pool)

    def __enter__(self) -> RayEnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def live_actors(self) -> list[Any]:
        """Handles of the actors that take new environments (for tests and monitoring)."""
        with self._lock:
            return [a.handle for a in self._pool if not (a.dead or a.retired)]

    # ----- bookkeeping -------------------------------------------------------------------

    def _place(self) -> _Actor:
        """The live actor with the fewest environments, starting actors up to ``actors`` (lock held)."""
        if not ray.is_initialized():
            ray.init(**{"include_dashboard": False, "logging_level": "warning", **self.ray_init})
        live = [a for a in self._pool if not (a.dead or a.retired)]
        while len(live) < self.actors:
            if len(self._pool) >= self.actors:
                self.replaced += 1
            remote = ray.remote(_EnvHost).options(
                num_cpus=self.num_cpus_per_actor, max_concurrency=self.threads_per_actor,
            )
            handle = remote.remote(self.env, self.env_kwargs, self._spec)
            actor = _Actor(handle, next(self._index), ready=handle.pid.remote())
            self._pool.append(actor)
            live.append(actor)
        return min(live, key=lambda a: (a.envs, a.index))

    def _get(self, actor: _Actor, ref: Any, what: str, timeout: float | None = -1.0) -> Any:
        """The result of one actor call, or the environment's own exception, or ours."""
        timeout = self.call_timeout_s if timeout == -1.0 else timeout
        try:
            return ray.get(ref, timeout=timeout)
        except GetTimeoutError:
            with self._lock:
                actor.retired = True
            raise EnvCallTimeout(
                f"environment {what} timed out after {timeout} s (Ray actor {actor.index})"
            ) from None
        except RayTaskError as exc:  # the environment raised: hand on its own exception
            cause = exc.cause
            if isinstance(cause, BaseException):
                raise cause from None
            raise
        except RayActorError as exc:
            with self._lock:
                actor.dead = True
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EnvActorDied(f"the Ray actor hosting the environment died during {what}: {why}") from None

    def _release(self, actor: _Actor) -> None:
        with self._lock:
            actor.envs -= 1
            done_with = actor.retired and not actor.dead and actor.envs <= 0
            if done_with:
                actor.dead = True
        if done_with:  # its hung call holds a thread forever: end the process
            ray.kill(actor.handle, no_restart=True)

    def __repr__(self) -> str:
        return f"RayEnvPool({self.env!r}, actors={self.actors})"


_PROXY_CLASSES: dict[tuple[str, bool], type] = {}


def _proxy_class(description: Mapping[str, Any]) -> type[RayEnv]:
    """A proxy class named like the remote environment's class, so that records of environments
    made by a factory (no registered id) name the same class as in-process ones."""
    key = (str(description["class_name"]), bool(description["turn_env"]))
    if key not in _PROXY_CLASSES:
        base = RayTurnEnv if key[1] else RayEnv
        _PROXY_CLASSES[key] = type(key[0], (base,), {"__doc__": base.__doc__, "__module__": __name__})
    return _PROXY_CLASSES[key]


def _kill_all(pool: list[_Actor]) -> None:
    for actor in pool:
        if not actor.dead:
            actor.dead = True
            try:
                ray.kill(actor.handle, no_restart=True)
            except Exception:  # Ray already shut down: the actors went with it
                pass


class RayEnv(gym.Env):
    """A Gymnasium environment living in a Ray actor of a :class:`RayEnvPool` (made by the pool)."""

    def __init__(self, pool: RayEnvPool, actor: _Actor, key: int, description: Mapping[str, Any]) -> None:
        self._pool = pool
        self._actor = actor
        self._key = key
        self._closed = False
        self._description = dict(description)
        self.spec = description["spec"]
        self.observation_space = description["observation_space"]
        self.action_space = description["action_space"]
        self.metadata = description["metadata"]
        self.render_mode = description["render_mode"]

    def _call(self, method: str, *args: Any) -> Any:
        if self._closed:
            raise RuntimeError(f"{method}() on a closed environment")
        ref = getattr(self._actor.handle, method).remote(self._key, *args)
        return self._pool._get(self._actor, ref, method)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """``reset`` in the actor."""
        return self._call("reset", seed, options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        """``step`` in the actor."""
        return self._call("step", action)

    def render(self) -> Any:
        """``render`` in the actor."""
        return self._call("call", "render", (), {})

    def close(self) -> None:
        """Close the environment in its actor (best effort) and free its place in the pool."""
        if self._closed:
            return
        self._closed = True
        actor = self._actor
        try:
            if not (actor.dead or actor.retired):
                ray.get(actor.handle.close.remote(self._key), timeout=self._pool.call_timeout_s)
        except Exception:  # closing is best effort; the pool still frees the place
            pass
        finally:
            self._pool._release(actor)

    @property
    def actor(self) -> Any:
        """The Ray actor handle hosting this environment."""
        return self._actor.handle

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not found here: forward public ones to the real environment.
        if name.startswith("_"):
            raise AttributeError(name)
        is_method, value = self._call("get", name)
        if not is_method:
            return value
        return lambda *args, **kwargs: self._call("call", name, args, kwargs)

    def __repr__(self) -> str:
        return f"<RayEnv {self._description['class_name']} in Ray actor {self._actor.index}>"


class RayTurnEnv(RayEnv, TurnEnv):
    """A :class:`~turngym.core.TurnEnv` living in a Ray actor: agents that read ``tools`` or
    call ``oracle_action()`` work unchanged."""

    def __init__(self, pool: RayEnvPool, actor: _Actor, key: int, description: Mapping[str, Any]) -> None:
        RayEnv.__init__(self, pool, actor, key, description)
        self.tools = description["tools"]
        for name in _TURN_ENV_FIELDS:
            setattr(self, name, description[name])

    def oracle_action(self) -> Any:
        """The remote environment's ``oracle_action()``."""
        return self._call("call", "oracle_action", (), {})

    def get_state(self) -> Any:
        """The remote environment's ``get_state()``."""
        return self._call("call", "get_state", (), {})

    def set_state(self, state: Any) -> None:
        """The remote environment's ``set_state(state)``."""
        self._call("call", "set_state", (state,), {})

    @property
    def task_id(self) -> str:
        """The remote environment's current task id."""
        return self._call("get", "task_id")[1]

    @property
    def turn(self) -> int:
        """Turns taken in the remote environment's episode."""
        return self._call("get", "turn")[1]

    @property
    def history(self) -> list[Any]:
        """The remote environment's conversation so far."""
        return self._call("get", "history")[1]

    def _reset_task(self, options: Mapping[str, Any]) -> Any:
        raise NotImplementedError("a RayTurnEnv runs its tasks in its actor")

    def _apply(self, calls: Any) -> Any:
        raise NotImplementedError("a RayTurnEnv runs its actions in its actor")

