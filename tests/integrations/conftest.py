"""One local Ray cluster for the Ray pool tests (starting Ray takes 10-30 s on a busy 2-core box)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray with 2 CPUs, token auth off (Ray >= 2.60 would write a token under $HOME)."""
    ray = pytest.importorskip("ray", reason="the Ray pool needs the 'ray' extra")
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "PYTHONPATH")}
    os.environ["RAY_AUTH_MODE"] = "disabled"
    # Ray's workers import the test environments (tests.integrations.slow_envs) by reference.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), saved["PYTHONPATH"]) if p)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
    yield ray
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
