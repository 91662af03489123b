"""#20: one trainer per output directory; the lock goes with the run."""

import pytest

from tests.training.test_resume import config, make
from turngym.core.runlock import RunLockedError


def test_a_second_trainer_on_a_live_run_directory_is_refused(tmp_path):
    cfg = config(tmp_path, "locked")
    first = make(cfg)
    with pytest.raises(RunLockedError, match="in use by another turngym process"):
        make(cfg)
    first.run(stop_after=2)  # the run ends (checkpoint at step 2): the directory is free again
    second = make(cfg)
    assert second.step == 2
    second.close()
