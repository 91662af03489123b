"""Verifiers that compose with weights (a rubric), on recorded episodes or on a live environment.

A verifier here is a small object with a ``name``, a ``level`` (``"turn"``: judged on every
turn; ``"episode"``: judged once, on the last turn, with the whole conversation) and
``judge(context) -> Judgement``. A :class:`Judgement` is a score in [0, 1] or **missing**
(``score=None``: the verifier could not say, e.g. its judge endpoint failed), with the
reasoning and evidence behind it, which are kept in the records.

A :class:`Rubric` is ``[(weight, verifier), ...]``; a turn's rubric reward is
``sum_k weight_k * score_k`` over the verifiers that gave a score (a missing score adds
nothing and is listed under ``missing``; it is never read as 0 in the verifier's own
slot). The same rubric serves

* a training config or a script, on records: :meth:`Rubric.annotate` writes each turn's
  judgements to ``turn.info["rubric"]`` and returns the per-turn rewards (in the shape
  :func:`turngym.trainers.batching.turn_batch` uses);
* an environment, without subclassing it: :class:`RubricReward` wraps any turngym
  environment and adds the weighted score to each step's reward, with every verifier's
  score in ``info["signals"]["rubric/<name>"]`` and the judgements in ``info["rubric"]``.

Verifiers of the model-free kind come ready: :class:`SignalScore` (an environment signal)
and :class:`OutcomeScore` (the episode's outcome); judged ones are
:class:`turngym.verifiers.llm_judge.LLMJudge` and :class:`turngym.verifiers.checklist.Checklist`.

>>> rubric = Rubric([(1.0, OutcomeScore()), (0.5, SignalScore("valid_action"))])
>>> [name for _, name in rubric.names]
['outcome', 'valid_action']
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym

from turngym.core.messages import Message
from turngym.core.trajectory import EpisodeRecord

LEVELS = ("turn", "episode")


@dataclass(frozen=True)
class Judgement:
    """One verifier's verdict on one turn (or episode): a score in [0, 1], or missing."""

    score: float | None
    reasoning: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def missing(self) -> bool:
        """True when the verifier gave no score."""
        return self.score is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what goes into ``turn.info["rubric"]``)."""
        return {"score": self.score, "reasoning": self.reasoning, "evidence": dict(self.evidence)}


@dataclass(frozen=True)
class TurnContext:
    """What a verifier sees of one turn.

    ``history`` is the conversation before the action (the opening messages, then every earlier
    action and reply); ``action`` the assistant's turn as text; ``observation`` the environment's
    reply; ``info`` the turn's other ``info`` keys (e.g. a task's ``checklist``); ``outcome`` the
    episode's outcome on its last turn (else ``None``).
    """

    task_id: str
    turn: int
    history: Sequence[Message]
    action: str
    observation: Sequence[Message]
    signals: Mapping[str, float]
    info: Mapping[str, Any]
    last: bool
    outcome: float | None = None

    def transcript(self) -> list[Message]:
        """The conversation up to and including this turn's reply."""
        return [*self.history, {"role": "assistant", "content": self.action}, *self.observation]


def turn_contexts(record: EpisodeRecord) -> list[TurnContext]:
    """One :class:`TurnContext` per turn of a recorded episode."""
    history: list[Message] = list(record.opening)
    out = []
    for i, turn in enumerate(record.turns):
        last = i == len(record.turns) - 1
        message = turn.action_message or {"role": "assistant", "content": turn.action_text}
        out.append(TurnContext(
            task_id=record.task_id, turn=turn.index, history=tuple(history), action=turn.action_text,
            observation=tuple(turn.observation), signals=dict(turn.signals), info=dict(turn.info),
            last=last, outcome=record.outcome if last else None,
        ))
        history.append(message)
        history.extend(turn.observation)
    return out


@runtime_checkable
class Verifier(Protocol):
    """Anything with a ``name``, a ``level`` (``"turn"`` or ``"episode"``) and ``judge``."""

    name: str
    level: str

    def judge(self, context: TurnContext) -> Judgement:
        """The verdict on ``context`` (never raises for what a model wrote or a judge answered)."""
        ...


