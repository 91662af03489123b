"""Checklist rewards (CM2): a turn's intended behaviour as binary criteria, judged one by one.

CM2 (Zhang et al. 2026, arXiv:2602.12268) replaces an unverifiable outcome with a checklist:
each turn's intended behaviour is decomposed into fine-grained yes/no criteria, each judged
separately with explicit evidence, which turns open-ended judging into classification-style
decisions. Here a turn's reward is **the share of its criteria judged satisfied**::

    r_t = (# criteria satisfied) / (# criteria judged)

A criterion whose judgement failed (endpoint down, unreadable reply) is left out of both
counts and listed; when none could be judged, or the turn has no criteria, the signal is
missing. Every criterion's verdict and evidence is kept in the judgement's ``evidence``
(``{"criteria": [{"criterion", "satisfied", "evidence"}, ...]}``), which
:meth:`~turngym.verifiers.rubric.Rubric.annotate` writes to the records.

Where criteria come from: by default the turn's ``info["checklist"]`` (a list of criteria, or
a mapping ``{turn index: [criteria]}``; an environment supplies it through its step ``info``),
or any function ``criteria(context) -> list[str]``. Who judges a criterion: an
:class:`LLMCriterionJudge` (an endpoint, one request per criterion) or a
:class:`RuleCriterionJudge` (Python predicates, for criteria a program can check).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from turngym.core.messages import Message
from turngym.verifiers.llm_judge import JudgeReplyError, JudgeWarning, json_objects, render, turn_seed
from turngym.verifiers.rubric import LEVELS, Judgement, TurnContext


@dataclass(frozen=True)
class CriterionVerdict:
    """One criterion: satisfied or not (``None``: could not be judged), with the evidence."""

    satisfied: bool | None
    evidence: str = ""


class CriterionJudge(Protocol):
    """Anything that decides one criterion for one turn."""

    def check(self, context: TurnContext, criterion: str) -> CriterionVerdict:
        """The verdict (never raises for what a model wrote or an endpoint did)."""
        ...


class RuleCriterionJudge:
    """Criteria checked by Python: ``{criterion text: predicate(context) -> bool or (bool, evidence)}``.

    A criterion without a predicate cannot be judged (``satisfied=None``).
    """

    def __init__(self, rules: Mapping[str, Callable[[TurnContext], Any]]) -> None:
        self.rules = dict(rules)

    def check(self, context: TurnContext, criterion: str) -> CriterionVerdict:
        """Run the criterion's predicate."""
        rule = self.rules.get(criterion)
        if rule is None:
            return CriterionVerdict(None, f"no rule for criterion {criterion!r}")
        try:
            result = rule(context)
        except Exception as exc:  # a broken rule is a missing verdict for this criterion
            return CriterionVerdict(None, f"rule failed: {type(exc).__name__}: {exc}")
        if isinstance(result, tuple):
            return CriterionVerdict(bool(result[0]), str(result[1]))
        return CriterionVerdict(bool(result))


def parse_criterion(text: str) -> CriterionVerdict:
    """``{"satisfied": true|false, "evidence": "..."}`` from a judge's reply, or :class:`JudgeReplyError`.

    >>> parse_criterion('{"evidence": "it called search first", "satisfied": true}')
    CriterionVerdict(satisfied=True, evidence='it called search first')
    """
    for obj in json_objects(text):
        if "satisfied" in obj:
            value = obj["satisfied"]
            if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no"):
                value = value.strip().lower() in ("true", "yes")
            if not isinstance(value, bool):
                raise JudgeReplyError(f"'satisfied' must be true or false, got {value!r}")
            return CriterionVerdict(value, str(obj.get("evidence", "")))
    raise JudgeReplyError(f"no 'satisfied' verdict in the judge's reply: {text[:200]!r}")


