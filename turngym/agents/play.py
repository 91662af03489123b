"""Play one episode with a text-level agent and record it.

Text-level agents (scripted baselines, OpenAI-compatible endpoints) act on
messages, so the record's token fields stay empty; otherwise it is the same
:class:`~turngym.core.trajectory.EpisodeRecord` the token-level collector
writes. Everything a benchmark or a test plays goes through :func:`play_episode`.
"""

from __future__ import annotations

import copy
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from turngym.core.trajectory import EpisodeRecord, TurnRecord

STANDARD_KEYS: tuple[str, ...] = ("signals", "anchor", "task_id", "turn", "probe", "outcome")


def json_safe(value: Any) -> Any:
    """``value`` if JSON can hold it (finite numbers), else a readable stand-in; records must serialise."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        if isinstance(value, float) and not math.isfinite(value):
            return repr(value)
        if isinstance(value, Mapping):
            return {str(k): json_safe(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [json_safe(v) for v in value]
        return repr(value)


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
    """Reset ``env`` (with ``seed``/``options``) and let ``agent`` act until the episode ends.

    ``agent`` has ``name``, ``reset(seed)`` and ``act(history, env) -> action``.
    An exception from the agent or the environment does not propagate: the
    episode comes back with ``status="failed"`` and the reason in ``error``,
    keeping the turns played before it. ``max_turns`` truncates on the agent's side.
    """
    if record is None:
        spec_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        record = EpisodeRecord(
            episode_id=episode_id or uuid.uuid4().hex[:12], env_id=spec_id, task_id="",
            group_id=group_id, seed=seed, agent=getattr(agent, "name", type(agent).__name__),
        )
    try:
        observation, info = env.reset(seed=seed, options=options)
        record.task_id, record.opening = str(info.get("task_id", "")), copy.deepcopy(list(observation))
        if "probe" in info:
            record.metadata["opening_probe"] = json_safe(info["probe"])
        agent.reset(seed)
        history = list(observation)
        while max_turns is None or len(record.turns) < max_turns:
            action = agent.act(list(history), env)
            observation, reward, terminated, truncated, info = env.step(action)
            message = _as_message(action)
            history.append(message)
            history.extend(observation)
            record.turns.append(
                TurnRecord(
                    index=len(record.turns), action_text=message.get("content") or "",
                    action_message=None if isinstance(action, str) else message,  # type: ignore[arg-type]
                    observation=copy.deepcopy(list(observation)), reward=float(reward),
                    signals={k: float(v) for k, v in info.get("signals", {}).items()},
                    anchor=str(info.get("anchor", "")),
                    probe=json_safe(info["probe"]) if "probe" in info else None,
                    terminated=bool(terminated), truncated=bool(truncated),
                    info={k: json_safe(v) for k, v in info.items() if k not in STANDARD_KEYS},
                )
            )
            if terminated or truncated:
                record.terminated, record.truncated = bool(terminated), bool(truncated)
                record.outcome = float(info["outcome"]) if "outcome" in info else None
                return record
        record.truncated = True
        record.metadata["truncated_reason"] = "max_turns"
    except Exception as exc:  # an episode's failure is recorded, never fatal to a run
        record.status = "failed"
        record.error = f"turn {len(record.turns)}: {type(exc).__name__}: {exc}"
    return record


def _as_message(action: Any) -> dict[str, Any]:
    if isinstance(action, Mapping):
        return {"role": "assistant", **copy.deepcopy(dict(action))}
    return {"role": "assistant", "content": action if isinstance(action, str) else repr(action)}
