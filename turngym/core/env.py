"""``TurnEnv``: the base class of every turngym environment.

It implements the environment contract of DESIGN.md once, so that an
environment only says what its tasks are and what an action does. Implement these
in all subclasses (they are abstract):

- ``_reset_task(options)`` picks a task (from ``self.np_random`` or
  ``options["task_id"]``) and returns ``(task_id, opening_messages)``; it raises
  ``ValueError`` for options it cannot honour *before* changing any state;
- ``_apply(calls)`` performs the parsed calls and returns a :class:`Transition`.

Optionally override ``_anchor()`` (the key of the state the agent acts from; by
default the task id and a hash of the conversation so far), ``_probe()``,
``oracle_action()`` and ``get_state()``/``set_state()``.

The base parses actions (in the formats the environment declares, with its
``tools``), turns a malformed action into an observation that says what was
wrong with ``signals["valid_action"] = 0`` (the episode goes on, up to
``max_invalid_turns``), truncates at ``max_turns``, fills the standard ``info``
keys and composes the reward.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym

from turngym.core.actions import ActionError, ParsedCall, ToolSpec, parse_action
from turngym.core.messages import Action, Message, copy_message, user
from turngym.core.messages import tool as tool_message
from turngym.core.spaces import DEFAULT_SHARED_MEMORY_BYTES, AssistantActionSpace, ChatObservationSpace

STANDARD_INFO_KEYS: tuple[str, ...] = ("signals", "anchor", "task_id", "turn")
"""Keys present in ``info`` after every ``reset`` and ``step``.

