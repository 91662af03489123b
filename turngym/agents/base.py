"""The ``Agent`` protocol: anything that takes a turn in an environment from text.

Scripted baselines and remote chat models act at the message level; trainable
policies act at the token level through :mod:`turngym.rollout`, which
keeps the exact token ids for training.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import gymnasium as gym

from turngym.core.messages import Action, Message


@runtime_checkable
class Agent(Protocol):
    """An agent that answers a conversation with its next action."""

    name: str

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode; ``seed`` makes a stochastic agent repeatable."""
        ...

    def act(self, history: list[Message], env: gym.Env) -> Action:
        """The next assistant turn, given the whole conversation so far."""
        ...
