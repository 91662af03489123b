"""Environments that misbehave on purpose, for the Ray pool tests (importable by Ray's workers)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tests.toy_envs import GuessNumberEnv


class StallingGuessEnv(GuessNumberEnv):
    """GuessNumber whose first step stalls for ``stall_s`` seconds on the task seeded ``stall_seed``.

    While it stalls it writes its process id to ``marker`` (so a test can find and kill its actor).
    """

    def __init__(self, stall_seed: int, stall_s: float, marker: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stall_seed, self.stall_s, self.marker = stall_seed, stall_s, marker
        self._seed: int | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._seed = seed
        return super().reset(seed=seed, options=options)

    def step(self, action: Any):
        if self._seed == self.stall_seed and self.turn == 0:
            Path(self.marker).write_text(str(os.getpid()))
            time.sleep(self.stall_s)
        return super().step(action)
