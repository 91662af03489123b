"""Contracts shared by everything in turngym: messages, spaces, the environment base,
registration, action formats and trajectory records."""

from turngym.core.actions import (
    FORMATS,
    ActionError,
    ParsedCall,
    ParseResult,
    ToolSpec,
    parse_action,
    parse_python_calls,
    parse_tagged,
    parse_tool_calls,
)
from turngym.core.atomic import atomic_write
from turngym.core.env import PROBE_KEYS, STANDARD_INFO_KEYS, Transition, TurnEnv
from turngym.core.messages import Action, Message, ToolCall
from turngym.core.registry import EnvEntry, list_envs, make, register
from turngym.core.spaces import AssistantActionSpace, ChatObservationSpace
from turngym.core.trajectory import (
    EpisodeRecord,
    TurnRecord,
    iter_episodes,
    read_episodes,
    write_episodes,
)

__all__ = [
    "FORMATS",
    "PROBE_KEYS",
    "STANDARD_INFO_KEYS",
    "Action",
    "ActionError",
    "AssistantActionSpace",
    "ChatObservationSpace",
    "EnvEntry",
    "EpisodeRecord",
    "Message",
    "ParseResult",
    "ParsedCall",
    "ToolCall",
    "ToolSpec",
    "Transition",
    "TurnEnv",
    "TurnRecord",
    "atomic_write",
    "iter_episodes",
    "list_envs",
    "make",
    "parse_action",
    "parse_python_calls",
    "parse_tagged",
    "parse_tool_calls",
    "read_episodes",
    "register",
    "write_episodes",
]
