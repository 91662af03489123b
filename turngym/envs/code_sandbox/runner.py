"""The sandbox's child side: confine a process, run one untrusted program in it, report.

This file is a standalone script that imports only the standard library. The
host starts it as ``python -I runner.py serve`` (a pre-started worker) or sends
its source to a container (``python -I -c <source> once <request>``), so it
must never import turngym.

A *supervisor* (this script, running as the host's user) reads requests, each a
JSON object (see :func:`supervise`), and for each forks a *candidate* process
that confines itself and executes the program. The supervisor enforces the wall
clock, kills the candidate's whole session and, when it runs as root, every
process of the candidate's private uid, then answers with a JSON result.

Confinement, strongest where the machine allows it (as root on Linux):

- the supervisor moves itself into a new network namespace (no interface is up,
  not even loopback) and a private mount namespace in which ``/`` is read-only
  and ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/run/lock`` are empty
  root-owned tmpfs;
- each candidate gets one more mount namespace with its own size-limited tmpfs
  on ``/tmp`` holding its working directory (gone when the candidate is), runs
  as a private unprivileged uid (so it can write nowhere else, cannot signal the
  supervisor or read other processes' environments), in its own session, with
  rlimits on address space, CPU time, file size, processes and open files, and
  ``no_new_privs``;
- the environment is replaced by a short scrubbed one.

Without root the candidate keeps the host's uid, runs in a fresh directory the
host removes, and gets a network namespace only if unprivileged user
namespaces are allowed; the supervisor's ``isolation`` report says which.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import resource
import select
import signal
import struct
import sys
import time
import traceback

MEMORY_EXIT = 201
"""Exit code the candidate uses when the program ran out of memory (MemoryError)."""

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 2
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_CHILD_SUBREAPER = 36
_SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    _check(
        _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
        f"mount {target}",
    )


def _umount(target: str) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(_MNT_DETACH)), f"umount {target}")


def _prctl(option: int, value: int) -> None:
    _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                ctypes.c_ulong(0))


# ----- supervisor set-up (once per supervisor) ------------------------------------------


def _blocked_ancestor(path: str) -> str | None:
    """The first directory on ``path`` that other users cannot traverse, if any."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    current = ""
    for part in parts:
        current = f"{current}/{part}"
        try:
            if os.path.isdir(current) and not os.stat(current).st_mode & 0o001:
                return current
        except OSError:
            return None
    return None


def _expose_python() -> None:
    """Let an unprivileged uid import the interpreter's modules.

    Python may live under a directory only root can enter (``/root/.pyenv``).
    Inside our private mount namespace that directory is covered with a
    root-owned, world-enterable tmpfs into which only the needed sub-trees are
    bind-mounted back, read-only. Nothing changes outside the namespace.
    """
    needed: dict[str, set[str]] = {}
    for path in {sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path}:
        if not path or not os.path.exists(path):
            continue
        blocked = _blocked_ancestor(path)
        if blocked is None:
            continue
        rest = os.path.relpath(os.path.abspath(path), blocked).split(os.sep)[0]
        needed.setdefault(blocked, set()).add(rest)
    for n, (blocked, children) in enumerate(sorted(needed.items())):
        staged = []
        for m, child in enumerate(sorted(children)):
            stage = f"/dev/shm/.expose-{n}-{m}"
            os.mkdir(stage)
            _mount(os.path.join(blocked, child), stage, None, _MS_BIND | _MS_REC)
            staged.append((child, stage))
        _mount("tmpfs", blocked, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=64k,mode=0755")
        for child, stage in staged:
            target = os.path.join(blocked, child)
            os.mkdir(target)
            _mount(stage, target, None, _MS_BIND | _MS_REC)
            _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)
            _umount(stage)
            os.rmdir(stage)


