"""Task loading (HumanEval split per assertion, MBPP-style JSONL) and the VeRPO verifier."""

from __future__ import annotations

import json

import pytest

from turngym.envs.code_sandbox.tasks import load_humaneval, load_mbpp_jsonl, split_test_program
from turngym.verifiers.unit_tests import PassStatistics, VeRPOReward, pass_share


def test_humaneval_has_164_tasks_split_into_single_assertions():
    tasks = load_humaneval()
    assert len(tasks) == 164
    assert all(t.tests and t.reference and t.entry_point in t.reference for t in tasks)
    first = tasks[0]
    assert len(first.tests) > 1
    for test in first.tests:
        assert test.count("assert") == 1
    assert not any(t.strip() == "assert True" for task in tasks for t in task.tests)


def test_split_keeps_setup_before_each_assertion():
    setup, tests = split_test_program(
        "X = 1\n\ndef check(candidate):\n    import math\n    assert candidate(1) == 1\n"
        "    y = 2\n    assert candidate(y) == 2\n    assert True\n"
    )
    assert setup == "X = 1"
    assert tests == ["import math\nassert candidate(1) == 1", "import math\ny = 2\nassert candidate(y) == 2"]


def _write(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_mbpp_loader_accepts_lists_and_programs(tmp_path):
    path = _write(tmp_path / "tasks.jsonl", [
        {"prompt": "Add one.", "entry_point": "inc", "tests": ["assert inc(1) == 2", "assert inc(-1) == 0"]},
        {"task_id": "p", "prompt": "Double.", "entry_point": "dbl",
         "tests": "assert dbl(2) == 4\nassert dbl(0) == 0\n", "examples": []},
    ])
    first, second = load_mbpp_jsonl(path)
    assert first.task_id == "tasks/1" and first.tests == ("assert inc(1) == 2", "assert inc(-1) == 0")
    assert first.examples == ("assert inc(1) == 2",)
    assert second.task_id == "p" and len(second.tests) == 2 and second.examples == ()


@pytest.mark.parametrize("row, message", [
    ("{not json", "tasks.jsonl:2: not valid JSON"),
    ({"prompt": "x", "entry_point": "no t", "tests": ["assert 1"]}, "tasks.jsonl:2: 'entry_point' must be"),
    ({"prompt": "x", "entry_point": "f", "tests": 3}, "tasks.jsonl:2: 'tests' must be a list"),
    ({"prompt": "x", "entry_point": "f", "tests": ["assert f("]}, "tasks.jsonl:2: a test does not parse"),
    ({"prompt": "", "entry_point": "f", "tests": ["assert f()"]}, "tasks.jsonl:2: 'prompt' must be"),
])
def test_mbpp_loader_names_file_line_and_problem(tmp_path, row, message):
    good = {"prompt": "Add one.", "entry_point": "inc", "tests": ["assert inc(1) == 2"]}
    path = _write(tmp_path / "tasks.jsonl", [good, row])
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        load_mbpp_jsonl(path)


def test_mbpp_missing_file():
    with pytest.raises(FileNotFoundError, match="not found"):
        load_mbpp_jsonl("/nonexistent/tasks.jsonl")


def test_verpo_worked_example_from_docstring():
    stats = PassStatistics(prior=1.0)
    for passed_a in (True, True, True, False):
        stats.update("t", [passed_a, False])
    reward = VeRPOReward(alpha=0.5, statistics=stats, update=False)
    only_b = reward.score("t", [False, True])
    assert only_b.weights == pytest.approx((1 / 3, 5 / 6))
    assert only_b.dense == pytest.approx(5 / 7)
    assert only_b.outcome == pytest.approx(0.5 * 5 / 7)
    assert reward.score("t", [True, False]).outcome == pytest.approx(1 / 7)
    both = reward.score("t", [True, True])
    assert (both.dense, both.all_pass, both.outcome) == (pytest.approx(1.0), 1.0, pytest.approx(1.0))


def test_verpo_updates_after_scoring_and_round_trips():
    reward = VeRPOReward(alpha=1.0)
    first = reward.score("t", [True, False])
    assert first.dense == pytest.approx(0.5)  # equal weights before any statistics
    second = reward.score("t", [True, False])
    assert second.dense < first.dense  # the passed test proved easy, the failed one hard
    restored = PassStatistics.from_dict(json.loads(json.dumps(reward.statistics.to_dict())))
    assert restored.weights("t", 2) == reward.statistics.weights("t", 2)
    assert reward.score("t", []).outcome == 0.0 and pass_share([]) == 0.0


def test_verpo_rejects_bad_parameters():
    with pytest.raises(ValueError, match="alpha must be in"):
        VeRPOReward(alpha=1.5)
    with pytest.raises(ValueError, match="prior must be > 0"):
        PassStatistics(prior=0)
