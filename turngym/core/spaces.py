"""Gymnasium spaces for chat observations and assistant actions.

``ChatObservationSpace`` holds lists of chat messages; ``AssistantActionSpace``
holds an assistant's text or an assistant message dict. Both sample from their
own seeded generator (``space.seed(n)``), so Gymnasium's determinism checks
and vector environments work with them.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.spaces import Space

from turngym.core.messages import ROLES, Action, Message, message_problem

_CHARSET = string.ascii_letters + string.digits + " .,?!<>/_-:()\"'=\n"


def _random_text(rng: np.random.Generator, max_length: int) -> str:
    n = int(rng.integers(0, max_length + 1))
    return "".join(rng.choice(list(_CHARSET), size=n)) if n else ""


class ChatObservationSpace(Space[list[Message]]):
    """Lists of OpenAI-format chat messages (at most ``max_messages`` per observation)."""

    def __init__(self, max_messages: int = 64, seed: int | np.random.Generator | None = None):
        self.max_messages = max_messages
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        """Chat text has no fixed-size array form."""
        return False

    def contains(self, x: Any) -> bool:
        """A list of at most ``max_messages`` well-formed messages."""
        return (
            isinstance(x, list)
            and len(x) <= self.max_messages
            and all(message_problem(m) is None for m in x)
        )

    def sample(self, mask: Any = None, probability: Any = None) -> list[Message]:
        """A few random system/user/assistant messages."""
        if mask is not None or probability is not None:
            raise ValueError("ChatObservationSpace.sample takes no mask or probability")
        count = int(self.np_random.integers(1, 4))
        roles = [r for r in ROLES if r != "tool"]
        return [
            {"role": str(self.np_random.choice(roles)), "content": _random_text(self.np_random, 40)}
            for _ in range(count)
        ]

    def __repr__(self) -> str:
        return f"ChatObservationSpace(max_messages={self.max_messages})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatObservationSpace) and other.max_messages == self.max_messages

    def __hash__(self) -> int:
        return hash(("ChatObservationSpace", self.max_messages))


class AssistantActionSpace(Space[Action]):
    """An assistant turn: text (at most ``max_length`` characters) or an assistant message dict.

    Samples are random text, sometimes wrapped in a tag, and, when ``tool_names``
    are given, sometimes a tool call with random arguments: mostly malformed
    actions, which is what a robustness check wants.
    """

    def __init__(
        self,
        tool_names: Sequence[str] = (),
        max_length: int = 200_000,
        seed: int | np.random.Generator | None = None,
    ):
        self.tool_names = tuple(tool_names)
        self.max_length = max_length
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        """Text has no fixed-size array form."""
        return False

    def contains(self, x: Any) -> bool:
        """Text within ``max_length``, or an assistant message dict."""
        if isinstance(x, str):
            return len(x) <= self.max_length
        if isinstance(x, dict):
            return x.get("role", "assistant") == "assistant" and message_problem(
                {"role": "assistant", **x}
            ) is None
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> Action:
        """A random action (see the class docstring)."""
        if mask is not None or probability is not None:
            raise ValueError("AssistantActionSpace.sample takes no mask or probability")
        rng = self.np_random
        text = _random_text(rng, min(30, self.max_length))
        kind = rng.random()
        if self.tool_names and kind < 0.25:
            name = str(rng.choice(list(self.tool_names)))
            args = json.dumps({"query": _random_text(rng, 10)})
            return {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_0", "type": "function", "function": {"name": name, "arguments": args}}
                ],
            }
        if self.tool_names and kind < 0.6:
            tag = str(rng.choice(list(self.tool_names)))
            return f"<{tag}>{text}</{tag}>"[: self.max_length]
        return text

    def __repr__(self) -> str:
        return f"AssistantActionSpace(tool_names={self.tool_names!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AssistantActionSpace)
            and other.tool_names == self.tool_names
            and other.max_length == self.max_length
        )

    def __hash__(self) -> int:
        return hash(("AssistantActionSpace", self.tool_names, self.max_length))
