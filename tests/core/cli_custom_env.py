"""Custom environments registered on import, for ``module:Env-v0`` ids in the CLI tests."""

from typing import Any

import turngym
from turngym.core import Transition, TurnEnv
from turngym.core.messages import user


class NoToolsEnv(TurnEnv):
    """Free text only: every turn is read as one message, no tools."""

    def _reset_task(self, options: Any):
        return "only", [user("Say anything.")]

    def _parse(self, action: Any):
        return []

    def _apply(self, calls: Any) -> Transition:
        return Transition([user("heard you")], terminated=True, outcome=1.0)


turngym.register("CliCustom-v0", "tests.toy_envs:GuessNumberEnv", "a custom env for the CLI tests", high=4)
turngym.register("CliNoTools-v0", NoToolsEnv, "a custom env without tools for the CLI tests")