class SignalScore:
    """An environment signal (``info["signals"][signal]``) as a score; missing where absent.

    ``scale`` divides it (a signal in [0, 10] with ``scale=10``); the result is clipped to [0, 1].
    """

    level = "turn"

    def __init__(self, signal: str, *, scale: float = 1.0, name: str | None = None) -> None:
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        self.signal, self.scale, self.name = signal, float(scale), name or signal

    def judge(self, context: TurnContext) -> Judgement:
        """The signal's value over ``scale``, clipped to [0, 1]."""
        if self.signal not in context.signals:
            return Judgement(None, f"no signal {self.signal!r} on this turn")
        return Judgement(min(1.0, max(0.0, context.signals[self.signal] / self.scale)))


class OutcomeScore:
    """The episode's outcome (clipped to [0, 1]), judged once per episode; missing when it has none."""

    level = "episode"

    def __init__(self, name: str = "outcome") -> None:
        self.name = name

    def judge(self, context: TurnContext) -> Judgement:
        """The outcome the environment gave on the last turn."""
        if context.outcome is None:
            return Judgement(None, "the episode has no outcome (truncated or failed)")
        return Judgement(min(1.0, max(0.0, float(context.outcome))))


@dataclass
class RubricTurn:
    """A turn's rubric reward and each verifier's judgement (``None``: not judged on this turn)."""

    reward: float
    judgements: dict[str, Judgement | None]

    @property
    def missing(self) -> list[str]:
        """Verifiers that were asked and gave no score."""
        return [name for name, j in self.judgements.items() if j is not None and j.missing]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what :meth:`Rubric.annotate` writes to ``turn.info["rubric"]``."""
        return {
            "reward": self.reward, "missing": self.missing,
            "judgements": {n: j.to_dict() for n, j in self.judgements.items() if j is not None},
        }


class Rubric:
    """Weighted verifiers: ``Rubric([(weight, verifier), ...])`` (see the module docstring).

    Args:
        items: ``(weight, verifier)`` pairs; weights are finite reals (negative ones penalise);
            names must be unique.
        concurrency: verifier calls run at once by :meth:`annotate` (judges behind an endpoint).
    """

    def __init__(self, items: Sequence[tuple[float, Verifier]], *, concurrency: int = 1) -> None:
        checked: list[tuple[float, Verifier]] = []
        for i, item in enumerate(items):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(f"rubric item {i}: expected (weight, verifier), got {item!r}")
            weight, verifier = item
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
                raise ValueError(f"rubric item {i}: weight must be a finite number, got {weight!r}")
            if not isinstance(verifier, Verifier):
                raise TypeError(f"rubric item {i}: {verifier!r} has no name, level and judge(context)")
            if verifier.level not in LEVELS:
                raise ValueError(f"rubric item {i} ({verifier.name}): level {verifier.level!r}; accepted: "
                                 f"{', '.join(LEVELS)}")
            checked.append((float(weight), verifier))
        if not checked:
            raise ValueError("a rubric needs at least one (weight, verifier)")
        names = [v.name for _, v in checked]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ValueError(f"two verifiers are named {duplicate!r}; give each a distinct name")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.items = checked
        self.concurrency = concurrency

    @property
    def names(self) -> list[tuple[float, str]]:
        """``(weight, name)`` of each verifier."""
        return [(w, v.name) for w, v in self.items]

    def _due(self, context: TurnContext) -> list[tuple[float, Verifier]]:
        return [(w, v) for w, v in self.items if v.level == "turn" or context.last]

    def combine(self, context: TurnContext, judgements: Mapping[str, Judgement]) -> RubricTurn:
        """The weighted sum of the scores given (missing ones add nothing)."""
        reward = 0.0
        out: dict[str, Judgement | None] = {}
        for weight, verifier in self.items:
            judgement = judgements.get(verifier.name)
            out[verifier.name] = judgement
            if judgement is not None and judgement.score is not None:
                reward += weight * judgement.score
        return RubricTurn(reward, out)

    def score_turn(self, context: TurnContext) -> RubricTurn:
        """Judge one turn with every verifier due on it (turn-level ones always, episode-level
        ones on the last turn)."""
        return self.combine(context, {v.name: v.judge(context) for _, v in self._due(context)})

    def score(self, records: Sequence[EpisodeRecord]) -> list[list[RubricTurn]]:
        """Every turn of every episode, ``concurrency`` verifier calls at a time."""
        contexts = [turn_contexts(r) for r in records]
        calls = [(e, t, v) for e, per in enumerate(contexts) for t, c in enumerate(per)
                 for _, v in self._due(c)]
        if self.concurrency > 1 and len(calls) > 1:
            with ThreadPoolExecutor(self.concurrency) as pool:
                verdicts = list(pool.map(lambda call: call[2].judge(contexts[call[0]][call[1]]), calls))
        else:
            verdicts = [v.judge(contexts[e][t]) for e, t, v in calls]
        found: dict[tuple[int, int], dict[str, Judgement]] = {}
        for (e, t, verifier), verdict in zip(calls, verdicts):
            found.setdefault((e, t), {})[verifier.name] = verdict
        return [[self.combine(c, found.get((e, t), {})) for t, c in enumerate(per)]
                for e, per in enumerate(contexts)]

    def annotate(self, records: Sequence[EpisodeRecord]) -> list[list[float]]:
        """Score ``records``, keep each turn's judgements in ``turn.info["rubric"]``, and return the
        per-turn rubric rewards (``rewards[e][t]``)."""
        scored = self.score(records)
        for record, per_turn in zip(records, scored):
            for turn, result in zip(record.turns, per_turn):
                turn.info["rubric"] = result.to_dict()
        return [[r.reward for r in per_turn] for per_turn in scored]


class RubricReward(gym.Wrapper):
    """A turngym environment whose step reward includes a rubric (no subclassing needed).

    Each step's reward becomes ``reward + rubric reward`` (``replace=True``: the rubric reward
    alone). Every verifier's score is added to ``info["signals"]`` as ``rubric/<name>`` (where it
    gave one) and the turn's judgements to ``info["rubric"]``, so records keep them. Example:
    ``RubricReward(gymnasium.make("turngym/SearchQA-v0"), Rubric([(1.0, OutcomeScore()),
    (0.2, judge)]))``.
    """

    def __init__(self, env: gym.Env, rubric: Rubric, *, replace: bool = False) -> None:
        super().__init__(env)
        self.rubric = rubric
        self.replace = replace
        self._history: list[Message] = []
        self._task_id = ""
        self._turn = 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset the environment and start a fresh conversation."""
        observation, info = self.env.reset(**kwargs)
        self._history = copy.deepcopy(list(observation))
        self._task_id = str(info.get("task_id", ""))
        self._turn = 0
        return observation, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step, judge the turn, add the weighted score."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        text = action if isinstance(action, str) else str(action.get("content") or "")
        message = {"role": "assistant", "content": action} if isinstance(action, str) else dict(action)
        last = bool(terminated or truncated)
        signals = dict(info.get("signals", {}))
        context = TurnContext(
            task_id=self._task_id, turn=self._turn, history=tuple(self._history), action=text,
            observation=tuple(observation), signals=signals,
            info={k: v for k, v in info.items() if k not in ("signals", "outcome")},
            last=last, outcome=info.get("outcome") if last else None,
        )
        result = self.rubric.score_turn(context)
        for name, judgement in result.judgements.items():
            if judgement is not None and judgement.score is not None:
                signals[f"rubric/{name}"] = float(judgement.score)
        info = {**info, "signals": signals, "rubric": result.to_dict()}
        self._history.append(message)
        self._history.extend(copy.deepcopy(list(observation)))
        self._turn += 1
        total = result.reward if self.replace else float(reward) + result.reward
        return observation, total, terminated, truncated, info