def setup_supervisor(isolate: bool) -> dict[str, str]:
    """Put this supervisor in its namespaces; return what isolation is in effect."""
    report = {"network": "none", "filesystem": "working directory only", "user": "host uid"}
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    if not isolate:
        return report
    if os.geteuid() == 0:
        _unshare(_CLONE_NEWNET | _CLONE_NEWNS)
        _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
        _mount(None, "/", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)
        for directory in _SCRATCH_DIRS:
            if os.path.isdir(directory):
                _mount("tmpfs", directory, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
        _expose_python()
        report = {
            "network": "namespace (no interfaces)",
            "filesystem": "read-only root, private tmpfs per run",
            "user": "private uid per worker",
        }
    else:
        try:
            _unshare(_CLONE_NEWUSER | _CLONE_NEWNET)
            report["network"] = "namespace (unprivileged user namespace)"
        except OSError as exc:
            report["network"] = f"NOT isolated ({exc.strerror}; run as root or use the docker backend)"
    return report


def _preimport() -> None:
    """Import what judged programs usually use, so forked candidates do not pay for it."""
    for name in ("collections", "itertools", "functools", "math", "re", "string", "typing", "heapq",
                 "bisect", "hashlib", "json", "random", "fractions", "decimal", "copy", "statistics",
                 "operator", "dataclasses", "textwrap", "traceback", "signal", "contextlib", "tempfile",
                 "shutil", "builtins"):
        try:
            __import__(name)
        except ImportError:
            pass


# ----- the candidate ------------------------------------------------------------------


def _confine(request: dict, fds: tuple[int, int, int]) -> None:
    """Runs in the forked candidate, before the program: session, files, limits, uid."""
    os.setsid()
    # Python ignores SIGXFSZ and SIGPIPE; a program over the file-size limit must be killed.
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    stdin_fd, out_fd, err_fd = fds
    os.dup2(stdin_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.closerange(3, 65536)
    uid = request.get("uid")
    if request.get("private_tmp"):
        _unshare(_CLONE_NEWNS)
        size = int(request["fsize_bytes"]) * 2 + (1 << 20)
        _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={size},mode=0755")
        workdir = "/tmp/work"
        os.mkdir(workdir, 0o700)
        if uid is not None:
            os.chown(workdir, uid, uid)
    else:
        workdir = request["workdir"]
    os.chdir(workdir)
    limits = {
        resource.RLIMIT_AS: int(request["memory_bytes"]),
        resource.RLIMIT_CPU: int(request["cpu_s"]),
        resource.RLIMIT_FSIZE: int(request["fsize_bytes"]),
        resource.RLIMIT_NOFILE: 256,
        resource.RLIMIT_CORE: 0,
    }
    if uid is not None:  # per-uid: only meaningful when the uid is private to this run
        limits[resource.RLIMIT_NPROC] = int(request["nproc"])
    for which, value in limits.items():
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            _soft, hard = resource.getrlimit(which)
            resource.setrlimit(which, (min(value, hard) if hard != resource.RLIM_INFINITY else value, hard))
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
           "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    os.environ.clear()
    os.environ.update(env)
    import tempfile

    tempfile.tempdir = workdir
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8", errors="replace")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=True)
    sys.argv = ["main.py"]
    import random

    random.seed()  # forked from one supervisor: do not share its random state


def _execute(program: str) -> int:
    """Run ``program`` as ``__main__``; return the exit code (tracebacks go to stderr)."""
    import builtins

    namespace = {"__name__": "__main__", "__builtins__": builtins, "__file__": "main.py"}
    try:
        code = compile(program, "main.py", "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes in the source
        traceback.print_exception(type(exc), exc, None)
        return 1
    try:
        exec(code, namespace)
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code & 0xFF
        print(exc.code, file=sys.stderr)
        return 1
    except MemoryError as exc:
        print("MemoryError: the program ran out of memory", file=sys.stderr)
        del exc
        return MEMORY_EXIT
    except BaseException as exc:  # the program's own failure: report it as Python would
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        return 1
    return 0


def _candidate(request: dict, fds: tuple[int, int, int]) -> None:
    code = 1
    try:
        _confine(request, fds)
        code = _execute(request["program"])
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    except BaseException:
        try:
            os.write(2, b"sandbox: could not confine the program:\n" + traceback.format_exc().encode())
        except Exception:
            pass
        code = 125
    os._exit(code)


# ----- the supervisor ------------------------------------------------------------------


def _memfd(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(name, 0)
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _kill_uid(uid: int) -> None:
    """Kill every process of ``uid`` (kill(-1) from a helper that takes that uid)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(100):
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _reap_strays(uid: int | None) -> None:
    """Kill and reap whatever the candidate left running.

    We are a child subreaper, so any process the candidate left behind (or its
    orphaned descendants' topmost ancestor) is now our child: with no child
    left there is nothing to kill, which spares a helper fork on most runs.
    """
    for _ in range(50):
        try:
            while True:
                stray, _ = os.waitpid(-1, os.WNOHANG)
                if stray == 0:
                    break
        except ChildProcessError:
            return  # no descendants remain
        if uid is not None:
            _kill_uid(uid)
        else:
            _kill_children()
        time.sleep(0.001)


def _kill_children() -> None:
    """Without a private uid: SIGKILL our children's sessions/process groups (subreaper strays)."""
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[1].decode() == me:
            for kill, target in ((os.killpg, int(fields[2])), (os.kill, int(entry))):
                try:
                    kill(target, signal.SIGKILL)
                except OSError:
                    pass


def _read_capped(fd: int, cap: int) -> tuple[str, bool]:
    size = os.fstat(fd).st_size
    data = os.pread(fd, min(size, cap), 0)
    return data.decode("utf-8", errors="replace"), size > cap


def run_one(request: dict) -> dict:
    """Fork a candidate for ``request``, supervise it, and return the result dict."""
    fds = (_memfd("stdin", request.get("stdin", "").encode("utf-8", errors="replace")),
           _memfd("stdout"), _memfd("stderr"))
    uid = request.get("uid")
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        _candidate(request, fds)
    timed_out = False
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(max(1, int(float(request["timeout_s"]) * 1000))):
            timed_out = True
    finally:
        os.close(pidfd)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if timed_out:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status, usage = os.wait4(pid, 0)
    duration = time.perf_counter() - start
    _reap_strays(uid)
    cap = int(request["output_bytes"])
    stdout, out_cut = _read_capped(fds[1], cap)
    stderr, err_cut = _read_capped(fds[2], cap)
    for fd in fds:
        os.close(fd)
    return {
        "exit_code": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out,
        "duration_s": duration,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "stdout": stdout,
        "stderr": stderr,
        "stdout_truncated": out_cut,
        "stderr_truncated": err_cut,
    }


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, obj: dict) -> None:
    data = json.dumps(obj).encode()
    os.write(fd, struct.pack("<I", len(data)) + data)


def serve(isolate: bool) -> None:
    """Answer length-prefixed JSON requests on stdin with results on stdout until EOF."""
    requests = os.dup(0)
    replies = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    try:
        report = setup_supervisor(isolate)
        _preimport()
        _send(replies, {"ready": True, "isolation": report, "pid": os.getpid()})
    except BaseException as exc:
        _send(replies, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    while True:
        try:
            (length,) = struct.unpack("<I", _read_exact(requests, 4))
            request = json.loads(_read_exact(requests, length))
        except EOFError:
            return
        try:
            reply = run_one(request)
        except BaseException as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        _send(replies, reply)


def once(request: dict) -> None:
    """Run one request and print its result as JSON on stdout (the container entry)."""
    try:
        report = setup_supervisor(bool(request.get("isolate")))
        reply = run_one(request)
        reply["isolation"] = report
    except BaseException as exc:
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(reply))
    sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(isolate=sys.argv[2:3] == ["isolate"])
    elif sys.argv[1:2] == ["once"]:
        import base64

        once(json.loads(base64.b64decode("".join(sys.argv[2:]))))
    else:
        sys.exit("usage: runner.py serve [isolate] | once <base64 JSON request>")
