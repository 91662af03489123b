"""The demo pipeline end to end at tiny scale: a tiny model, a two-turn toy task, every phase."""

import json

import gymnasium
import pytest
from rich.console import Console

from tests.training.tiny import TwoDoorsEnv, tiny_policy
from turngym.trainers.config import ConfigError
from turngym.trainers.demo import DemoPlan, demo_main, load_plan, run_demo

ENV_ID = "turngym/TestDemoDoors-v0"


@pytest.fixture(scope="module", autouse=True)
def doors_registered():
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(ENV_ID, entry_point=TwoDoorsEnv)
    yield


def tiny_plan(tmp_path):
    return DemoPlan(
        seed=0, output_dir=tmp_path / "demo", model={"lora": None},
        sft={"data": {"oracle": {"env": ENV_ID, "episodes": 4}}, "optim": {"lr": 0.01, "batch_episodes": 4,
                                                                         "micro_batch_episodes": 4},
             "train": {"steps": 15, "checkpoint_every": 0}},
        rl={"env": {"id": ENV_ID}, "rollout": {"group_size": 4, "groups_per_step": 1, "max_new_tokens": 3},
            "algorithm": {"estimator": "gigpo"}, "optim": {"lr": 0.005, "minibatch_episodes": 4,
                                                          "micro_batch_episodes": 4},
            "train": {"steps": 2, "checkpoint_every": 0}},
        eval={"env": ENV_ID, "episodes": 3, "max_tokens": 3},
    )


def test_every_phase_runs_and_the_table_is_written(tmp_path):
    plan = tiny_plan(tmp_path)
    console = Console(file=open(tmp_path / "out.txt", "w"), width=120)
    result = run_demo(plan, console, policy=tiny_policy(seed=0))
    saved = json.loads((plan.output_dir / "demo.json").read_text())
    assert saved["finished"] and list(saved["rows"]) == ["before", "warm start", "after RL"]
    assert set(saved["phases"]) == {"eval_before", "sft", "eval_warm_start", "rl", "eval_after_rl"}
    assert result["rows"]["warm start"]["success_rate"][0] == 1.0  # 15 steps of imitation of two words
    assert result["rows"]["before"]["success_rate"][0] < 1.0
    for row in saved["rows"].values():
        assert row["episodes"] == 3 and 0 <= row["valid_action_rate"] <= 1
        value, low, high = row["success_rate"]
        assert low <= value <= high
    assert (plan.output_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("eval-before", "eval-warm-start", "eval-after-rl"):
        assert (plan.output_dir / name / "summary.json").is_file()
    assert (plan.output_dir / "sft" / "metrics.jsonl").is_file()
    assert (plan.output_dir / "rl" / "metrics.jsonl").is_file()
    text = (tmp_path / "out.txt").read_text()
    assert "[5/6] RL: gigpo for 2 steps" in text and "[1/6]" not in text and "after RL" in text


def test_plan_file_errors_name_the_key(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text("seed: 1\nmodel: {}\nsft: {}\nrl: {}\neval: {}\nextra: 1\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['extra'\]"):
        load_plan(path)
    path.write_text("model: {}\nsft: {}\nrl: 3\neval: {}\n")
    with pytest.raises(ConfigError, match="rl must be a table"):
        load_plan(path)
    path.write_text("model: {}\nsft: {train: {steps: 0}}\nrl: {}\neval: {}\n")
    assert demo_main([str(path), "--out", str(tmp_path / "x")]) == 2


def test_shipped_config_parses():
    plan = load_plan("configs/demo_search.yaml", seed=2, output_dir="/tmp/unused",
                     overrides=["rl.train.steps=3"])
    assert plan.seed == 2 and plan.rl["train"]["steps"] == 3
    from turngym.trainers.demo import rl_config_of, sft_config_of

    assert rl_config_of(plan).algorithm.estimator == "gigpo"
    assert sft_config_of(plan).data.oracle.env == "turngym/SearchQA-Tagged-v0"


def test_turngym_demo_command_checks_its_config(tmp_path, capsys):
    from turngym.cli import main

    path = tmp_path / "demo.yaml"
    path.write_text("model: {}\nsft: {train: {steps: 0}}\nrl: {}\neval: {}\n")
    assert main(["demo", str(path), "--out", str(tmp_path / "x")]) == 2
    assert "steps" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # nothing was started
    assert main(["demo", "configs/demo_search.yaml", "--set", "rl.nope=1", "--out", str(tmp_path / "y")]) == 2
    assert "nope" in capsys.readouterr().err
