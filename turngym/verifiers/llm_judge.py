"""``LLMJudge``: a rubric prompt scored by a model behind an OpenAI-compatible endpoint.

The judge sends the conversation (for ``level="turn"``: everything before the turn, then the
turn itself marked as the one to judge; for ``level="episode"``: the whole episode) with the
rubric, and asks for ``{"reasoning": "...", "score": N}`` with N between ``low`` and ``high``.
The score is mapped to [0, 1]; the reasoning is kept (:class:`~turngym.verifiers.rubric.Judgement`
``reasoning``, written to the records by :meth:`~turngym.verifiers.rubric.Rubric.annotate`).

Requests go through :class:`turngym.agents.openai_agent.OpenAIAgent`, the code ``turngym
eval`` uses: retries with backoff on 429/5xx, timeouts and dropped connections, a seed with
every request (the judge's ``seed`` plus a stable hash of the task and turn, so a re-run asks
the same question with the same seed). One agent per thread, so a rubric's ``concurrency``
runs judges in parallel safely.

**A judge never breaks a batch.** An endpoint that fails for good (HTTP errors after retries,
timeouts, a body that is not a chat completion) or a reply without a readable score in range
gives a *missing* judgement (``score=None``) with the reason in ``reasoning`` and
``evidence["error"]`` (and the raw reply in ``evidence["reply"]``), and a :class:`JudgeWarning`.
"""

from __future__ import annotations

import json
import math
import re
import threading
import warnings
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from turngym.core.messages import Message
from turngym.verifiers.rubric import LEVELS, Judgement, TurnContext


class JudgeWarning(UserWarning):
    """A judge gave no usable verdict (endpoint failure or unreadable reply); the signal is missing."""


class JudgeReplyError(ValueError):
    """A judge's reply holds no verdict in the form asked for (the message says what it lacked)."""


class JudgeClient:
    """Sends chat messages to an OpenAI-compatible endpoint and returns the reply text.

    Args:
        model, base_url, api_key: the endpoint (as for ``OpenAIAgent``).
        temperature, max_tokens, timeout_s, max_retries, backoff_s: passed to ``OpenAIAgent``.
        agent_factory: builds the agent (default: ``OpenAIAgent`` with the settings above); one is
            built per thread.
    """

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        backoff_s: float = 1.0,
        agent_factory: Callable[[], Any] | None = None,
    ) -> None:
        if agent_factory is None:
            from turngym.agents.openai_agent import OpenAIAgent

            def agent_factory() -> Any:
                return OpenAIAgent(model, base_url, api_key=api_key, temperature=temperature,
                                   max_tokens=max_tokens, timeout_s=timeout_s, max_retries=max_retries,
                                   backoff_s=backoff_s, use_tools=False)

            OpenAIAgent(model, base_url)  # checks base_url now, not on the first judgement
        self.model = model
        self._factory = agent_factory
        self._local = threading.local()

    def ask(self, messages: Sequence[Message], seed: int | None = None) -> str:
        """The model's reply to ``messages`` (raises what the agent raises when the endpoint fails)."""
        agent = getattr(self._local, "agent", None)
        if agent is None:
            agent = self._local.agent = self._factory()
        agent.reset(seed)
        reply = agent.act(list(messages), None)
        if not isinstance(reply, str):
            raise JudgeReplyError(f"the judge answered with tool calls, not text: {reply!r:.200}")
        return reply


