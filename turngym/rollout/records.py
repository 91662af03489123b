"""The one place trajectory records are built.

Every episode turngym plays, for a trainer, a benchmark or a person, becomes an
:class:`~turngym.core.trajectory.EpisodeRecord` through these functions, so the
same ``info`` keys land in the same fields whoever played: ``signals``,
``anchor`` and ``probe`` get their own fields, the environment's other keys go
to ``TurnRecord.info`` (made JSON-safe), the terminal step's ``outcome`` and
``truncated_reason`` go to the episode.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from turngym.core.messages import Message, message_problem
from turngym.core.trajectory import EpisodeRecord, TurnRecord

STANDARD_KEYS: tuple[str, ...] = ("signals", "anchor", "task_id", "turn", "probe", "outcome")
"""``info`` keys that have fields of their own in the records (the rest go to ``TurnRecord.info``)."""


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


def env_label(env: gym.Env) -> str:
    """The registered id of ``env`` (``"turngym/SearchQA-v0"``), or its class name when unregistered."""
    spec = getattr(env, "spec", None)
    if spec is not None and getattr(spec, "id", None):
        return str(spec.id)
    return type(getattr(env, "unwrapped", env)).__name__


class EnvOutputError(ValueError):
    """An environment returned something the contract does not allow (the message says what)."""


def check_reset(output: Any) -> tuple[list[Message], dict[str, Any]]:
    """``env.reset``'s ``(observation, info)``, or :class:`EnvOutputError` saying what is wrong."""
    if not isinstance(output, tuple) or len(output) != 2:
        raise EnvOutputError(f"reset must return (observation, info), got {_short(output)}")
    observation, info = output
    _check_observation(observation, "reset")
    if not isinstance(info, Mapping):
        raise EnvOutputError(f"reset's info must be a dict, got {type(info).__name__}")
    return list(observation), dict(info)


def check_step(output: Any) -> tuple[list[Message], float, bool, bool, dict[str, Any]]:
    """``env.step``'s five values, or :class:`EnvOutputError` saying what is wrong.

    The runner checks them before recording, so an environment that returns garbage fails its own
    episode with a clear reason instead of breaking the batch (or a record file) later.
    """
    if not isinstance(output, tuple) or len(output) != 5:
        raise EnvOutputError(
            f"step must return (observation, reward, terminated, truncated, info), got {_short(output)}"
        )
    observation, reward, terminated, truncated, info = output
    _check_observation(observation, "step")
    if not _finite(reward):
        raise EnvOutputError(f"step's reward must be a finite number, got {_short(reward)}")
    if not isinstance(info, Mapping):
        raise EnvOutputError(f"step's info must be a dict, got {type(info).__name__}")
    signals = info.get("signals", {})
    if not isinstance(signals, Mapping) or not all(_finite(v) for v in signals.values()):
        raise EnvOutputError(f"step's info['signals'] must map names to finite numbers: {_short(signals)}")
    if "outcome" in info and not _finite(info["outcome"]):
        raise EnvOutputError(f"step's info['outcome'] must be a finite number, got {_short(info['outcome'])}")
    return list(observation), float(reward), bool(terminated), bool(truncated), dict(info)


def _check_observation(observation: Any, where: str) -> None:
    if not isinstance(observation, (list, tuple)):
        raise EnvOutputError(f"{where}'s observation must be a list of chat messages: {_short(observation)}")
    for message in observation:
        problem = message_problem(message)
        if problem is not None:
            raise EnvOutputError(f"{where}'s observation holds a bad message ({problem}): {_short(message)}")


def _finite(value: Any) -> bool:
    """A finite real number: Python's or NumPy's (``np.float32`` rewards are valid Gymnasium), no bool."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def new_episode(
    episode_id: str,
    *,
    env_id: str = "",
    group_id: str = "",
    seed: int | None = None,
    agent: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> EpisodeRecord:
    """An empty record; :func:`record_reset` and :func:`record_turn` fill it as the episode runs."""
    return EpisodeRecord(
        episode_id=episode_id, env_id=env_id, task_id="", group_id=group_id, seed=seed, agent=agent,
        metadata=dict(metadata or {}),
    )


def record_reset(
    record: EpisodeRecord, env: gym.Env, observation: Sequence[Message], info: Mapping[str, Any]
) -> None:
    """Note what ``env.reset`` returned: the environment's id, the task and the opening messages."""
    record.env_id = env_label(env)
    record.task_id = str(info.get("task_id", ""))
    record.opening = copy.deepcopy(list(observation))
    if "probe" in info:
        record.metadata["opening_probe"] = json_safe(info["probe"])


