"""benchmarks/advantages.py runs (at a small scale) and prints one JSON line covering every
registered estimator, empg and aem."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from turngym.trainers.advantages import TurnBatch, estimate, list_estimators

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "advantages.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("advantages_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_inputs_have_the_requested_shape():
    inputs = load_benchmark().make_inputs(800)
    batch = TurnBatch(**inputs)
    assert batch.n_episodes == 800 and batch.n_groups == 100
    assert batch.n_turns == 8000  # ragged lengths with mean exactly 10
    lengths = batch.layout.ep_length
    assert lengths.min() >= 1 and lengths.max() <= 19 and len(set(lengths.tolist())) > 5
    # About 20% of turns share their anchor with another turn of their group.
    sizes = estimate("gigpo", batch).diagnostics["anchor_group_sizes"]
    assert set(sizes) == {1, 2}
    assert 0.15 < 2 * sizes[2] / batch.n_turns < 0.22


def test_benchmark_prints_one_json_line(capsys, monkeypatch):
    module = load_benchmark()
    monkeypatch.setattr(sys, "argv", ["advantages.py", "--episodes", "400", "--repeats", "1"])
    module.main()
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["turns"] == 4000 and report["episodes"] == 400
    assert set(list_estimators()) | {"empg", "aem"} <= set(report["seconds"])
    assert all(isinstance(s, float) and s >= 0 for s in report["seconds"].values())
    assert report["batch_build_s"] > 0
