"""Scripted agents: the oracle (a perfect agent) and a random baseline.

The oracle proves that every task is solvable and that a perfect run gets full
marks from the verifiers; the random agent is the floor any trained agent must
clear. Both work on any :class:`~turngym.core.TurnEnv`.
"""

from __future__ import annotations

import json
import re

import gymnasium as gym
import numpy as np

from turngym.core.actions import ToolSpec
from turngym.core.env import TurnEnv
from turngym.core.messages import Action, Message


def turn_env(env: gym.Env) -> TurnEnv:
    """The :class:`TurnEnv` under any Gymnasium wrappers, or ``TypeError``."""
    inner = env.unwrapped
    if not isinstance(inner, TurnEnv):
        raise TypeError(f"expected a turngym TurnEnv, got {type(inner).__name__}")
    return inner


class OracleAgent:
    """Takes the environment's ``oracle_action()`` every turn."""

    name = "oracle"

    def reset(self, seed: int | None = None) -> None:
        """Nothing to reset: the oracle is deterministic."""

    def act(self, history: list[Message], env: gym.Env) -> Action:
        """The environment's reference action; ``RuntimeError`` where it has none."""
        action = turn_env(env).oracle_action()
        if action is None:
            raise RuntimeError(f"{type(env.unwrapped).__name__} has no oracle action for this state")
        return action


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")


class RandomAgent:
    """Calls a random tool with words drawn at random from the conversation.

    Actions are well formed in the environment's first accepted format (so
    the baseline measures luck, not parse errors): tagged text where the tool
    has a tag, else an OpenAI tool call. Seeded through :meth:`reset`.
    """

    name = "random"

    def __init__(self, seed: int | None = None, max_words: int = 4) -> None:
        self.max_words = max_words
        self._rng = np.random.default_rng(None if seed is None else [seed, 0x61676E74])

    def reset(self, seed: int | None = None) -> None:
        """Reseed (only when a seed is given).

        The stream is derived from ``(seed, "agent")`` so that an agent and an environment
        reset with the same seed do not draw the same numbers (which would let a "random"
        guess equal a target drawn from the same seed).
        """
        if seed is not None:
            self._rng = np.random.default_rng([seed, 0x61676E74])

    def act(self, history: list[Message], env: gym.Env) -> Action:
        """A random call of a random tool."""
        inner = turn_env(env)
        tools = list(inner.tools)
        if not tools:
            return self._words(history)
        spec = tools[int(self._rng.integers(len(tools)))]
        arguments = self._arguments(spec, history)
        if spec.tag and "tagged" in inner.action_formats:
            return f"<{spec.tag}>{arguments[spec.argument_for_tag() or '']}</{spec.tag}>"
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{int(self._rng.integers(1 << 30))}",
                    "type": "function",
                    "function": {"name": spec.name, "arguments": json.dumps(arguments)},
                }
            ],
        }

    def _words(self, history: list[Message]) -> str:
        words = [w for m in history for w in _WORD.findall(m.get("content") or "")]
        if not words:
            return "hello"
        count = int(self._rng.integers(1, self.max_words + 1))
        return " ".join(words[int(i)] for i in self._rng.integers(len(words), size=count))

    def _integer(self, history: list[Message]) -> int:
        """An integer from the conversation's range: between the smallest and largest number seen."""
        numbers = [int(n) for m in history for n in re.findall(r"-?\d+", m.get("content") or "")]
        low, high = (min(numbers), max(numbers)) if numbers else (0, 100)
        return int(self._rng.integers(low, high + 1))

    def _arguments(self, spec: ToolSpec, history: list[Message]) -> dict[str, object]:
        arguments: dict[str, object] = {}
        properties = spec.parameters.get("properties", {})
        for name in spec.parameters.get("required", []):
            kind = properties.get(name, {}).get("type", "string")
            if kind == "integer":
                arguments[name] = self._integer(history)
            elif kind == "number":
                arguments[name] = float(self._rng.random())
            elif kind == "boolean":
                arguments[name] = bool(self._rng.integers(2))
            else:
                arguments[name] = self._words(history)
        return arguments
