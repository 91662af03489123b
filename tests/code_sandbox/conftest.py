"""Shared fixtures: one warm pool sandbox for the module's many small runs."""

from __future__ import annotations

import pytest

from turngym.envs.code_sandbox import Sandbox


@pytest.fixture(scope="session")
def pool_sandbox():
    with Sandbox("pool", workers=1, timeout_s=2.0, memory_mb=256, max_file_mb=4) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def process_sandbox():
    with Sandbox("process", timeout_s=2.0, memory_mb=256, max_file_mb=4) as sandbox:
        yield sandbox
