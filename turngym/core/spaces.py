"""Gymnasium spaces for chat observations and assistant actions.

``ChatObservationSpace`` holds lists of chat messages; ``AssistantActionSpace``
holds an assistant's text or an assistant message dict. Both sample from their
own seeded generator (``space.seed(n)``), so Gymnasium's determinism checks
and vector environments work with them.

Gymnasium's vector environments work with their defaults: ``SyncVectorEnv``
batches observations as a tuple, and ``AsyncVectorEnv`` (``shared_memory=True``)
passes each observation through a fixed-size shared byte slot per environment
holding its JSON (``ChatObservationSpace.shared_memory_bytes``, the
``shared_memory_bytes`` argument of every turngym env), registered below with
Gymnasium's ``create_shared_memory`` / ``read_from_shared_memory`` /
``write_to_shared_memory``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import string
from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np
from gymnasium.spaces import Space
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

from turngym.core.actions import ToolSpec
from turngym.core.messages import ROLES, Action, Message, message_problem

DEFAULT_SHARED_MEMORY_BYTES = 1 << 20
"""Bytes of JSON one observation may take in ``AsyncVectorEnv``'s shared memory (1 MiB)."""

_LENGTH_BYTES = 8

_CHARSET = string.ascii_letters + string.digits + " .,?!<>/_-:()\"'=\n"


def _random_text(rng: np.random.Generator, max_length: int) -> str:
    n = int(rng.integers(0, max_length + 1))
    return "".join(rng.choice(list(_CHARSET), size=n)) if n else ""


class ChatObservationSpace(Space[list[Message]]):
    """Lists of OpenAI-format chat messages (at most ``max_messages`` per observation).

    ``shared_memory_bytes`` only matters to ``AsyncVectorEnv(..., shared_memory=True)``: it is
    the size of each environment's slot for the observation's JSON.
    """

    def __init__(
        self,
        max_messages: int = 64,
        seed: int | np.random.Generator | None = None,
        shared_memory_bytes: int = DEFAULT_SHARED_MEMORY_BYTES,
    ):
        if isinstance(shared_memory_bytes, bool) or not isinstance(shared_memory_bytes, int) \
                or shared_memory_bytes < 2:
            raise ValueError(f"shared_memory_bytes must be an int >= 2, got {shared_memory_bytes!r}")
        self.max_messages = max_messages
        self.shared_memory_bytes = shared_memory_bytes
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
        return (f"ChatObservationSpace(max_messages={self.max_messages}, "
                f"shared_memory_bytes={self.shared_memory_bytes})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatObservationSpace) and other.max_messages == self.max_messages

    def __hash__(self) -> int:
        return hash(("ChatObservationSpace", self.max_messages))


class AssistantActionSpace(Space[Action]):
    """An assistant turn: text (at most ``max_length`` characters) or an assistant message dict.

    Samples are random text, sometimes wrapped in a tool's tag, and, when tools are
    given, sometimes an OpenAI tool call whose arguments follow the tool's JSON schema
    (its ``properties``, with values of roughly the declared types) but hold random
    content: mostly wrong or malformed actions, which is what a robustness check wants.

    Args:
        tool_names: names of tools without a schema (arguments are then random text).
        max_length: longest text action.
        seed: the sampling generator's seed.
        tools: the environment's :class:`~turngym.core.actions.ToolSpec` s (names, tags and
            schemas); ``tool_names`` is derived from them when given.
    """

    def __init__(
        self,
        tool_names: Sequence[str] = (),
        max_length: int = 200_000,
        seed: int | np.random.Generator | None = None,
        *,
        tools: Sequence[ToolSpec] = (),
    ):
        self.tools: tuple[ToolSpec, ...] = tuple(tools)
        named = {t.name for t in self.tools}
        self.tool_names = tuple(t.name for t in self.tools) + tuple(n for n in tool_names if n not in named)
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
            spec = next((t for t in self.tools if t.name == name), None)
            arguments = _sample_arguments(rng, spec.parameters) if spec else {"input": _random_text(rng, 10)}
            return {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_0", "type": "function",
                                "function": {"name": name, "arguments": json.dumps(arguments)}}],
            }
        tags = [t.tag for t in self.tools if t.tag] + [n for n in self.tool_names
                                                        if n not in {t.name for t in self.tools}]
        if tags and kind < 0.6:
            tag = str(rng.choice(tags))
            return f"<{tag}>{text}</{tag}>"[: self.max_length]
        return text

    def __repr__(self) -> str:
        return f"AssistantActionSpace(tool_names={self.tool_names!r})"

    def _schemas(self) -> str:
        return json.dumps([[t.name, t.tag, dict(t.parameters)] for t in self.tools], sort_keys=True,
                          default=str)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AssistantActionSpace)
            and other.tool_names == self.tool_names
            and other.max_length == self.max_length
            and other._schemas() == self._schemas()
        )

    def __hash__(self) -> int:
        return hash(("AssistantActionSpace", self.tool_names, self.max_length, self._schemas()))


