"""#20: faults injected into real evaluation and training runs lose and duplicate nothing.

Each test runs one scenario of :mod:`tests.faults.scenarios` (real SIGKILLs of forked runs,
ENOSPC where bytes reach the disk, torn and flipped bytes, failing environments and endpoints)
and checks that every fault was injected and that no run lost or duplicated anything.
``benchmarks/faults.py`` runs them all and prints the totals.
"""

from __future__ import annotations

import pytest

from tests.faults.scenarios import SCENARIOS

MINIMUM = {  # faults each scenario must have managed to inject
    "eval_kills": 14, "eval_disk_full": 4, "eval_corruption": 3, "train_kills": 6,
    "train_disk_full": 1, "checkpoint_corruption": 2, "env_faults": 10, "endpoint_outage": 2,
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("faults")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_faults_lose_and_duplicate_nothing(name, root):
    tally = SCENARIOS[name](root)
    assert tally.damaged_runs == 0, tally.notes
    assert sum(tally.faults.values()) >= MINIMUM[name], dict(tally.faults)
