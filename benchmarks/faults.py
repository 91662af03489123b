"""Fault injection (#20): every scenario of tests/faults/scenarios.py, totals as one JSON object.

    .venv/bin/python benchmarks/faults.py            # all scenarios, a fresh temporary directory

Prints ``{"faults": {kind: count}, "faults_total": N, "runs_losing_or_duplicating": M,
"scenarios": {...seconds...}}``; the goal is M = 0. Exits 1 when a run lost or duplicated anything.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import turngym  # noqa: E402

turngym.register("GuessNumber-v0", "tests.toy_envs:GuessNumberEnv", "guess a hidden number (test env)")

from tests.faults.scenarios import SCENARIOS, Tally  # noqa: E402


def main() -> int:
    import torch

    torch.set_num_threads(1)
    total, seconds = Tally(), {}
    with tempfile.TemporaryDirectory(prefix="turngym-faults-") as tmp:
        for name, scenario in SCENARIOS.items():
            clock = time.perf_counter()
            total.add(scenario(Path(tmp)))
            seconds[name] = round(time.perf_counter() - clock, 1)
    print(json.dumps({
        "faults": dict(sorted(total.faults.items())),
        "faults_total": sum(total.faults.values()),
        "runs_losing_or_duplicating": total.damaged_runs,
        "problems": total.notes,
        "scenario_seconds": seconds,
    }))
    return 1 if total.damaged_runs else 0


if __name__ == "__main__":
    raise SystemExit(main())
