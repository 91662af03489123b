"""`turngym eval`, `reverify` and `report` through the command line, as a user runs them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from turngym.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_eval_writes_episodes_summary_and_report_and_resumes(tmp_path):
    target = tmp_path / "run"
    argv = ("eval", "SearchQA-Easy-v0", "turngym/CodeSandbox-v0", "--agent", "oracle", "--episodes", "3",
            "--samples", "2", "--out", str(target), "--no-progress")
    code, out, err = run(*argv)
    assert code == 0, err
    assert "mean outcome" in out and "SearchQA-Easy-v0" in out
    summary = json.loads((target / "summary.json").read_text())
    assert [g["episodes"] for g in summary["groups"]] == [6, 6]
    assert all(g["success_rate"][0] == 1.0 for g in summary["groups"])
    assert (target / "report.html").read_text().startswith("<!DOCTYPE html>")
    lines = (target / "episodes.jsonl").read_bytes()
    code, _, err = run(*argv)  # the same command again: nothing new to play
    assert code == 0, err
    assert (target / "episodes.jsonl").read_bytes() == lines

    code, out, _ = run("reverify", str(target))
    assert code == 0 and "12 episode(s) replayed; 0 differ" in out
    records = [json.loads(line) for line in lines.decode().splitlines()]
    records[0]["outcome"] = 0.25  # a stored verdict that the environment no longer gives
    (target / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    code, out, _ = run("reverify", str(target))
    assert code == 1 and "outcome: stored 0.25, now 1.0" in out and "1 differ" in out

    code, out, _ = run("report", str(target), "-o", str(tmp_path / "r.html"))
    assert code == 0 and (tmp_path / "r.html").stat().st_size > 1000


def test_default_run_directory_is_named_by_the_request(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ("eval", "GuessNumber-v0", "--agent", "random", "--episodes", "4", "--no-progress", "--no-report")
    assert run(*argv)[0] == 0
    assert run(*argv)[0] == 0
    (only,) = list((tmp_path / "runs" / "eval").iterdir())
    assert only.name.startswith("random-") and len((only / "episodes.jsonl").read_text().splitlines()) == 4
    assert run(*argv[:-3], "8", "--no-progress", "--no-report")[0] == 0  # another request, another dir
    assert len(list((tmp_path / "runs" / "eval").iterdir())) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("eval", "GuessNumber-v0", "--agent", "gpt-4"), "unknown agent 'gpt-4'; accepted: oracle | random"),
        (("eval", "NoSuchEnv-v0", "--agent", "oracle"), "unknown environment 'NoSuchEnv-v0'"),
        (("eval", "GuessNumber-v0", "--agent", "hf:/no/model"), "does not exist"),
        (("eval", "GuessNumber-v0", "--agent", "oracle", "--samples", "0"), "whole number >= 1"),
        (("reverify", "/no/such/run"), "is not a turngym eval run"),
        (("report", "/no/such/run"), "is not a directory"),
    ],
)
def test_bad_requests_are_usage_errors_on_stderr(argv, message):
    code, _, err = run(*argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_different_request_on_a_run_directory_is_refused(tmp_path):
    base = ("eval", "GuessNumber-v0", "--agent", "random", "--out", str(tmp_path), "--no-progress",
            "--no-report")
    assert run(*base, "--episodes", "2")[0] == 0
    code, _, err = run(*base, "--episodes", "3")
    assert code == 2 and "differs in: tasks" in err


def test_eval_of_a_training_checkpoint(tmp_path):
    """`--agent checkpoint:RUN` evaluates what `turngym train` wrote (a tiny model saved to disk)."""
    from tests.training.tiny import tiny_policy
    from turngym.trainers.config import from_dict
    from turngym.trainers.loop import Trainer

    policy = tiny_policy(seed=0)
    model_dir = tmp_path / "tiny-model"
    policy.model.save_pretrained(model_dir)
    policy.tokenizer.save_pretrained(model_dir)
    config = from_dict({
        "seed": 1, "output_dir": str(tmp_path / "train"), "env": {"id": "turngym/GuessNumber-v0"},
        "model": {"path": str(model_dir), "lora": {"r": 2, "alpha": 4, "target_modules": ["q_proj"]}},
        "rollout": {"group_size": 2, "groups_per_step": 1, "max_new_tokens": 3},
        "optim": {"minibatch_episodes": 2, "micro_batch_episodes": 2},
        "train": {"steps": 2, "checkpoint_every": 1, "progress": False},
    })
    Trainer(config).run()
    code, _, err = run("eval", "GuessNumber-v0", "--agent", f"checkpoint:{tmp_path / 'train'}", "--episodes",
                       "2", "--max-tokens", "3", "--max-turns", "2", "--out", str(tmp_path / "ev"),
                       "--no-progress", "--no-report")
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "ev" / "episodes.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["turns"] and r["turns"][0]["action_ids"] for r in records)
    assert records[0]["agent"].startswith("checkpoint:") and "step-00000002" in records[0]["agent"]
    assert Path(records[0]["agent"].split(":", 1)[1]).name == "step-00000002"
