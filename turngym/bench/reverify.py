"""``turngym reverify RUN_DIR``: replay stored episodes and report where the verifiers now disagree.

Each stored episode's actions are replayed, in order, through a fresh environment
reset with the episode's seed and options (through the same runner that played
it), and every turn's signals and reward, and the episode's task and outcome,
are compared with what was stored. A difference means the environment or a
verifier changed since the run (or was never deterministic): exactly what a
benchmark number needs to be checked for before it is compared with another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from turngym.core.messages import Action, Message
from turngym.core.trajectory import EpisodeRecord
from turngym.rollout import play_episode


class ReplayAgent:
    """Plays back the actions of a stored episode, turn by turn."""

    name = "replay"

    def __init__(self, record: EpisodeRecord) -> None:
        self._actions: list[Action] = [
            {k: v for k, v in t.action_message.items() if k != "role"} if t.action_message else t.action_text
            for t in record.turns
        ]
        self._next = 0

    def reset(self, seed: int | None = None) -> None:
        """Back to the first action."""
        self._next = 0

    def act(self, history: list[Message], env: gym.Env) -> Action:
        """The stored action of this turn; ``RuntimeError`` once they run out (the env goes on longer)."""
        if self._next >= len(self._actions):
            raise RuntimeError(f"the stored episode ended after {len(self._actions)} turns; the environment "
                               "did not end there now")
        action = self._actions[self._next]
        self._next += 1
        return action


@dataclass
class Difference:
    """One episode whose replay disagrees with its record."""

    episode_id: str
    env_id: str
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"episode_id": self.episode_id, "env_id": self.env_id, "problems": self.problems}


def reverify_episode(record: EpisodeRecord, env: gym.Env, *, tolerance: float = 1e-9) -> list[str]:
    """What differs when ``record``'s actions are replayed in ``env`` (empty when nothing does)."""
    if record.status != "ok":
        return []  # a failed episode has no verdict to check
    options = record.metadata.get("options")
    replay = play_episode(env, ReplayAgent(record), seed=record.seed, options=options,
                          max_turns=len(record.turns))
    problems: list[str] = []
    if replay.status != "ok":
        return [f"replay failed: {replay.error}"]
    if replay.task_id != record.task_id:
        problems.append(f"task: stored {record.task_id!r}, now {replay.task_id!r}")
    for old, new in zip(record.turns, replay.turns):
        for name in sorted(set(old.signals) | set(new.signals)):
            a, b = old.signals.get(name), new.signals.get(name)
            if a is None or b is None or not _close(a, b, tolerance):
                problems.append(f"turn {old.index} signal {name}: stored {a}, now {b}")
        if not _close(old.reward, new.reward, tolerance):
            problems.append(f"turn {old.index} reward: stored {old.reward}, now {new.reward}")
    if len(replay.turns) != len(record.turns):
        problems.append(f"turns: stored {len(record.turns)}, now {len(replay.turns)}")
    stored_end = (record.terminated, record.truncated)  # a runner-side cut-off is replayed as one too
    if (replay.terminated, replay.truncated) != stored_end:
        problems.append(f"end: stored terminated/truncated {stored_end}, now "
                        f"{(replay.terminated, replay.truncated)}")
    if (record.outcome is None) != (replay.outcome is None) or (
        record.outcome is not None and not _close(record.outcome, replay.outcome or 0.0, tolerance)
    ):
        problems.append(f"outcome: stored {record.outcome}, now {replay.outcome}")
    return problems


def reverify_records(
    records: list[EpisodeRecord],
    env_kwargs: dict[str, Any] | None = None,
    *,
    make_ids: dict[str, str] | None = None,
) -> list[Difference]:
    """Replay every record (see :func:`reverify_episode`); the episodes that now differ.

    ``make_ids`` maps a record's ``env_id`` to the id to make it with (``module:turngym/Foo-v0``
    for a custom environment whose module must be imported first). An environment that can no
    longer be made is a difference too, not a crash.
    """
    differences = []
    for record in records:
        try:
            env = gym.make((make_ids or {}).get(record.env_id, record.env_id), **dict(env_kwargs or {}))
        except Exception as exc:  # the environment itself is gone or changed: say so per episode
            differences.append(Difference(record.episode_id, record.env_id,
                                          [f"cannot make the environment: {type(exc).__name__}: {exc}"]))
            continue
        try:
            problems = reverify_episode(record, env)
        finally:
            env.close()
        if problems:
            differences.append(Difference(record.episode_id, record.env_id, problems))
    return differences


def _close(a: float, b: float, tolerance: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance)
