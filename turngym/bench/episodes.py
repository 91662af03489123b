"""Play one episode with a message-level agent and record it.

The same :class:`~turngym.core.trajectory.EpisodeRecord` that the trainer's
token-level collector writes, with the token fields left empty.
"""

from __future__ import annotations

import copy
import traceback
import uuid
from typing import Any

import gymnasium as gym

from turngym.agents.base import Agent
from turngym.core.trajectory import EpisodeRecord, TurnRecord


def play_episode(
    env: gym.Env,
    agent: Agent,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    episode_id: str | None = None,
    group_id: str = "",
    max_steps: int = 10_000,
) -> EpisodeRecord:
    """Reset ``env`` (with ``seed``/``options``), let ``agent`` act until the episode ends.

    An exception from the agent or the environment does not propagate: the
    episode is returned with ``status="failed"`` and the reason in ``error``,
    keeping the turns played before it.
    """
    spec_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    record = EpisodeRecord(
        episode_id=episode_id or uuid.uuid4().hex[:12],
        env_id=spec_id,
        task_id="",
        group_id=group_id,
        seed=seed,
        agent=getattr(agent, "name", type(agent).__name__),
    )
    try:
        agent.reset(seed)
        observation, info = env.reset(seed=seed, options=options)
        record.task_id = str(info.get("task_id", ""))
        record.opening = copy.deepcopy(observation)
        history = list(observation)
        for index in range(max_steps):
            action = agent.act(history, env)
            message = _as_message(action)
            observation, reward, terminated, truncated, info = env.step(action)
            record.turns.append(
                TurnRecord(
                    index=index,
                    action_text=message.get("content") or "",
                    action_message=message,
                    observation=copy.deepcopy(observation),
                    reward=float(reward),
                    signals=dict(info.get("signals", {})),
                    anchor=str(info.get("anchor", "")),
                    probe=info.get("probe"),
                    terminated=bool(terminated),
                    truncated=bool(truncated),
                )
            )
            history.extend([message, *observation])
            if terminated or truncated:
                record.terminated, record.truncated = bool(terminated), bool(truncated)
                if "outcome" in info:
                    record.outcome = float(info["outcome"])
                break
    except Exception as exc:  # an episode's failure is recorded, never fatal to a run
        record.status = "failed"
        record.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    return record


def _as_message(action: Any) -> dict[str, Any]:
    if isinstance(action, dict):
        return {"role": "assistant", **copy.deepcopy(action)}
    return {"role": "assistant", "content": str(action)}
