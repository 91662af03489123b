"""The ``turngym`` command, driven through its input and output streams."""

import io
import subprocess
import sys

import turngym
from turngym.cli import main


def run(argv, stdin_text=""):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin_text), stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def test_version_from_a_real_process():
    result = subprocess.run([sys.executable, "-m", "turngym.cli", "--version"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stdout.strip() == f"turngym {turngym.__version__}"


def test_list_shows_ids_and_descriptions():
    code, out = run(["list"])
    assert code == 0
    assert "turngym/GuessNumber-v0" in out and "guess a hidden number (test env)" in out


def test_play_a_whole_episode_through_streams():
    script = "\n".join([
        "hello there",            # malformed: no action
        "<guess>8</guess>",       # task n-11: go higher
        ":hint",
        ":tool guess {\"number\": 10}",
        "<guess>\\",              # continued on the next line
        "11</guess>",
        "<guess>1</guess>",       # after the end: refused politely
        ":quit",
    ]) + "\n"
    code, out = run(["play", "GuessNumber-v0", "--task-id", "n-11"], script)
    assert code == 0
    assert "task n-11" in out
    assert "Invalid action: No action found" in out
    assert "valid_action=0" in out
    assert "8 is wrong: go higher." in out
    assert "reference action: <guess>12</guess>" in out
    assert "10 is wrong: go higher." in out
    assert "Correct!" in out
    assert "Episode terminated, outcome 1" in out
    assert "The episode is over" in out
    assert out.rstrip().endswith("bye")


def test_play_oracle_reset_and_truncation():
    script = ":oracle\n:reset\n<guess>1</guess>\n<guess>1</guess>\n"
    code, out = run(["play", "GuessNumber-v0", "--seed", "3", "--env-arg", "max_turns=2"], script)
    assert code == 0
    assert "reference action: <guess>8</guess>" in out
    assert out.count("task n-") == 2
    assert "Episode truncated (max_turns)" in out


def test_play_unknown_environment_says_what_is_registered():
    code, out = run(["play", "Nope-v9"])
    assert code == 2
    assert "unknown environment 'Nope-v9'" in out and "turngym/GuessNumber-v0" in out
