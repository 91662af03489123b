"""Agents named on a command line: oracle, random, hf:PATH, checkpoint:RUN, openai:MODEL@URL.

:func:`parse_agent_spec` checks the text and says what is accepted when it is
wrong; :func:`build_agent` makes the agent. Text-level agents (scripted,
OpenAI-compatible) act on messages; ``hf:`` gives a token-level policy, which
the runner samples in batches. ``checkpoint:`` names what ``turngym train``
wrote and is loaded by :func:`turngym.trainers.policies.policy_from_run`
(the trainer owns its checkpoint format). An endpoint's key comes from an
environment variable and is never written anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

ACCEPTED = (
    "oracle | random | hf:PATH (a local model directory, a .gguf file, or smollm2-135m) | "
    "checkpoint:RUN_DIR (newest step) or checkpoint:RUN_DIR/checkpoints/step-N | "
    "openai:MODEL@BASE_URL (e.g. openai:gpt-4o-mini@http://127.0.0.1:8000/v1)"
)


class AgentSpecError(ValueError):
    """An agent spec that does not parse; the message lists what is accepted."""


@dataclass(frozen=True)
class AgentSpec:
    """A parsed agent spec: ``kind`` is oracle, random, hf, checkpoint or openai."""

    kind: str
    path: str = ""
    model: str = ""
    base_url: str = ""

    def __str__(self) -> str:
        if self.kind in ("oracle", "random"):
            return self.kind
        if self.kind == "openai":
            return f"openai:{self.model}@{self.base_url}"
        return f"{self.kind}:{self.path}"


def parse_agent_spec(text: str) -> AgentSpec:
    """Parse ``text`` (see :data:`ACCEPTED`), or raise :class:`AgentSpecError` saying what is wrong."""
    text = text.strip()
    if text in ("oracle", "random"):
        return AgentSpec(text)
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("hf", "checkpoint", "openai"):
        raise AgentSpecError(f"unknown agent {text!r}; accepted: {ACCEPTED}")
    if not rest:
        raise AgentSpecError(f"agent {text!r} names no {'model' if kind == 'openai' else 'path'}; "
                             f"accepted: {ACCEPTED}")
    if kind == "openai":
        model, at, url = rest.rpartition("@")
        if not at or not model or not url.startswith(("http://", "https://")):
            raise AgentSpecError(
                f"agent {text!r}: an endpoint is openai:MODEL@BASE_URL with an http(s) URL, "
                "e.g. openai:my-model@http://127.0.0.1:8000/v1"
            )
        return AgentSpec("openai", model=model, base_url=url)
    if kind == "hf" and rest == "smollm2-135m":
        return AgentSpec("hf", path=rest)
    if not os.path.exists(rest):
        what = "model" if kind == "hf" else "training run"
        raise AgentSpecError(f"agent {text!r}: {what} path {rest!r} does not exist (nothing is downloaded)")
    return AgentSpec(kind, path=rest)


def build_agent(
    spec: AgentSpec,
    *,
    seed: int = 0,
    temperature: float = 0.0,
    top_p: float | None = None,
    max_tokens: int = 512,
    api_key_env: str = "OPENAI_API_KEY",
    lora: str | None = None,
    device: str | None = None,
    timeout_s: float = 60.0,
) -> Any:
    """Make the agent ``spec`` names (``checkpoint:`` excepted: see the module docstring).

    ``temperature``/``top_p``/``max_tokens`` are sent to endpoints (token-level policies take
    them per call, as :class:`~turngym.agents.policy.SamplingParams`). ``lora`` is a PEFT
    adapter directory put on an ``hf:`` model.
    """
    if spec.kind == "oracle":
        from turngym.agents.scripted import OracleAgent

        return OracleAgent()
    if spec.kind == "random":
        from turngym.agents.scripted import RandomAgent

        return RandomAgent(seed=seed)
    if spec.kind == "openai":
        from turngym.agents.openai_agent import OpenAIAgent

        return OpenAIAgent(spec.model, spec.base_url, api_key=os.environ.get(api_key_env) or None,
                           temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed,
                           timeout_s=timeout_s)
    if spec.kind == "hf":
        from turngym.agents.hf_policy import HFPolicy
        from turngym.agents.models import smollm2_135m

        policy = (smollm2_135m(device=device) if spec.path == "smollm2-135m"
                  else HFPolicy.from_pretrained(spec.path, device=device))
        if lora is not None:
            policy.load_adapter(lora)
        return policy
    raise AgentSpecError(f"{spec} is loaded by turngym.trainers.policies.policy_from_run, not build_agent")
