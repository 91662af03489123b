"""Episodes played by text-level agents: scripted baselines, OpenAI-compatible endpoints, people.

A text-level agent has ``name``, ``reset(seed)`` and ``act(history, env) -> action``
(:class:`turngym.agents.base.Agent`). Its records hold the messages; the token
fields stay empty (token-level policies go through :mod:`turngym.rollout.tokens`).

Failures stay local: an exception from the agent or the environment ends only
that episode, recorded with ``status="failed"`` and the reason, keeping the
turns played before it.
"""

from __future__ import annotations

import concurrent.futures as futures
import copy
import itertools
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import gymnasium as gym

from turngym.core.trajectory import EpisodeRecord
from turngym.rollout.progress import EpisodeProgress
from turngym.rollout.records import (
    check_reset,
    check_step,
    failure_reason,
    new_episode,
    record_cutoff,
    record_failure,
    record_reset,
    record_turn,
)
from turngym.rollout.tasks import EnvSource, Task, env_factory, parse_task, source_label

SAMPLE_SEED_STRIDE = 1_000_003
"""Sample ``j > 0`` of a task seeded ``s`` resets its agent with ``s + SAMPLE_SEED_STRIDE * j``
(the environment still gets ``s``), so repeated samples of a task are different draws."""


def play_episode(
    env: gym.Env,
    agent: Any,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    episode_id: str | None = None,
    group_id: str = "",
    max_turns: int | None = None,
    record: EpisodeRecord | None = None,
) -> EpisodeRecord:
    """Reset ``env`` (with ``seed`` and ``options``) and let ``agent`` act until the episode ends.

    Never raises for what the agent or the environment does: a failure comes back as
    ``status="failed"`` with the reason in ``error``. ``max_turns`` truncates on the
    runner's side (``metadata["truncated_reason"] = "max_turns"``). The wall time of the
    episode is ``metadata["wall_s"]``.
    """
    if record is None:
        record = new_episode(episode_id or uuid.uuid4().hex[:12], group_id=group_id, seed=seed,
                             agent=getattr(agent, "name", type(agent).__name__))
    started = time.perf_counter()
    try:
        observation, info = check_reset(env.reset(seed=seed, options=options))
        record_reset(record, env, observation, info)
        agent.reset(record.metadata.get("agent_seed", seed))
        history = list(observation)
        while True:
            if max_turns is not None and len(record.turns) >= max_turns:
                record_cutoff(record, "max_turns")
                break
            action = agent.act(list(history), env)
            observation, reward, terminated, truncated, info = check_step(env.step(action))
            message = _as_message(action)
            history.append(message)
            history.extend(observation)
            record_turn(
                record, action_text=message.get("content") or "",
                action_message=None if isinstance(action, str) else message,
                observation=observation, reward=reward, terminated=terminated, truncated=truncated,
                info=info,
            )
            if terminated or truncated:
                break
    except Exception as exc:  # an episode's failure is recorded, never fatal to a run
        record_failure(record, failure_reason(exc, len(record.turns)))
    record.metadata["wall_s"] = round(time.perf_counter() - started, 6)
    return record


