"""Shared fixtures: one warm pool sandbox for the module's many small runs.

Without root the sandbox's integrity guarantees do not hold and it would refuse
to start; the fixtures then start it anyway (explicitly, with a warning) so that
the tests that do not need those guarantees still run; the others skip.
"""

from __future__ import annotations

import pytest

from turngym.envs.code_sandbox import Sandbox
from turngym.envs.code_sandbox.process_backend import running_as_root

WEAK_OK = not running_as_root()


@pytest.fixture(scope="session")
def pool_sandbox():
    with Sandbox("pool", workers=1, timeout_s=2.0, memory_mb=256, max_file_mb=4,
                 allow_weak_isolation=WEAK_OK) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def process_sandbox():
    with Sandbox("process", timeout_s=2.0, memory_mb=256, max_file_mb=4,
                 allow_weak_isolation=WEAK_OK) as sandbox:
        yield sandbox
