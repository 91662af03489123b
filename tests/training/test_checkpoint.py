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
    restore_rng,
    save_checkpoint,
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
