"""The credit-assignment study (benchmarks/credit_assignment.py) at tiny scale: its task, its
statistics and one end-to-end run writing the JSON and the PNG."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from gymnasium.utils.env_checker import check_env

from turngym.agents.scripted import OracleAgent
from turngym.rollout import play_episode

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "credit_assignment.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("credit_assignment", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["credit_assignment"] = module
    spec.loader.exec_module(module)
    return module


def play(env, words):
    env.reset(seed=0)
    out = []
    for word in words:
        obs, reward, terminated, truncated, info = env.step(word)
        out.append((obs[0]["content"], reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return out


def test_key_rooms_rules(study):
    env = study.KeyRoomsEnv(rooms=3, reward_weights={"door_correct": 0.1})
    check_env(env, skip_render_check=True)
    record = play_episode(env, OracleAgent(), seed=0)
    assert record.outcome == 1.0 and len(record.turns) == 3
    # a recoverable mistake: a non-door word costs a turn, the run still succeeds within the spare turns
    steps = play(env, ["open", "wait", "pick", "the", "up", "door"])
    assert [s[0] for s in steps] == ["good", "now", "good", "now", "now", "good"]
    assert steps[-1][2] and steps[-1][4]["outcome"] == 1.0
    assert steps[1][4]["anchor"] == "room1|left4" and steps[1][4]["signals"]["waited"] == 1.0
    # an unrecoverable one: a trap door; the right words after it count for nothing
    steps = play(env, ["open", "left", "pick", "door", "now", "open"])
    assert [s[0] for s in steps] == ["good", "bad", "bad", "bad", "bad", "bad"]
    assert [s[4]["anchor"] for s in steps] == ["room1|left5", "trap", "trap", "trap", "trap", "trap"]
    assert steps[-1][2] and steps[-1][4]["outcome"] == pytest.approx(1 / 3)
    assert [s[1] for s in steps] == [pytest.approx(0.1), 0.0, 0.0, 0.0, 0.0, pytest.approx(1 / 3)]
    # out of turns without a trap: the rooms opened so far count
    steps = play(env, ["open", "the", "the", "the", "the", "the"])
    assert steps[-1][2] and steps[-1][4]["outcome"] == pytest.approx(1 / 3)
    # the probe names the current room's word (belief gain for igpo / a2tgpo)
    probe_env = study.KeyRoomsEnv(rooms=3, probe=True)
    _, info = probe_env.reset(seed=0)
    assert info["probe"]["answers"] == ["open"]
    _, _, _, _, info = probe_env.step("open")
    assert info["probe"]["answers"] == ["pick"]


def test_steps_to_and_summary_statistics(study):
    assert study.steps_to([0.0, 0.9, 0.9, 0.9, 1.0]) == 4
    assert study.steps_to([0.5, 1.0, 1.0, 0.6]) is None  # running mean of 3 never reaches 0.9
    curves = {
        "grpo": [[0.0, 0.1, 0.2], [0.0, 0.0, 0.1], [0.1, 0.1, 0.1], [0.0, 0.2, 0.2]],
        "gigpo": [[0.9, 1.0, 1.0], [0.8, 0.9, 1.0], [1.0, 1.0, 1.0], [0.9, 0.9, 0.9]],
    }
    summary = study.summarise(curves, final_window=1)
    assert summary["grpo"]["final_success_per_seed"] == [0.2, 0.1, 0.1, 0.2]
    # IQM of 4 runs trims one from each end: mean of the middle two
    assert summary["grpo"]["final_success_iqm"][0] == pytest.approx(0.15)
    assert summary["gigpo"]["auc_per_seed"][0] == pytest.approx(29 / 30)
    assert summary["gigpo"]["steps_to_0.9_per_seed"] == [3, 3, 3, 3]
    assert summary["grpo"]["seeds_reaching_0.9"] == 0
    verdict = study.compare_to(summary)
    assert verdict == {"gigpo": {"final_success_iqm": "better", "auc_iqm": "better"}}
    low, high = summary["grpo"]["final_success_iqm"][1:]
    assert 0.1 <= low <= 0.15 <= high <= 0.2


def test_a_tiny_study_writes_json_and_png(study, tmp_path, capsys):
    out = tmp_path / "study"
    code = study.main(["--estimators", "grpo", "gigpo", "igpo", "--tree-arms", "--seeds", "1", "--steps", "2",
                       "--workers", "1", "--group-size", "4", "--out", str(out)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    saved = json.loads((out / "credit_assignment.json").read_text())
    assert set(saved["summary"]) == {"grpo", "gigpo", "igpo"} == set(printed["summary"])
    assert all(len(c) == 1 and len(c[0]) == 2 for c in saved["curves"].values())
    assert set(saved["versus_grpo"]) == {"gigpo", "igpo"}
    assert (out / "credit_assignment.png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_estimator_is_refused(study):
    with pytest.raises(SystemExit):
        study.main(["--estimators", "ppo", "--seeds", "1", "--steps", "1"])