_SCORE = re.compile(r"score\W{0,4}(-?\d+(?:\.\d+)?)", re.IGNORECASE)


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object found in ``text`` (a reply may wrap its JSON in prose or a code fence).

    >>> json_objects('Sure. {"score": 7, "reasoning": "ok"} done')
    [{'score': 7, 'reasoning': 'ok'}]
    """
    decoder = json.JSONDecoder()
    found = []
    position = text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        position = text.find("{", end)
    return found


def parse_verdict(text: str, low: float, high: float) -> tuple[float, str]:
    """``(score in [0, 1], reasoning)`` from a judge's reply, or :class:`JudgeReplyError`.

    The reply's first JSON object with a ``score`` wins; without one, a ``score: N`` written in
    prose is accepted. N must be a finite number in ``[low, high]``; it maps to
    ``(N - low) / (high - low)``.

    >>> parse_verdict('{"reasoning": "found the key fact", "score": 8}', 0, 10)
    (0.8, 'found the key fact')
    >>> parse_verdict('Reasoning: fine. Score: 3', 1, 5)
    (0.5, 'Reasoning: fine. Score: 3')
    """
    raw: Any = None
    reasoning = text.strip()
    for obj in json_objects(text):
        if "score" in obj:
            raw = obj["score"]
            reasoning = str(obj.get("reasoning", obj.get("explanation", reasoning)))
            break
    if raw is None:
        match = _SCORE.search(text)
        if match is None:
            raise JudgeReplyError(f"no score in the judge's reply (asked for a JSON object with 'score'): "
                                  f"{text[:200]!r}")
        raw = match.group(1)
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise JudgeReplyError(f"the judge's score {raw!r} is not a number")
    if not low <= value <= high:
        raise JudgeReplyError(f"the judge's score {value:g} is outside [{low:g}, {high:g}]")
    return (value - low) / (high - low), reasoning


def render(messages: Sequence[Message]) -> str:
    """A conversation as plain text for a judge: ``[role] content`` blocks (tool calls as JSON)."""
    blocks = []
    for message in messages:
        content = message.get("content") or ""
        if message.get("tool_calls"):
            calls = json.dumps(message["tool_calls"], ensure_ascii=False)
            content = f"{content}\n(tool calls: {calls})".strip()
        blocks.append(f"[{message.get('role', '?')}] {content}")
    return "\n".join(blocks)


def turn_seed(base: int | None, context: TurnContext, salt: str = "") -> int | None:
    """A stable per-turn seed: ``base`` plus a CRC32 of the task, turn and ``salt``."""
    if base is None:
        return None
    return (base + zlib.crc32(f"{context.task_id}\x00{context.turn}\x00{salt}".encode())) % (2**31)


def missing(reason: str, reply: str | None, name: str, context: TurnContext) -> Judgement:
    """A missing judgement with a :class:`JudgeWarning` (what every judge failure becomes)."""
    warnings.warn(f"{name}: no verdict for task {context.task_id!r} turn {context.turn}: {reason}",
                  JudgeWarning, stacklevel=3)
    evidence: dict[str, Any] = {"error": reason}
    if reply is not None:
        evidence["reply"] = reply[:2000]
    return Judgement(None, f"judge failed: {reason}", evidence)


class LLMJudge:
    """Scores turns (or whole episodes) against a rubric with a model behind an endpoint.

    Args:
        rubric: what a good turn (episode) is, in words; the judge scores against it.
        client: a :class:`JudgeClient` (or anything with ``ask(messages, seed) -> str``).
        name: the verifier's name in a :class:`~turngym.verifiers.rubric.Rubric` and the records.
        level: ``"turn"`` (judge every turn) or ``"episode"`` (once, on the last turn).
        low, high: the score range the judge is asked for (mapped to [0, 1]).
        seed: base seed for the requests (``None``: none sent).

    Example: ``LLMJudge("Does the turn use the search results?", client=JudgeClient("qwen",
    "http://127.0.0.1:8000/v1"))`` in ``Rubric([(1.0, OutcomeScore()), (0.2, judge)])``.
    """

    def __init__(
        self,
        rubric: str,
        *,
        client: Any,
        name: str = "llm_judge",
        level: str = "turn",
        low: float = 0.0,
        high: float = 10.0,
        seed: int | None = 0,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"need finite low < high, got low={low!r}, high={high!r}")
        if not rubric.strip():
            raise ValueError("rubric must say what to judge (got empty text)")
        self.rubric, self.client, self.name, self.level = rubric, client, name, level
        self.low, self.high, self.seed = float(low), float(high), seed

    def messages(self, context: TurnContext) -> list[Message]:
        """What the judge is sent for ``context``."""
        what = "the assistant's marked turn" if self.level == "turn" else "the assistant's whole episode"
        instructions = (
            f"You are a strict evaluator. Judge {what} against this rubric:\n{self.rubric}\n\n"
            f"Reply with one JSON object and nothing else: "
            f'{{"reasoning": "<one or two sentences>", '
            f'"score": <a number from {self.low:g} to {self.high:g}>}}'
        )
        if self.level == "turn":
            body = (f"Conversation so far:\n{render(context.history)}\n\n"
                    f"TURN TO JUDGE (assistant):\n{context.action}\n\n"
                    f"Environment's reply:\n{render(context.observation)}")
        else:
            body = f"Episode:\n{render(context.transcript())}"
        return [{"role": "system", "content": instructions}, {"role": "user", "content": body}]

    def judge(self, context: TurnContext) -> Judgement:
        """The judge's score for ``context``; missing (with a warning) when it fails."""
        reply = None
        try:
            reply = self.client.ask(self.messages(context), turn_seed(self.seed, context, self.name))
            score, reasoning = parse_verdict(reply, self.low, self.high)
        except Exception as exc:  # any failure of the judge is a missing signal, never a crashed batch
            return missing(f"{type(exc).__name__}: {exc}", reply, self.name, context)
        return Judgement(score, reasoning, {"reply": reply[:2000]})