def record_turn(
    record: EpisodeRecord,
    *,
    action_text: str,
    observation: Sequence[Message],
    reward: float,
    terminated: bool,
    truncated: bool,
    info: Mapping[str, Any],
    action_message: Message | None = None,
    action_ids: Sequence[int] = (),
    action_logprobs: Sequence[float] = (),
    observation_ids: Sequence[int] = (),
    extra: Mapping[str, Any] | None = None,
) -> TurnRecord:
    """Append the turn ``env.step`` just played; on the last turn, close the episode.

    ``extra`` adds keys to the turn's ``info`` (e.g. the sampler's ``finish_reason``).
    """
    details = {k: json_safe(v) for k, v in info.items() if k not in STANDARD_KEYS}
    details.update({k: json_safe(v) for k, v in (extra or {}).items()})
    turn = TurnRecord(
        index=len(record.turns),
        action_text=action_text,
        action_ids=list(action_ids),
        action_logprobs=[float(x) for x in action_logprobs],
        action_message=copy.deepcopy(action_message) if action_message is not None else None,
        observation=copy.deepcopy(list(observation)),
        observation_ids=list(observation_ids),
        reward=float(reward),
        signals={k: float(v) for k, v in info.get("signals", {}).items()},
        anchor=str(info.get("anchor", "")),
        probe=json_safe(info["probe"]) if "probe" in info else None,
        terminated=bool(terminated),
        truncated=bool(truncated),
        info=details,
    )
    record.turns.append(turn)
    if terminated or truncated:
        record.terminated, record.truncated = bool(terminated), bool(truncated)
        record.outcome = float(info["outcome"]) if "outcome" in info else None
        if truncated and "truncated_reason" in info:
            record.metadata["truncated_reason"] = str(info["truncated_reason"])
    return turn


def record_cutoff(record: EpisodeRecord, reason: str) -> None:
    """The runner (not the environment) stopped the episode: ``"max_turns"`` or ``"context"``."""
    record.truncated = True
    record.metadata["truncated_reason"] = reason


def record_failure(record: EpisodeRecord, reason: str) -> None:
    """The episode could not go on (the agent, the policy or the environment failed); turns are kept."""
    record.status = "failed"
    record.error = reason


def failure_reason(exc: BaseException, turn: int) -> str:
    """``"turn 3: ValueError: ..."``: what a failed record's ``error`` says."""
    return f"turn {turn}: {type(exc).__name__}: {exc}"


def fork_episode(record: EpisodeRecord, episode_id: str) -> EpisodeRecord:
    """An independent copy of ``record`` under a new id: a branch that goes on from its last turn.

    Branching rollouts (:mod:`turngym.rollout.branching`) give every continuation of a shared
    prefix its own record, whose first turns are the prefix's, token for token.
    """
    twin = copy.deepcopy(record)
    twin.episode_id = episode_id
    return twin


def with_probe_answers(record: EpisodeRecord, answers: Sequence[str]) -> EpisodeRecord:
    """A copy of ``record`` whose probes (opening and every turn's) target ``answers`` instead.

    For belief scoring against answers the environment did not give, e.g. SIOP's outcome
    clusters (:func:`turngym.trainers.siop.siop_rewards`); the forcing prefix and suffix are kept.
    Raises ``ValueError`` when ``answers`` is empty or the record has no probe to retarget.
    """
    answers = [str(a) for a in answers]
    if not answers or not all(answers):
        raise ValueError(f"answers must be a non-empty list of non-empty strings, got {answers!r}")
    twin = copy.deepcopy(record)
    probes = [twin.metadata.get("opening_probe")] + [t.probe for t in twin.turns]
    template = next((p for p in probes if isinstance(p, Mapping)), None)
    if template is None:
        raise ValueError(f"episode {record.episode_id!r} has no probe (info['probe']) to retarget")
    twin.metadata["opening_probe"] = {**(twin.metadata.get("opening_probe") or template), "answers": answers}
    for turn in twin.turns:
        turn.probe = {**(turn.probe or template), "answers": answers}
    return twin
