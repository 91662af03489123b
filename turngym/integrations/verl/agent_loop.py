"""``turngym_agent``: verl's agent loop for any turngym environment, token in and token out.

verl 0.9.1 calls ``await loop.run(sampling_params, **row)`` once per dataset row (the row's
columns as keyword arguments) and expects an ``AgentLoopOutput``: the prompt ids, the
response ids (everything after the prompt), a response mask (1 on the policy's tokens)
and optionally log-probs and a reward. This loop:

1. reads the episode from the row's ``turngym`` column (:func:`~.dataset.episode_spec`:
   environment id, keyword arguments, seed, reset options), makes the environment and
   resets it; the opening messages, templated, are the prompt;
2. each turn, asks ``self.server_manager.generate(request_id=..., prompt_ids=...,
   sampling_params=...)`` for the next action (token ids and log-probs), gives its text to
   ``env.step`` and appends the environment's reply, templated incrementally by
   :class:`~turngym.agents.chat_template.ChatTemplate` (never re-tokenised; a template that
   breaks the prefix property fails the episode), with mask 0 and log-prob 0;
3. stops when the environment ends the episode, at ``max_turns``, or when the response
   budget (``rollout.response_length``) is spent (then truncated, as verl truncates);
4. returns the total reward of the episode as ``reward_score`` (verl puts it on the last
   response token) and, in ``extra_fields["turngym"]``, the episode's turns as turngym
   records them (rewards, signals, anchors, token spans) for the estimators of
   :mod:`.advantages`.

Environment calls run in threads (``loop.run_in_executor``) with a time limit; an
environment that raises or hangs ends only its own episode (reward 0, ``status`` failed and
the reason in the turn data), as in turngym's own runner.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import gymnasium as gym
from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput, register

import turngym  # noqa: F401  (registers the environments)
from turngym.agents.chat_template import ChatTemplate
from turngym.core.trajectory import EpisodeRecord
from turngym.integrations.verl.dataset import parse_spec
from turngym.rollout.records import (
    failure_reason,
    new_episode,
    record_cutoff,
    record_failure,
    record_reset,
    record_turn,
)

AGENT_NAME = "turngym_agent"
"""The name the loop is registered under (a dataset row's ``agent_name``)."""

STEP_TIMEOUT_S = 60.0
"""Default limit of one environment ``reset``/``step`` (a row's spec may set ``step_timeout_s``)."""


@register(AGENT_NAME)
class TurnGymAgentLoop(AgentLoopBase):
    """Plays one turngym episode against verl's server manager (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.response_length = int(self.rollout_config.response_length)
        self.template = ChatTemplate(self.tokenizer)

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        """One episode of the row's environment; see the module docstring."""
        spec = parse_spec(kwargs.get("turngym", (kwargs.get("extra_info") or {}).get("turngym")))
        started = time.perf_counter()
        record = new_episode(uuid.uuid4().hex[:12], env_id=spec["env_id"], seed=spec["seed"],
                             agent=AGENT_NAME, metadata={"options": spec["options"]})
        timeout = spec["step_timeout_s"]
        env: gym.Env | None = None
        prompt_ids: list[int] = []
        response_ids: list[int] = []
        mask: list[int] = []
        logprobs: list[float] = []
        spans: list[list[int]] = []
        metrics = {"generate_sequences": 0.0, "tool_calls": 0.0}
        try:
            env = await self._in_thread(lambda: gym.make(spec["env_id"], **spec["env_kwargs"]), timeout,
                                        "make")
            observation, info = await self._in_thread(
                lambda: env.reset(seed=spec["seed"], options=spec["options"]), timeout, "reset")
            record_reset(record, env, observation, info)
            conversation = self.template.start(observation)
            prompt_ids = list(conversation.ids)
            record.prompt_ids = list(prompt_ids)
            while True:
                budget = self.response_length - len(response_ids)
                if spec["max_turns"] is not None and len(record.turns) >= spec["max_turns"]:
                    record_cutoff(record, "max_turns")
                    break
                if budget <= 0:
                    record_cutoff(record, "context")
                    break
                params = {**sampling_params, "max_tokens": min(budget, spec["max_new_tokens"] or budget)}
                generate_started = time.perf_counter()
                output = await self.server_manager.generate(
                    request_id=uuid.uuid4().hex, prompt_ids=list(conversation.ids), sampling_params=params,
                )
                metrics["generate_sequences"] += time.perf_counter() - generate_started
                action_ids = list(output.token_ids)
                action_logprobs = list(output.log_probs) if output.log_probs else [0.0] * len(action_ids)
                text = conversation.action_text(action_ids)
                step_started = time.perf_counter()
                observation, reward, terminated, truncated, info = await self._in_thread(
                    lambda text=text: env.step(text), timeout, "step")
                metrics["tool_calls"] += time.perf_counter() - step_started
                tokens = conversation.add_turn(action_ids, observation)
                spans.append([len(response_ids), len(response_ids) + len(action_ids)])
                response_ids += action_ids + list(tokens.observation_ids)
                mask += [1] * len(action_ids) + [0] * len(tokens.observation_ids)
                logprobs += action_logprobs + [0.0] * len(tokens.observation_ids)
                record_turn(record, action_text=text, action_ids=action_ids, action_logprobs=action_logprobs,
                            observation=observation, observation_ids=tokens.observation_ids, reward=reward,
                            terminated=terminated, truncated=truncated, info=info)
                if terminated or truncated:
                    break
        except Exception as exc:  # an episode's failure (template errors included) never stops the batch
            record_failure(record, failure_reason(exc, len(record.turns)))
        finally:
            if env is not None:
                try:
                    env.close()
                except Exception:  # closing is best effort
                    pass
        record.metadata["wall_s"] = round(time.perf_counter() - started, 6)
        return self._output(record, prompt_ids, response_ids, mask, logprobs, spans, metrics)

    async def _in_thread(self, call: Any, timeout: float | None, what: str) -> Any:
        try:
            return await asyncio.wait_for(self.loop.run_in_executor(None, call), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"environment {what} timed out after {timeout} s") from None

    def _output(self, record: EpisodeRecord, prompt_ids: list[int], response_ids: list[int], mask: list[int],
                logprobs: list[float], spans: list[list[int]], metrics: dict[str, float]) -> AgentLoopOutput:
        n = self.response_length
        failed = record.status != "ok"
        reward = 0.0 if failed else sum(t.reward for t in record.turns)  # failed episodes score 0
        turn_data = {
            "status": record.status, "error": record.error, "env_id": record.env_id,
            "task_id": record.task_id,
            "seed": record.seed, "outcome": record.outcome, "truncated": record.truncated,
            "turns": [
                {"reward": t.reward, "signals": t.signals, "anchor": t.anchor, "span": span}
                for t, span in zip(record.turns, spans)
                if span[0] < n and span[1] > span[0]  # the turns the mask shows after verl's truncation
            ],
        }
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=response_ids[:n],
            response_mask=mask[:n],
            response_logprobs=logprobs[:n],
            reward_score=reward,
            num_turns=1 + 2 * len(record.turns),
            metrics=AgentLoopMetrics(**metrics),
            extra_fields={"turngym": turn_data, "turngym_record": record.to_dict()},
        )