def _sample_value(rng: np.random.Generator, schema: Any, depth: int = 0) -> Any:
    """A random value of roughly the type ``schema`` declares (JSON schema)."""
    schema = schema if isinstance(schema, Mapping) else {}
    if schema.get("enum"):
        return schema["enum"][int(rng.integers(len(schema["enum"])))]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = str(rng.choice([k for k in kind if k != "null"] or ["string"]))
    if kind == "integer":
        return int(rng.integers(-5, 100))
    if kind == "number":
        return float(np.round(rng.normal(0, 10), 3))
    if kind == "boolean":
        return bool(rng.random() < 0.5)
    if kind == "array":
        return [_sample_value(rng, schema.get("items"), depth + 1) for _ in range(int(rng.integers(0, 3)))]
    if kind == "object":
        return _sample_arguments(rng, schema) if depth < 2 else {}
    if kind == "null":
        return None
    return _random_text(rng, 10)


def _sample_arguments(
    rng: np.random.Generator, parameters: Mapping[str, Any], depth: int = 0
) -> dict[str, Any]:
    """Random arguments for a tool: every required property, each optional one half the time."""
    properties = parameters.get("properties") or {}
    required = set(parameters.get("required") or [])
    return {
        name: _sample_value(rng, schema, depth + 1)
        for name, schema in properties.items()
        if name in required or rng.random() < 0.5
    }


# ----- AsyncVectorEnv's shared memory --------------------------------------------------
# Each environment owns a slot of ``shared_memory_bytes`` bytes: 8 bytes of length, then
# the observation's UTF-8 JSON. Reading returns a live view; Gymnasium deep-copies it
# (``copy=True``, the default) into a tuple of message lists, as SyncVectorEnv returns.


class SharedChatObservations(Sequence):
    """A live view of the observations in an ``AsyncVectorEnv``'s shared memory.

    Indexing decodes an environment's current observation; ``copy.deepcopy`` gives a plain
    tuple of message lists (what ``AsyncVectorEnv`` returns with its default ``copy=True``).
    """

    def __init__(self, space: ChatObservationSpace, buffer: Any, n: int) -> None:
        self._slot = space.shared_memory_bytes
        self._n = n
        self._bytes = np.frombuffer(buffer.get_obj(), dtype=np.uint8).reshape(n, self._slot)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(self._n)[index])
        row = self._bytes[index]
        length = int.from_bytes(row[:_LENGTH_BYTES].tobytes(), "little")
        if length == 0:
            return []
        return json.loads(row[_LENGTH_BYTES:_LENGTH_BYTES + length].tobytes().decode("utf-8"))

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(self._n))

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[list[Message], ...]:
        return tuple(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (tuple, SharedChatObservations)) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"SharedChatObservations({tuple(self)!r})"


@create_shared_memory.register(ChatObservationSpace)
def _create_chat_shared_memory(space: ChatObservationSpace, n: int = 1, ctx: ModuleType = mp) -> Any:
    return ctx.Array("B", n * space.shared_memory_bytes)


@read_from_shared_memory.register(ChatObservationSpace)
def _read_chat_from_shared_memory(space: ChatObservationSpace, shared_memory: Any, n: int = 1) -> Any:
    return SharedChatObservations(space, shared_memory, n)


@write_to_shared_memory.register(ChatObservationSpace)
def _write_chat_to_shared_memory(
    space: ChatObservationSpace, index: int, value: list[Message], shared_memory: Any
) -> None:
    data = json.dumps(value, ensure_ascii=False).encode("utf-8")
    room = space.shared_memory_bytes - _LENGTH_BYTES
    if len(data) > room:
        raise ValueError(
            f"an observation of {len(data):,} bytes of JSON does not fit AsyncVectorEnv's shared-memory "
            f"slot of {room:,} bytes: make the environment with a larger shared_memory_bytes "
            f"(gymnasium.make(id, shared_memory_bytes={max(2 * len(data) + _LENGTH_BYTES, 1 << 20)})), "
            "or pass shared_memory=False to AsyncVectorEnv"
        )
    slot = np.frombuffer(shared_memory.get_obj(), dtype=np.uint8)[
        index * space.shared_memory_bytes:(index + 1) * space.shared_memory_bytes]
    slot[_LENGTH_BYTES:_LENGTH_BYTES + len(data)] = np.frombuffer(data, dtype=np.uint8)
    slot[:_LENGTH_BYTES] = np.frombuffer(len(data).to_bytes(_LENGTH_BYTES, "little"), dtype=np.uint8)
