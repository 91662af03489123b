"""The issue's security checks, on the process backend (fresh interpreter) and the pool."""

from __future__ import annotations

import os
import time

import pytest

from turngym.envs.code_sandbox.process_backend import running_as_root

BACKENDS = ["process_sandbox", "pool_sandbox"]
needs_root = pytest.mark.skipif(not running_as_root(), reason="namespaces and private uids need root")


@pytest.fixture(params=BACKENDS)
def sandbox(request):
    return request.getfixturevalue(request.param)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_plain_program_runs_with_stdin(sandbox):
    program = "import sys\nprint(sys.stdin.read()[::-1])\nprint('e', file=sys.stderr)"
    result = sandbox.run(program, stdin="abc")
    assert (result.status, result.exit_code) == ("ok", 0)
    assert result.stdout == "cba\n" and result.stderr == "e\n"
    assert result.duration_s > 0


@needs_root
def test_network_connection_fails(sandbox):
    program = (
        "import socket\n"
        "for host in [('127.0.0.1', 22), ('1.1.1.1', 80)]:\n"
        "    try:\n"
        "        socket.create_connection(host, timeout=1)\n"
        "        print('connected', host)\n"
        "    except OSError as exc:\n"
        "        print('refused', exc.errno)\n"
    )
    result = sandbox.run(program)
    assert result.status == "ok"
    assert "connected" not in result.stdout
    assert result.stdout.count("refused") == 2


@needs_root
def test_writes_outside_workdir_are_refused_or_contained(sandbox, tmp_path):
    outside = tmp_path / "escape.txt"
    targets = [str(outside), "/tmp/escape.txt", "/var/tmp/escape.txt", "/dev/shm/escape.txt",
               "/etc/escape.txt", os.path.expanduser("~/escape.txt")]
    program = (
        f"targets = {targets!r}\n"
        "for t in targets:\n"
        "    try:\n"
        "        open(t, 'w').write('x')\n"
        "        print('wrote', t)\n"
        "    except OSError as exc:\n"
        "        print('refused', t, type(exc).__name__)\n"
        "open('inside.txt', 'w').write('ok')\n"
        "print('inside', open('inside.txt').read())\n"
    )
    result = sandbox.run(program)
    assert result.status == "ok", result.stderr
    assert "wrote" not in result.stdout
    assert "inside ok" in result.stdout
    for target in targets:
        assert not os.path.exists(target)


def test_infinite_loop_times_out(sandbox):
    start = time.monotonic()
    result = sandbox.run("while True:\n    pass\n", timeout_s=1.0)
    assert result.status == "timeout"
    assert time.monotonic() - start < 6


def test_sleep_past_timeout(sandbox):
    result = sandbox.run("import time\ntime.sleep(30)\n", timeout_s=0.5)
    assert result.status == "timeout" and "wall-clock" in result.reason
    assert result.duration_s < 5


def test_memory_bomb(sandbox):
    # A generous wall clock: on a loaded machine zeroing 256 MB can take longer than the fixture's 2 s.
    result = sandbox.run("blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))\n",
                         timeout_s=10)
    assert result.status == "memory", (result.status, result.stderr[-300:])


def test_one_gigabyte_print_is_cut(sandbox):
    program = "import sys\nchunk = 'x' * 1_000_000\nfor _ in range(1000):\n    sys.stdout.write(chunk)\n"
    result = sandbox.run(program)
    assert result.status == "killed" and "size limit" in result.reason
    assert result.stdout_truncated
    assert len(result.stdout) <= 1 << 20


@needs_root
def test_fork_bomb_is_stopped_and_nothing_survives(sandbox):
    program = (
        "import os\n"
        "print(os.getpid(), flush=True)\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    result = sandbox.run(program, timeout_s=1.0)
    assert result.status in ("timeout", "error", "killed")
    assert result.status != "ok"
    uid_probe = sandbox.run("import os\nprint(os.getuid())")
    assert uid_probe.status == "ok"


def test_no_process_outlives_its_run(sandbox):
    # A detached (new session) child that would sleep for a minute: it must be gone with the run.
    # It names itself with PR_SET_NAME (15): a candidate may not write its /proc/self/comm.
    marker = sandbox.run(
        "import ctypes, os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    ctypes.CDLL(None).prctl(15, b'tg-stray-probe', 0, 0, 0)\n"
        "    print('child up', flush=True)\n"
        "    time.sleep(60)\n"
        "time.sleep(0.3)\n"
        "print('parent done')\n"
    )
    assert marker.status == "ok" and marker.stdout == "child up\nparent done\n", marker
    time.sleep(0.1)
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    strays = [p for p in pids if _comm(p) == "tg-stray-probe" and _alive(int(p))]
    assert strays == []


def _comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def test_host_environment_is_not_visible(sandbox, monkeypatch):
    monkeypatch.setenv("TURNGYM_TEST_SECRET", "hunter2-do-not-leak")
    program = (
        "import os\n"
        "print(sorted(os.environ))\n"
        "for pid in ['1', str(os.getppid())]:\n"
        "    try:\n"
        "        print(open(f'/proc/{pid}/environ', 'rb').read())\n"
        "    except OSError as exc:\n"
        "        print('denied', pid)\n"
    )
    result = sandbox.run(program)
    assert result.status == "ok"
    assert "hunter2" not in result.stdout and "TURNGYM_TEST_SECRET" not in result.stdout


@needs_root
def test_killing_the_parent_is_refused(sandbox):
    result = sandbox.run("import os\nos.kill(os.getppid(), 9)\n")
    assert result.status == "error" and "PermissionError" in result.stderr
    assert sandbox.run("print('still here')").stdout == "still here\n"


def test_bad_programs_give_clear_results(sandbox):
    syntax = sandbox.run("def f(:\n")
    assert syntax.status == "error" and "SyntaxError" in syntax.stderr
    garbage = sandbox.run("print(1)\x00\xff\x01")
    assert garbage.status == "error" and "null bytes" in garbage.stderr
    exits = sandbox.run("import sys\nsys.exit(3)")
    assert (exits.status, exits.exit_code) == ("error", 3)


def test_runs_are_isolated_from_each_other(pool_sandbox):
    first = pool_sandbox.run("open('note.txt', 'w').write('secret')\nimport os\nprint(os.getcwd())")
    second = pool_sandbox.run("import os\nprint(os.listdir('.'))")
    assert first.status == second.status == "ok"
    assert second.stdout.strip() == "[]"


def test_bad_arguments_are_refused():
    from turngym.envs.code_sandbox import Sandbox

    with pytest.raises(ValueError, match="accepted: process, pool, docker"):
        Sandbox("vm")
    with pytest.raises(ValueError, match="timeout_s must be a positive number"):
        Sandbox(timeout_s=0)
