"""Trajectory records: one episode from rollout to loss, and their JSON-lines files.

An :class:`EpisodeRecord` holds the opening prompt's token ids and, for every
turn, a :class:`TurnRecord` with the exact token ids the policy produced (token
in, token out: never re-tokenised from text), their rollout log-probs, the
tokens of the environment's reply as the policy saw them, and the turn's
signals, reward, anchor and probe. The policy's token sequence for the whole
episode is ``prompt_ids + action_ids[0] + observation_ids[0] + action_ids[1] +
...``; :meth:`EpisodeRecord.loss_spans` gives the ``[start, end)`` spans of
the policy's own tokens in it, so loss masks come from this bookkeeping, never
from scanning for template markers.

Scripted or remote agents leave the token fields empty. Files are JSON lines,
one episode a line, written atomically: a file is whole or absent.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from turngym.core.atomic import atomic_write
from turngym.core.messages import Message

SCHEMA_VERSION = 1


@dataclass
class TurnRecord:
    """One turn: the policy's action and the environment's reply."""

    index: int
    action_text: str
    action_ids: list[int] = field(default_factory=list)
    action_logprobs: list[float] = field(default_factory=list)
    action_message: Message | None = None
    observation: list[Message] = field(default_factory=list)
    observation_ids: list[int] = field(default_factory=list)
    reward: float = 0.0
    signals: dict[str, float] = field(default_factory=dict)
    anchor: str = ""
    probe: dict[str, Any] | None = None
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action_logprobs and len(self.action_logprobs) != len(self.action_ids):
            raise ValueError(
                f"turn {self.index}: {len(self.action_logprobs)} log-probs for "
                f"{len(self.action_ids)} action tokens"
            )


@dataclass
class EpisodeRecord:
    """One episode: who, where, the opening prompt, the turns and how it ended."""

    episode_id: str
    env_id: str
    task_id: str
    group_id: str = ""
    seed: int | None = None
    opening: list[Message] = field(default_factory=list)
    prompt_ids: list[int] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    outcome: float | None = None
    terminated: bool = False
    truncated: bool = False
    status: str = "ok"
    error: str | None = None
    agent: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def total_reward(self) -> float:
        """Sum of the turns' rewards."""
        return float(sum(t.reward for t in self.turns))

    def token_ids(self) -> list[int]:
        """The whole episode's token sequence as the policy saw and produced it."""
        ids = list(self.prompt_ids)
        for turn in self.turns:
            ids.extend(turn.action_ids)
            ids.extend(turn.observation_ids)
        return ids

    def loss_spans(self) -> list[tuple[int, int]]:
        """``[start, end)`` of each turn's action tokens within :meth:`token_ids`."""
        spans = []
        position = len(self.prompt_ids)
        for turn in self.turns:
            spans.append((position, position + len(turn.action_ids)))
            position += len(turn.action_ids) + len(turn.observation_ids)
        return spans

    def loss_mask(self) -> list[int]:
        """1 for the policy's own tokens, 0 for prompt and environment tokens."""
        mask = [0] * len(self.prompt_ids)
        for turn in self.turns:
            mask.extend([1] * len(turn.action_ids))
            mask.extend([0] * len(turn.observation_ids))
        return mask

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (with the schema version)."""
        data = asdict(self)
        data["schema"] = SCHEMA_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeRecord:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise ``ValueError``."""
        data = dict(data)
        schema = data.pop("schema", SCHEMA_VERSION)
        if schema != SCHEMA_VERSION:
            raise ValueError(f"trajectory schema {schema} is not supported (this is {SCHEMA_VERSION})")
        _check_keys(cls, data)
        turns = []
        for raw in data.pop("turns", []):
            if not isinstance(raw, dict):
                raise ValueError("each turn must be a JSON object")
            _check_keys(TurnRecord, raw)
            turns.append(TurnRecord(**raw))
        return cls(**data, turns=turns)


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def _check_keys(cls: type, data: dict[str, Any]) -> None:
    names = _field_names(cls)
    if names.issuperset(data.keys()):  # the common case: nothing to report
        return
    unknown = sorted(set(data) - names - {"turns"})
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; known: {sorted(names)}")


def dumps_episode(episode: EpisodeRecord) -> str:
    """One JSON line (no newline). Non-finite numbers are refused: JSON has none."""
    try:
        return json.dumps(episode.to_dict(), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise ValueError(
            f"episode {episode.episode_id}: {exc}; replace NaN/inf rewards, signals or "
            "log-probs before writing"
        ) from exc


def write_episodes(path: str | os.PathLike[str], episodes: Iterable[EpisodeRecord]) -> Path:
    """Write ``episodes`` to a JSON-lines file atomically (see :mod:`turngym.core.atomic`).

    If anything fails midway (an episode that cannot be serialised, a full disk,
    an interrupt) ``path`` is left as it was.
    """
    with atomic_write(path, "w") as handle:
        for episode in episodes:
            handle.write(dumps_episode(episode))
            handle.write("\n")
    return Path(path)


def loads_episode(line: str | bytes) -> EpisodeRecord:
    """Inverse of :func:`dumps_episode`; anything else raises ``ValueError`` saying what is wrong."""
    try:
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError("a line must hold one JSON object")
        return EpisodeRecord.from_dict(data)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


def iter_episodes(path: str | os.PathLike[str]) -> Iterator[EpisodeRecord]:
    """Read a JSON-lines trajectory file; a bad line raises ``ValueError`` naming file and line."""
    target = Path(path)
    with target.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = loads_episode(line)
            except ValueError as exc:
                raise ValueError(f"{target}:{number}: not a valid episode record: {exc}") from exc
            yield record


def read_episodes(path: str | os.PathLike[str]) -> list[EpisodeRecord]:
    """All episodes of a trajectory file (see :func:`iter_episodes`)."""
    return list(iter_episodes(path))
