"""Small environments defined for the tests: they exercise the contract without any data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from turngym.core import ParsedCall, ToolSpec, Transition, TurnEnv
from turngym.core.messages import Action, Message, system, user


class GuessNumberEnv(TurnEnv):
    """Guess a hidden integer in [1, high]; each guess is told 'higher' or 'lower'.

    Tasks are the integers themselves (task id ``"n-<target>"``). The anchor is the
    interval still possible, so two episodes that narrowed to the same interval share it.
    """

    signal_names = ("closer",)
    tools = (
        ToolSpec(
            "guess",
            "Guess the number.",
            {"type": "object", "properties": {"number": {"type": "integer"}}, "required": ["number"]},
            tag="guess",
        ),
    )

    def __init__(self, high: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.high = high
        self._target = 1
        self._lo, self._hi = 1, high

    def _reset_task(self, options: Mapping[str, Any]) -> tuple[str, list[Message]]:
        if "task_id" in options:
            self._target = int(str(options["task_id"]).removeprefix("n-"))
        else:
            self._target = int(self.np_random.integers(1, self.high + 1))
        self._lo, self._hi = 1, self.high
        opening = [
            system("Find the hidden number. Reply with <guess>N</guess>."),
            user(f"The number is between 1 and {self.high}."),
        ]
        return f"n-{self._target}", opening

    def _apply(self, calls: list[ParsedCall]) -> Transition:
        raw = calls[0].arguments["number"]
        try:
            guess = int(raw)
        except (TypeError, ValueError):
            return self.refuse(calls[0], f"{raw!r} is not a whole number; guess like <guess>7</guess>.",
                               "not_a_number")
        width = self._hi - self._lo
        if guess == self._target:
            self._lo = self._hi = guess
            reply = self.reply_to(calls[0], "Correct!")
            return Transition([reply], {"closer": 1.0}, terminated=True, outcome=1.0)
        if guess < self._target:
            self._lo = max(self._lo, guess + 1)
            reply = "higher"
        else:
            self._hi = min(self._hi, guess - 1)
            reply = "lower"
        closer = 1.0 if self._hi - self._lo < width else 0.0
        return Transition([self.reply_to(calls[0], f"{guess} is wrong: go {reply}.")], {"closer": closer})

    def _anchor(self) -> str:
        return f"{self.task_id}|{self._lo}-{self._hi}"

    def _probe(self) -> dict[str, Any]:
        return {"answers": [str(self._target)], "forcing_prefix": "<guess>", "answer_suffix": "</guess>"}

    def oracle_action(self) -> Action:
        return f"<guess>{(self._lo + self._hi) // 2}</guess>"

    def get_state(self) -> dict[str, Any]:
        return {**self.base_state(), "target": self._target, "lo": self._lo, "hi": self._hi}

    def set_state(self, state: dict[str, Any]) -> None:
        self.restore_base_state(state)
        self._target, self._lo, self._hi = state["target"], state["lo"], state["hi"]
