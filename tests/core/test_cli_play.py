"""``turngym play`` as a person uses it (issue #11, Confusing: play)."""

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import tests.core.cli_custom_env  # noqa: F401  (registers CliNoTools-v0)
from turngym.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(argv, stdin_text=""):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin_text), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_an_empty_line_does_not_spend_a_turn():
    """Issue #11 Confusing: an empty line spent a turn (as an invalid action)."""
    code, out, _ = run(["play", "GuessNumber-v0", "--task-id", "n-3"], "\n   \n<guess>3</guess>\n:quit\n")
    assert code == 0
    assert "Invalid action" not in out
    assert "turn 1" in out and "Correct!" in out


def test_multi_line_mode_sends_the_lines_as_one_turn():
    """Issue #11 Confusing: multi-line code needed a backslash on every line; ``:multi`` ... ``.``."""
    script = ":multi\n<guess>\n3\n</guess>\n.\n:quit\n"
    code, out, _ = run(["play", "GuessNumber-v0", "--task-id", "n-3"], script)
    assert code == 0
    assert "multi-line: end with a line holding only a dot (.)" in out
    assert "...> " in out                                     # the continuation prompt
    assert "Correct!" in out and "turn 1" in out


def test_hint_prints_the_action_readably():
    """Issue #11 Confusing: ``:hint`` printed a repr full of ``\\n``."""
    code, out, _ = run(["play", "CodeSandbox-MBPP-v0"], ":hint\n:quit\n")
    assert code == 0
    hint = out.split("reference action:", 1)[1]
    assert hint.startswith("\n<submit>\n```python\n") and "\\n" not in hint.split("action> ")[0]


def test_tool_example_names_a_tool_of_this_environment():
    """Issue #11 Confusing: the ``:tool search {...}`` example was shown in environments without it."""
    _, out, _ = run(["play", "GuessNumber-v0"], ":quit\n")
    assert ':tool guess {"number": 1}' in out and "tools here: guess" in out and ":tool search" not in out
    _, out, _ = run(["play", "CodeSandbox-MBPP-v0"], ":quit\n")
    assert ":tool run {" in out and ":tool search" not in out
    _, out, _ = run(["play", "CliNoTools-v0"], ":quit\n")
    assert "this environment has no tools: :tool is not available" in out and "e.g. :tool" not in out


def test_line_editing_with_readline_on_a_terminal():
    """Issue #11 Confusing: arrow keys printed escape codes; on a terminal input goes through readline."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    code = ("import sys, tests.core.cli_custom_env; from turngym.cli import main; "
            "sys.exit(main(['play', 'CliCustom-v0', '--task-id', 'n-9', '--env-arg', 'high=100']))")
    process = subprocess.Popen([sys.executable, "-c", code], stdin=terminal, stdout=terminal, stderr=terminal,
                               cwd=ROOT, env=env, close_fds=True)
    os.close(terminal)
    output = b""

    def read_until(marker: bytes, times: int = 1, timeout: float = 60) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout
        while output.count(marker) < times and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    output += os.read(controller, 4096)
                except OSError:
                    break
        assert marker in output, output.decode(errors="replace")[-2000:]

    try:
        read_until(b"action> ")
        # type <guess>1</guess>, move the cursor 8 places left (before </guess>), insert a 2
        os.write(controller, b"<guess>1</guess>" + b"\x1b[D" * 8 + b"2\r")
        read_until(b"12 is wrong: go lower.")
        read_until(b"action> ", times=2)
        os.write(controller, b"\x04")                         # Ctrl-D at the prompt
        read_until(b"bye")
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    assert process.returncode == 0