class LLMCriterionJudge:
    """One endpoint request per criterion, asking for a yes/no with quoted evidence.

    Args:
        client: a :class:`~turngym.verifiers.llm_judge.JudgeClient` (or anything with ``ask``).
        seed: base seed (each request's seed also hashes the task, turn and criterion).
    """

    def __init__(self, client: Any, *, seed: int | None = 0) -> None:
        self.client, self.seed = client, seed

    def messages(self, context: TurnContext, criterion: str) -> list[Message]:
        """What the judge is sent for one criterion."""
        instructions = (
            "You check one criterion of an assistant's turn. Decide strictly from the conversation. "
            'Reply with one JSON object and nothing else: {"evidence": "<the words of the turn or '
            'reply that decide it>", "satisfied": true or false}'
        )
        body = (f"Conversation so far:\n{render(context.history)}\n\nTURN TO CHECK (assistant):\n"
                f"{context.action}\n\nEnvironment's reply:\n{render(context.observation)}\n\n"
                f"CRITERION: {criterion}")
        return [{"role": "system", "content": instructions}, {"role": "user", "content": body}]

    def check(self, context: TurnContext, criterion: str) -> CriterionVerdict:
        """Ask the endpoint; a failure is a criterion that could not be judged (with a warning)."""
        reply = None
        try:
            seed = turn_seed(self.seed, context, criterion)
            reply = self.client.ask(self.messages(context, criterion), seed)
            return parse_criterion(reply)
        except Exception as exc:  # the judge failing never breaks the batch
            reason = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"checklist: criterion {criterion!r} of task {context.task_id!r} turn "
                          f"{context.turn} not judged: {reason}", JudgeWarning, stacklevel=2)
            shown = f"; reply {reply[:300]!r}" if reply else ""
            return CriterionVerdict(None, f"judge failed: {reason}{shown}")


def criteria_from_info(context: TurnContext) -> list[str]:
    """The turn's ``info["checklist"]``: a list of criteria, or ``{turn index: [criteria]}``."""
    raw = context.info.get("checklist")
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        raw = raw.get(str(context.turn), raw.get(context.turn, []))  # type: ignore[call-overload]
    if isinstance(raw, str) or not isinstance(raw, Sequence) or not all(isinstance(c, str) for c in raw):
        raise ValueError(f"info['checklist'] must be a list of criteria (text) or {{turn: [criteria]}}, "
                         f"got {raw!r:.200}")
    return list(raw)


Criteria = Callable[[TurnContext], Sequence[str]] | Sequence[str] | Mapping[int, Sequence[str]]
"""A function of the turn, one list for every turn, or ``{turn index: [criteria]}``."""


class Checklist:
    """The share of a turn's binary criteria judged satisfied (see the module docstring).

    Args:
        judge: decides each criterion (:class:`LLMCriterionJudge` or :class:`RuleCriterionJudge`).
        criteria: ``criteria(context) -> [criterion, ...]``, a fixed list for every turn, or a
            mapping ``{turn index: [criteria]}``; default: the turn's ``info["checklist"]``.
        name: the verifier's name in a rubric and in the records.
        level: ``"turn"`` (every turn) or ``"episode"`` (once, on the last turn).
    """

    def __init__(
        self,
        judge: CriterionJudge,
        *,
        criteria: Criteria | None = None,
        name: str = "checklist",
        level: str = "turn",
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        self.judge_criterion, self.name, self.level = judge, name, level
        if criteria is None:
            self.criteria: Callable[[TurnContext], Sequence[str]] = criteria_from_info
        elif callable(criteria):
            self.criteria = criteria
        elif isinstance(criteria, Mapping):
            table = {int(k): list(v) for k, v in criteria.items()}
            self.criteria = lambda context: table.get(context.turn, [])
        else:
            fixed = list(criteria)
            self.criteria = lambda context: fixed

    def judge(self, context: TurnContext) -> Judgement:
        """Judge every criterion of the turn, one by one; the score is the share satisfied."""
        try:
            items = list(self.criteria(context))
        except Exception as exc:  # a malformed checklist is this turn's missing signal, not a crash
            warnings.warn(f"{self.name}: task {context.task_id!r} turn {context.turn}: {exc}", JudgeWarning,
                          stacklevel=2)
            return Judgement(None, f"no usable checklist: {exc}", {"error": str(exc)})
        if not items:
            return Judgement(None, "no criteria for this turn", {"criteria": []})
        verdicts = [(c, self.judge_criterion.check(context, c)) for c in items]
        rows = [{"criterion": c, "satisfied": v.satisfied, "evidence": v.evidence} for c, v in verdicts]
        judged = [v for _, v in verdicts if v.satisfied is not None]
        if not judged:
            return Judgement(None, f"none of the {len(items)} criteria could be judged", {"criteria": rows})
        met = sum(1 for v in judged if v.satisfied)
        unjudged = len(items) - len(judged)
        note = f" ({unjudged} not judged)" if unjudged else ""
        return Judgement(met / len(judged), f"{met} of {len(judged)} criteria satisfied{note}",
                         {"criteria": rows})