``signals`` (dict[str, float]): turn-level verifier outputs (``valid_action``,
``format`` and the environment's own ``signal_names``), every name on every
step. ``anchor`` (str): canonical key of the state the agent acts from.
``task_id`` (str), ``turn`` (int: turns taken so far). On the terminal step
``outcome`` (float) is present too; environments that support belief-gain
scoring add ``probe`` (dict, see :data:`PROBE_KEYS`) on every step.
"""

PROBE_KEYS: tuple[str, ...] = ("answers", "forcing_prefix")
"""Keys of ``info["probe"]``: ``answers`` (list[str], the reference answers),
``forcing_prefix`` (str, text that opens an assistant turn and forces an answer,
e.g. ``"<answer>"``) and optionally ``answer_suffix`` (text closing the answer)."""

BASE_SIGNALS: tuple[str, ...] = ("valid_action", "format")


@dataclass
class Transition:
    """What an environment's ``_apply`` reports for one valid action."""

    messages: list[Message]
    signals: dict[str, float] = field(default_factory=dict)
    terminated: bool = False
    outcome: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    invalid: str | None = None
    """A well-formed action that could not be carried out (an empty query, a wrong type): the
    error kind. It counts toward ``max_invalid_turns`` like a parse error; build it with
    :meth:`TurnEnv.refuse`."""


class TurnEnv(gym.Env[list[Message], Action], abc.ABC):
    """A multi-turn chat environment following turngym's contract (see module docstring).

    Subclass contract: implement these in all subclasses: ``_reset_task(options)`` and
    ``_apply(calls)``. Everything else has a default (``_anchor``, ``_probe``,
    ``oracle_action``, ``get_state``/``set_state``, ``_parse``).

    Args:
        max_turns: turns before the episode is truncated.
        max_invalid_turns: invalid turns tolerated per episode; the next one truncates it
            (``0``: the first invalid turn ends the episode). Each invalid turn's reply says
            how many more invalid turns end the episode.
        action_formats: which of ``"tagged"``, ``"tool_calls"``, ``"python"`` to accept
            (default: the class's ``default_action_formats``).
        reward_weights: the reward of a turn is the outcome (on the terminal step) plus
            ``sum(w * signals[name])``; by default only the outcome counts.
        render_mode: ``"ansi"`` or ``None``.
        shared_memory_bytes: size of each environment's slot when observations travel through
            shared memory (``gymnasium.vector.AsyncVectorEnv``'s default); an observation whose
            JSON is larger raises an error naming this argument.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 1}
    default_action_formats: ClassVar[tuple[str, ...]] = ("tagged", "tool_calls")
    signal_names: ClassVar[tuple[str, ...]] = ()
    """Environment-specific signals; each is present (0.0 when not computed) on every step."""
    tools: Sequence[ToolSpec] = ()

    def __init__(
        self,
        *,
        max_turns: int = 8,
        max_invalid_turns: int = 3,
        action_formats: Sequence[str] | None = None,
        reward_weights: Mapping[str, float] | None = None,
        render_mode: str | None = None,
        shared_memory_bytes: int = DEFAULT_SHARED_MEMORY_BYTES,
    ) -> None:
        if not isinstance(max_turns, int) or max_turns < 1:
            raise ValueError(f"max_turns must be a positive int, got {max_turns!r}")
        if not isinstance(max_invalid_turns, int) or max_invalid_turns < 0:
            raise ValueError(f"max_invalid_turns must be an int >= 0, got {max_invalid_turns!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode {render_mode!r} not supported; accepted: "
                f"{self.metadata['render_modes']} or None"
            )
        self.max_turns = max_turns
        self.max_invalid_turns = max_invalid_turns
        self.action_formats = tuple(action_formats or self.default_action_formats)
        self.all_signal_names = BASE_SIGNALS + tuple(
            s for s in self.signal_names if s not in BASE_SIGNALS
        )
        weights = dict(reward_weights or {})
        unknown = sorted(set(weights) - set(self.all_signal_names))
        if unknown:
            raise ValueError(
                f"reward_weights names unknown signal(s) {unknown}; "
                f"this environment emits: {list(self.all_signal_names)}"
            )
        self.reward_weights = weights
        self.render_mode = render_mode
        self.observation_space = ChatObservationSpace(shared_memory_bytes=shared_memory_bytes)
        self.action_space = AssistantActionSpace(tools=self.tools)
        self._turn = 0
        self._invalid = 0
        self._done = True
        self._task_id = ""
        self._history: list[Message] = []

    # ----- what subclasses implement -------------------------------------------------

    @abc.abstractmethod
    def _reset_task(self, options: Mapping[str, Any]) -> tuple[str, list[Message]]:
        """Choose a task (``options.get("task_id")`` or from ``self.np_random``).

        Return its id and the opening messages. Raise ``ValueError`` naming what is wrong
        (e.g. an unknown ``task_id``) before changing any state: the base class then leaves
        the environment exactly as it was.
        """

    @abc.abstractmethod
    def _apply(self, calls: list[ParsedCall]) -> Transition:
        """Carry out a valid action and say what happened."""

    def _parse(self, action: Any) -> list[ParsedCall] | ActionError:
        """Turn an action into calls; by default the shared parsers over ``tools``.

        Override for free-text environments (a dialogue turn is one "say" call).
        Must never raise on what a model writes.
        """
        return parse_action(action, self.tools, self.action_formats)

    def _anchor(self) -> str:
        """Canonical key of the current state: equal keys mean the same state.

        By default ``"<task id>|<hash of the conversation so far>"``: two episodes share an
        anchor exactly when they are at the same task with the same messages. Override it
        when different conversations reach the same state (e.g. the same set of retrieved
        passages), so that estimators such as GiGPO can group them.
        """
        text = json.dumps(self._history, sort_keys=True, ensure_ascii=False, default=str)
        return f"{self._task_id}|{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def _probe(self) -> dict[str, Any] | None:
        """Belief-gain probe for the current task, or ``None`` when not supported."""
        return None

    def oracle_action(self) -> Action | None:
        """The action a perfect agent would take now, or ``None`` where no reference exists."""
        return None

    def get_state(self) -> Any:
        """A snapshot from which ``set_state`` restores this exact episode state."""
        raise NotImplementedError(f"{type(self).__name__} does not support get_state/set_state")

    def set_state(self, state: Any) -> None:
        """Restore a snapshot taken by ``get_state``."""
        raise NotImplementedError(f"{type(self).__name__} does not support get_state/set_state")

    # ----- the contract ---------------------------------------------------------------

    @property
    def task_id(self) -> str:
        """The current task's id."""
        return self._task_id

    @property
    def turn(self) -> int:
        """Turns taken in the current episode."""
        return self._turn

    @property
    def history(self) -> list[Message]:
        """The whole conversation so far (a copy), for agents that want it."""
        return copy_message(self._history)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[list[Message], dict[str, Any]]:
        """Start an episode: same seed (or same ``options["task_id"]``), same task and observation.

        Options the environment refuses (an unknown ``task_id``) raise ``ValueError`` and leave
        the episode bookkeeping as it was: an episode in progress goes on, none is started
        (a ``seed`` passed with them still reseeds ``np_random``, as Gymnasium does first).
        """
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"reset options must be a dict, got {type(options).__name__}")
        bookkeeping = (self._turn, self._invalid, self._done, self._task_id, self._history)
        super().reset(seed=seed)
        self._turn = 0
        self._invalid = 0
        self._done = False
        try:
            task_id, messages = self._reset_task(dict(options or {}))
        except BaseException:
            self._turn, self._invalid, self._done, self._task_id, self._history = bookkeeping
            raise
        self._task_id = str(task_id)
        self._history = copy_message(list(messages))
        signals = dict.fromkeys(self.all_signal_names, 0.0)
        signals["valid_action"] = 1.0
        return messages, self._info(signals)

    def step(self, action: Action) -> tuple[list[Message], float, bool, bool, dict[str, Any]]:
        """Take one assistant turn. Malformed actions never raise: see the module docstring."""
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        self._turn += 1
        self._history.append(_as_message(action))
        parsed = self._parse(action)
        if isinstance(parsed, ActionError):
            self._invalid += 1
            transition = Transition(
                messages=self._error_messages(action, parsed),
                signals={"valid_action": 0.0, "format": 0.0},
                info={"action_error": parsed.kind},
            )
        else:
            transition = self._apply(parsed)
            transition.signals.setdefault("valid_action", 1.0)
            transition.signals.setdefault("format", 1.0)
            if transition.invalid is not None:
                self._invalid += 1
                transition.signals["valid_action"] = 0.0
                transition.info.setdefault("action_error", transition.invalid)
                if transition.messages:
                    last = transition.messages[-1]
                    last["content"] = f"{last.get('content') or ''}{self._invalid_tail()}"
        signals = dict.fromkeys(self.all_signal_names, 0.0)
        for name, value in transition.signals.items():
            signals[name] = float(value)
        terminated = bool(transition.terminated)
        truncated = False
        reason = None
        if not terminated:
            if self._invalid > self.max_invalid_turns:
                truncated, reason = True, "invalid_actions"
            elif self._turn >= self.max_turns:
                truncated, reason = True, "max_turns"
        # The env's own copies (the agent may change the list it gets back), before the anchor reads it.
        messages = transition.messages
        self._history.extend(copy_message(messages if type(messages) is list else list(messages)))
        info = self._info(signals)
        info.update(transition.info)
        if terminated:
            info["outcome"] = float(transition.outcome if transition.outcome is not None else 0.0)
        if reason is not None:
            info["truncated_reason"] = reason
        reward = info.get("outcome", 0.0)
        if self.reward_weights:
            reward += sum(w * signals.get(name, 0.0) for name, w in self.reward_weights.items())
        self._done = terminated or truncated
        return transition.messages, float(reward), terminated, truncated, info

    def reply_to(self, call: ParsedCall, content: str) -> Message:
        """The environment's answer to ``call``: a tool message when the call came as an
        OpenAI tool call (it has an id to answer), else a user message."""
        if call.call_id is not None:
            return tool_message(content, call.call_id, call.name)
        return user(content)

    def render(self) -> str | None:
        """With ``render_mode="ansi"``, the conversation so far as text."""
        if self.render_mode != "ansi":
            return None
        lines = []
        for message in self._history:
            text = message.get("content") or ""
            if message.get("tool_calls"):
                text += " " + str(message["tool_calls"])
            lines.append(f"[{message['role']}] {text}")
        return "\n".join(lines)

    def _info(self, signals: dict[str, float]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "signals": signals,
            "anchor": self._anchor(),
            "task_id": self._task_id,
            "turn": self._turn,
        }
        probe = self._probe()
        if probe is not None:
            info["probe"] = probe
        return info

    def _error_messages(self, action: Any, error: ActionError) -> list[Message]:
        """The reply to a malformed action: a user message, or a tool message per call id."""
        text = f"Invalid action: {error.message}{self._invalid_tail()}"
        ids = _tool_call_ids(action)
        if ids:
            return [tool_message(text, call_id) for call_id in ids]
        return [user(text)]

    def _invalid_tail(self) -> str:
        """How many more invalid turns end the episode (``max_invalid_turns`` are tolerated)."""
        left = self.max_invalid_turns + 1 - self._invalid
        if left <= 0:
            return " The episode ends: too many invalid actions."
        if left == 1:
            return " (1 more invalid action ends the episode.)"
        return f" ({left} more invalid actions end the episode.)"

    def refuse(self, call: ParsedCall, problem: str, kind: str) -> Transition:
        """The reply to a well-formed call that cannot be carried out.

        The model is told ``"Invalid action: <problem>"`` (plus how many invalid turns
        are left); ``valid_action`` is 0 and the turn counts toward ``max_invalid_turns``.
        """
        return Transition([self.reply_to(call, f"Invalid action: {problem}")], invalid=kind)

    def base_state(self) -> dict[str, Any]:
        """The episode bookkeeping the base class keeps, for subclasses' ``get_state``."""
        return {"task_id": self._task_id, "turn": self._turn, "invalid": self._invalid,
                "done": self._done, "history": self.history}

    def restore_base_state(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`base_state`, for subclasses' ``set_state``."""
        self._task_id, self._turn = str(state["task_id"]), int(state["turn"])
        self._invalid, self._done = int(state["invalid"]), bool(state["done"])
        self._history = copy_message(list(state["history"]))


def _tool_call_ids(action: Any) -> list[str]:
    """The ids of an assistant message's tool calls (OpenAI requires a reply to each)."""
    calls = action.get("tool_calls") if isinstance(action, Mapping) else None
    if not isinstance(calls, list):
        return []
    ids = [c.get("id") for c in calls if isinstance(c, Mapping)]
    return [i for i in ids if isinstance(i, str)] if all(isinstance(i, str) for i in ids) else []


def _as_message(action: Any) -> Message:
    if type(action) is dict or isinstance(action, Mapping):
        content = action.get("content")
        message: Message = {
            "role": "assistant",
            "content": content if isinstance(content, str) else None,
        }
        if isinstance(action.get("tool_calls"), list):
            message["tool_calls"] = copy_message(action["tool_calls"])  # the agent may change its own
        if message["content"] is None and "tool_calls" not in message:
            message["content"] = ""
        return message
    return {"role": "assistant", "content": action if isinstance(action, str) else repr(action)}