def play_episodes(
    env: EnvSource,
    agent: Any,
    tasks: Sequence[Task],
    *,
    group_size: int = 1,
    concurrency: int = 1,
    max_turns: int | None = None,
    run_id: str | None = None,
    skip: Collection[str] = (),
    progress: bool = True,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> list[EpisodeRecord]:
    """Play ``len(tasks) * group_size`` episodes, ``concurrency`` at a time, each in a fresh environment.

    Args:
        env: an environment id or a function making a fresh environment.
        agent: a text-level agent. With ``concurrency > 1`` each episode gets its own copy
            (``agent.fork()`` when the agent has it, else a deep copy), so per-episode state
            such as a seed is never shared.
        tasks: one entry per group (see :data:`~turngym.rollout.tasks.Task`).
        group_size: episodes per task (samples), all reset with the task's seed and options;
            sample ``j`` seeds its agent with ``seed + SAMPLE_SEED_STRIDE * j``.
        concurrency: episodes in flight at once (threads: for agents that wait on a server).
        max_turns: truncate every episode after this many turns (default: the env decides).
        run_id: prefix of ids: group ``"{run_id}-g{i}"``, episode ``"{run_id}-g{i}-e{j}"``.
        skip: episode ids not to play (a resumed run already has them); they are left out
            of the result.
        progress: show a progress bar (episodes, success rate, ETA).
        on_episode: called in the calling thread with each episode as soon as it ends, in
            completion order (to stream results to disk).
        env_kwargs: keyword arguments for ``gymnasium.make`` when ``env`` is an id.

    Returns:
        The played records in task order, then episode order within the group; the same
        seeds give the same records whatever the concurrency (for deterministic agents).
    """
    if not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive int, got {group_size!r}")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
    if isinstance(tasks, (str, bytes, Mapping)) or not isinstance(tasks, Sequence):
        raise ValueError("tasks must be a list with one entry (seed, None or {'seed', 'options'}) per group")
    make = env_factory(env, **dict(env_kwargs or {}))
    run_id = run_id or uuid.uuid4().hex[:8]
    name = getattr(agent, "name", type(agent).__name__)
    jobs: list[tuple[EpisodeRecord, dict[str, Any] | None]] = []
    for g, task in enumerate(tasks):
        seed, options = parse_task(task, g)
        for j in range(group_size):
            episode_id = f"{run_id}-g{g}-e{j}"
            if episode_id in skip:
                continue
            record = new_episode(episode_id, env_id=source_label(env), group_id=f"{run_id}-g{g}",
                                 seed=seed, agent=name)
            if options is not None:
                record.metadata["options"] = options
            if j > 0 and seed is not None:  # samples of one task differ in the agent's draws only
                record.metadata["agent_seed"] = seed + SAMPLE_SEED_STRIDE * j
            jobs.append((record, options))

    def run(job: tuple[EpisodeRecord, dict[str, Any] | None], actor: Any) -> EpisodeRecord:
        record, options = job
        environment = None
        try:
            environment = make()
        except Exception as exc:  # the environment could not even be made
            record_failure(record, failure_reason(exc, 0))
            return record
        try:
            return play_episode(environment, actor, seed=record.seed, options=options,
                                max_turns=max_turns, record=record)
        finally:
            try:
                environment.close()
            except Exception:  # closing is best effort; the record is what matters
                pass

    with EpisodeProgress(len(jobs), progress) as bar:
        if concurrency == 1:
            for job in jobs:
                record = run(job, agent)
                bar.done(record)
                if on_episode is not None:
                    on_episode(record)
        else:
            waiting = iter(jobs)
            with futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="episode") as pool:
                # a bounded window: each episode's agent copy is made when it is submitted
                pending = {pool.submit(run, job, fork_agent(agent))
                           for job in itertools.islice(waiting, 2 * concurrency)}
                try:
                    while pending:
                        finished, pending = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                        for future in finished:
                            record = future.result()
                            bar.done(record)
                            if on_episode is not None:
                                on_episode(record)
                            job = next(waiting, None)
                            if job is not None:
                                pending.add(pool.submit(run, job, fork_agent(agent)))
                except BaseException:  # e.g. the results file cannot be written: start nothing new
                    for future in pending:
                        future.cancel()
                    raise
    return [record for record, _ in jobs]


def fork_agent(agent: Any) -> Any:
    """An independent copy of ``agent`` for a concurrent episode (``agent.fork()`` or a deep copy)."""
    fork = getattr(agent, "fork", None)
    return fork() if callable(fork) else copy.deepcopy(agent)


def _as_message(action: Any) -> dict[str, Any]:
    if isinstance(action, Mapping):
        return {"role": "assistant", **copy.deepcopy(dict(action))}
    return {"role": "assistant", "content": action if isinstance(action, str) else repr(action)}
