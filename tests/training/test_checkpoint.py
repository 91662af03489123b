"""Checkpoints are whole or absent, and a corrupt one is never loaded."""

import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from turngym.trainers.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    restore_rng,
    save_checkpoint,
    set_aside,
)


def save(root, step, **kw):
    return save_checkpoint(root, step, weights={"w": torch.arange(4.0)}, optimizer={"lr": 0.1},
                           state={"cursor": step * 2}, **kw)


def test_round_trip_restores_weights_state_and_every_rng(tmp_path):
    path = save(tmp_path, 7)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    loaded = load_checkpoint(path)
    restore_rng(loaded["rng_tensors"], loaded["state"]["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2] == again[2]
    assert torch.equal(loaded["weights"]["w"], torch.arange(4.0))
    assert loaded["state"]["cursor"] == 14 and loaded["optimizer"] == {"lr": 0.1}


def test_keep_prunes_old_checkpoints(tmp_path):
    for step in (1, 2, 3):
        save(tmp_path, step, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000002", "step-00000003"]
    assert latest_checkpoint(tmp_path).name == "step-00000003"


def test_truncated_file_is_detected_and_not_loaded(tmp_path):
    path = save(tmp_path, 1)
    data = (path / "weights.pt").read_bytes()
    (path / "weights.pt").write_bytes(data[: len(data) // 2])
    expected = r"weights.pt is \d+ bytes, the manifest says \d+ \(half-written"
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(path)


def test_altered_file_is_detected(tmp_path):
    path = save(tmp_path, 1)
    data = bytearray((path / "optimizer.pt").read_bytes())
    data[-5] ^= 0xFF
    (path / "optimizer.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="optimizer.pt does not match its SHA-256"):
        load_checkpoint(path)


def test_missing_manifest_means_never_completed(tmp_path):
    path = save(tmp_path, 1)
    (path / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="never completed"):
        load_checkpoint(path)
    assert latest_checkpoint(tmp_path) is None


def test_kill_while_saving_leaves_only_an_ignored_temporary(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, torch
        import turngym.trainers.checkpoint as ck
        real = ck._sha256
        def dying(path):
            os.kill(os.getpid(), signal.SIGKILL)
        ck._sha256 = dying
        ck.save_checkpoint({str(tmp_path)!r}, 5, weights={{"w": torch.ones(3)}}, optimizer={{}}, state={{}})
    """)
    result = subprocess.run([sys.executable, "-c", script], timeout=120)
    assert result.returncode != 0
    assert latest_checkpoint(tmp_path) is None
    assert all(p.name.startswith(".step-00000005.") for p in tmp_path.iterdir())


def truncate(path, name="weights.pt"):
    data = (path / name).read_bytes()
    (path / name).write_bytes(data[: len(data) // 2])


def test_load_latest_falls_back_past_corrupt_newer_checkpoints(tmp_path):
    for step in (1, 2, 3, 4):
        save(tmp_path, step)
    truncate(tmp_path / "step-00000004")
    (tmp_path / "step-00000003" / "manifest.json").unlink()  # damaged, not merely passed over
    path, loaded, skipped = load_latest(tmp_path)
    assert path.name == "step-00000002" and loaded["state"]["cursor"] == 4
    assert [p.name for p, _ in skipped] == ["step-00000004", "step-00000003"]
    assert "weights.pt is" in skipped[0][1] and "half-written or truncated" in skipped[0][1]
    assert "no manifest.json" in skipped[1][1]
    assert (tmp_path / "step-00000004" / "weights.pt").exists()  # nothing deleted
    assert load_latest(tmp_path / "nothing-here") is None


def test_load_latest_lists_every_failure_when_none_verifies(tmp_path):
    for step in (1, 2):
        save(tmp_path, step)
    truncate(tmp_path / "step-00000002")
    data = bytearray((tmp_path / "step-00000001" / "optimizer.pt").read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / "step-00000001" / "optimizer.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as error:
        load_latest(tmp_path)
    message = str(error.value)
    assert "no checkpoint under" in message and "verifies" in message
    assert "- step-00000002: " in message and "half-written or truncated" in message
    assert "- step-00000001: " in message and "optimizer.pt does not match its SHA-256" in message
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000001", "step-00000002"]


def test_set_aside_keeps_a_failed_checkpoint_out_of_the_way(tmp_path):
    first = set_aside(save(tmp_path, 2))
    second = set_aside(save(tmp_path, 2))
    assert (first.name, second.name) == ("step-00000002.corrupt", "step-00000002.corrupt-2")
    assert (second / "weights.pt").is_file()
    save(tmp_path, 3, keep=1)  # pruning never reaches the set-aside copies
    assert list_checkpoints(tmp_path) == [tmp_path / "step-00000003"] and first.is_dir()
    assert load_latest(tmp_path)[0].name == "step-00000003"
