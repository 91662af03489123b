"""The sandbox's child side: confine a process, run one untrusted program in it, report.

This file is a standalone script that imports only the standard library. The
host starts it as ``python -I runner.py serve <host pid>`` (a pre-started
worker), runs ``python -I runner.py plan <packages>`` once to learn what the
candidate's root must hold, or sends its source to a container
(``python -I -c <source> once <request>``), so it must never import turngym.

A *supervisor* (this script, running as the host's user) reads a set-up frame,
then requests, each a JSON object (see :func:`run_one`), and for each forks a
*candidate* process that confines itself and executes the program. The
supervisor enforces the wall clock, kills the candidate's whole session and,
when it runs as root, every process of the candidate's private uid, then
answers with a JSON result.

Confinement as root on Linux (what ``isolation`` then reports):

- **network**: a network namespace with no interface up, not even loopback;
- **filesystem**: a *minimal root*. The supervisor builds, in its own mount
  namespace, a fresh tmpfs holding only the interpreter (``/usr/local/bin``),
  its standard library (``/usr/local/lib/pythonX.Y``, with any
  ``site-packages`` inside it covered by an empty file system), the allowed
  packages (``/usr/local/lib/site-packages``), the shared libraries these
  need (found with ``ldd``), ``/dev/{null,zero,full,random,urandom}`` and an
  empty ``/tmp``, all read-only, and ``pivot_root``\\ s into it; the host's
  root is detached. Each candidate gets one more mount namespace with its own
  size-limited tmpfs on ``/tmp`` holding its working directory ``/tmp/work``,
  and its own IPC namespace (no SysV object or message queue outlives it);
- **processes**: the supervisor moves into a new PID namespace (it is its
  init, PID 1) and mounts a ``/proc`` for it with ``hidepid=2``: a candidate,
  running as another uid, sees only its own processes; nothing of the host;
- **syscalls**: a seccomp filter in every candidate refuses (``EPERM``)
  ``ptrace``, ``process_vm_readv/writev``, ``mount``/``umount2``/
  ``pivot_root``/``chroot`` and the new mount API, ``bpf``, ``keyctl``/
  ``add_key``/``request_key``, ``perf_event_open``, module loading
  (``init_module``, ``finit_module``, ``delete_module``), ``kexec_*``,
  namespace creation (``unshare``, ``setns``, ``clone`` with any
  ``CLONE_NEW*`` flag; ``clone3`` answers ``ENOSYS`` so that libc falls back
  to ``clone``), ``userfaultfd``, ``io_uring_*``, ``open_by_handle_at``,
  ``swapon``/``swapoff``, ``reboot``, ``acct``, ``quotactl``, ``syslog``,
  ``iopl``/``ioperm``, and every system call of a foreign ABI (x32,
  i386 on x86-64). A kernel without seccomp is reported (``NOT filtered``);
- **user**: a private unprivileged uid per worker (cannot write anywhere but
  its tmpfs, cannot signal the supervisor), in its own session, with rlimits on
  address space, CPU time, file size, processes and open files, and
  ``no_new_privs``; the environment is replaced by a short scrubbed one;
- **lifetime**: every supervisor and candidate has a parent-death signal
  (SIGKILL), and a supervisor also stops when its request pipe closes, so no
  sandbox process outlives the host process; when a supervisor (the PID
  namespace's init) dies, the kernel kills everything in its namespace.

Known edges, by design: ``/proc/self/mountinfo`` names the host paths the
root's parts are bound from (names only; nothing else there is reachable); a
candidate is not dumpable, so even its own children are hidden from its
``/proc`` and their memory is unreadable to it; there is no ``/dev/shm``, so
``multiprocessing``'s semaphores are unavailable. The harness's hidden tests
are inside the candidate's own process (see ``harness.py``): the sandbox keeps
the host and the task data out of reach, not the tests of the run itself.

Without root the candidate keeps the host's uid, runs in a fresh directory the
host removes, gets a network namespace only if unprivileged user namespaces
are allowed, and still gets the seccomp filter; ``isolation`` says ``NOT``
for each guarantee that does not hold.
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

SANDBOX_PREFIX = "/usr/local"
"""Where the interpreter, its standard library and the allowed packages appear inside the minimal root."""

_CLONE_NEWNS = 0x00020000
_CLONE_NEWCGROUP = 0x02000000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_CLONE_NAMESPACES = (_CLONE_NEWNS | _CLONE_NEWCGROUP | _CLONE_NEWUTS | _CLONE_NEWIPC | _CLONE_NEWUSER
                     | _CLONE_NEWPID | _CLONE_NEWNET)
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 2
_PR_SET_PDEATHSIG = 1
_PR_GET_SECCOMP = 21
_PR_SET_SECCOMP = 22
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2
_DEVICES = ("null", "zero", "full", "random", "urandom")

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


def _prctl(option: int, value: int) -> int:
    return _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0))


def _die_with_parent(parent: int | None = None, lifeline: int | None = None) -> None:
    """SIGKILL this process when its parent ends; exit now if the parent is already gone.

    The parent-death signal is cleared by a change of uid, so this runs after
    any ``setuid``. A parent that died before the signal was armed is seen
    either as a changed ``getppid()`` (``parent``: the expected pid) or as a
    hung-up ``lifeline`` (the read end of a pipe only the parent holds open).
    """
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)
    if lifeline is not None:
        poller = select.poll()
        poller.register(lifeline, select.POLLIN)
        if poller.poll(0):
            os._exit(1)


# ----- the system-call filter -----------------------------------------------------------

# Numbers per architecture (asm/unistd_64.h and asm-generic/unistd.h); only these two are filtered.
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_SYSCALLS = {
    "x86_64": {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165, "umount2": 166,
        "pivot_root": 155, "chroot": 161, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "bpf": 321, "keyctl": 250,
        "add_key": 248, "request_key": 249, "perf_event_open": 298, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
        "unshare": 272, "setns": 308, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_by_handle_at": 304, "name_to_handle_at": 303, "swapon": 167,
        "swapoff": 168, "reboot": 169, "acct": 163, "quotactl": 179, "syslog": 103, "iopl": 172,
        "ioperm": 173, "lookup_dcookie": 212, "vhangup": 153,
        "clone": 56, "clone3": 435,
    },
    "aarch64": {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "mount": 40, "umount2": 39,
        "pivot_root": 41, "chroot": 51, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "bpf": 280, "keyctl": 219,
        "add_key": 217, "request_key": 218, "perf_event_open": 241, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294,
        "unshare": 97, "setns": 268, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_by_handle_at": 265, "name_to_handle_at": 264, "swapon": 224,
        "swapoff": 225, "reboot": 142, "acct": 89, "quotactl": 60, "syslog": 116,
        "lookup_dcookie": 18, "vhangup": 58,
        "clone": 220, "clone3": 435,
    },
}
_X32_BIT = 0x40000000
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_EPERM, _ENOSYS = 1, 38
_BPF_LD_W_ABS, _BPF_JEQ, _BPF_JGE, _BPF_JSET, _BPF_RET = 0x20, 0x15, 0x35, 0x45, 0x06


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_program(machine: str | None = None) -> list[tuple[int, int, int, int]] | None:
    """The classic-BPF seccomp program, as (code, jt, jf, k) rows, for ``machine``; None if unsupported.

    In order: refuse a foreign ABI; refuse x32 numbers; refuse each listed
    call with EPERM; answer ``clone3`` with ENOSYS (its flags sit in memory a
    filter cannot read, and libc then falls back to ``clone``); let ``clone``
    through only without namespace flags; allow the rest.
    """
    machine = machine or os.uname().machine
    if machine not in _SYSCALLS:
        return None
    numbers = dict(_SYSCALLS[machine])
    clone, clone3 = numbers.pop("clone"), numbers.pop("clone3")
    rows: list[tuple[int, int | str, int, int]] = []
    labels: dict[str, int] = {}

    def emit(code: int, k: int, jt: int | str = 0) -> None:
        rows.append((code, jt, 0, k))

    emit(_BPF_LD_W_ABS, 4)                                      # A = arch
    emit(_BPF_JEQ, _AUDIT_ARCH[machine], jt=1)                  # native ABI: skip the next row
    emit(_BPF_RET, _SECCOMP_RET_ERRNO | _EPERM)
    emit(_BPF_LD_W_ABS, 0)                                      # A = system-call number
    if machine == "x86_64":
        emit(_BPF_JGE, _X32_BIT, jt="deny")
    for number in sorted(set(numbers.values())):
        emit(_BPF_JEQ, number, jt="deny")
    emit(_BPF_JEQ, clone3, jt="enosys")
    emit(_BPF_JEQ, clone, jt="clone")
    emit(_BPF_RET, _SECCOMP_RET_ALLOW)
    labels["clone"] = len(rows)
    emit(_BPF_LD_W_ABS, 16)                                     # A = low word of args[0] (flags)
    emit(_BPF_JSET, _CLONE_NAMESPACES, jt="deny")
    emit(_BPF_RET, _SECCOMP_RET_ALLOW)
    labels["deny"] = len(rows)
    emit(_BPF_RET, _SECCOMP_RET_ERRNO | _EPERM)
    labels["enosys"] = len(rows)
    emit(_BPF_RET, _SECCOMP_RET_ERRNO | _ENOSYS)
    program = []
    for index, (code, jt, jf, k) in enumerate(rows):
        if isinstance(jt, str):
            jt = labels[jt] - index - 1
        if not 0 <= jt < 256:
            raise ValueError("seccomp program too long for 8-bit jumps")
        program.append((code, jt, jf, k))
    return program


def seccomp_status() -> str:
    """What the filter will do here, or why there is none (``NOT filtered ...``)."""
    machine = os.uname().machine
    if seccomp_program(machine) is None:
        return f"NOT filtered (no system-call table for {machine}; the filter knows x86_64 and aarch64)"
    if _prctl(_PR_GET_SECCOMP, 0) < 0:
        return f"NOT filtered (this kernel has no seccomp: {os.strerror(ctypes.get_errno())})"
    return ("seccomp filter: ptrace, mount, bpf, keyctl, perf_event_open, module loading, kexec, "
            "namespace creation (unshare, setns, clone with CLONE_NEW*, clone3) and more refused")


def install_seccomp() -> None:
    """Install the filter on this process (needs ``no_new_privs`` or root); raise OSError if refused."""
    program = seccomp_program()
    if program is None:
        raise OSError(0, f"no seccomp filter for {os.uname().machine}")
    filters = (_SockFilter * len(program))(*[_SockFilter(*instruction) for instruction in program])
    fprog = _SockFprog(len(program), filters)
    result = _libc.prctl(ctypes.c_int(_PR_SET_SECCOMP), ctypes.c_ulong(_SECCOMP_MODE_FILTER),
                         ctypes.byref(fprog), ctypes.c_ulong(0), ctypes.c_ulong(0))
    _check(result, "seccomp")


# ----- the minimal root -----------------------------------------------------------------


def _shared_libraries(files: list[str]) -> list[str]:
    """Every shared library (and the ELF interpreter) that ``files`` load, as ``ldd`` resolves them."""
    import subprocess

    found: list[str] = []
    for start in range(0, len(files), 200):
        try:
            output = subprocess.run(["ldd", *files[start:start + 200]], capture_output=True, text=True,
                                    check=False, env={"PATH": "/usr/bin:/bin", "LANG": "C"}).stdout
        except FileNotFoundError as exc:
            raise RuntimeError("ldd is missing (Debian: apt-get install libc-bin); it finds the shared "
                               "libraries the sandbox's root must hold") from exc
        for line in output.splitlines():
            line = line.strip()
            path = line.split("=>", 1)[1] if "=>" in line else line
            path = path.split(" (", 1)[0].strip()
            if path.startswith("/") and "(" in line and path not in found:
                found.append(path)
    return found


def _extension_files(top: str) -> list[str]:
    if os.path.isfile(top):
        return [top] if ".so" in os.path.basename(top) else []
    return [os.path.join(d, f) for d, _dirs, names in os.walk(top) for f in names if ".so" in f]


def root_plan(packages: list[str]) -> dict:
    """What the candidate's minimal root holds, for this interpreter and these packages.

    Returns ``binds`` ([host path, path inside]), ``covers`` (paths inside to
    hide under an empty file system), ``symlinks`` ([path inside, target]),
    ``sys_path``, ``executable``, ``prefix`` and ``moved`` ([host prefix,
    prefix inside] for rewriting the paths of already-imported modules).
    Packages are top-level import names; one that is not installed, or that
    lives in the standard library, is an error.
    """
    import importlib.metadata
    import importlib.util

    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    inner_stdlib = f"{SANDBOX_PREFIX}/lib/{version}"
    inner_site = f"{SANDBOX_PREFIX}/lib/site-packages"
    executable = os.path.realpath(sys.executable)
    binds = [[executable, f"{SANDBOX_PREFIX}/bin/{version}"], [stdlib, inner_stdlib]]
    moved = [[stdlib, inner_stdlib]]
    covers = [f"{inner_stdlib}/{name}" for name in ("site-packages", "dist-packages")
              if os.path.isdir(os.path.join(stdlib, name))]
    dynload = next((os.path.realpath(p) for p in sys.path if p.endswith("lib-dynload") and os.path.isdir(p)),
                   None)
    if dynload and not dynload.startswith(stdlib + os.sep):
        binds.append([dynload, f"{inner_stdlib}/lib-dynload"])
        moved.append([dynload, f"{inner_stdlib}/lib-dynload"])
    elf = [executable] + (_extension_files(dynload) if dynload else [])
    site_dirs: set[str] = set()
    distributions = importlib.metadata.packages_distributions()
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ValueError(f"package {name!r} is not installed for {sys.executable}")
        locations = list(spec.submodule_search_locations or []) or ([spec.origin] if spec.origin else [])
        locations = [os.path.realpath(p) for p in locations if p and os.path.exists(p)]
        if not locations or any(p.startswith(stdlib + os.sep) for p in locations):
            raise ValueError(f"{name!r} is part of the standard library (always present); list only "
                             "installed packages")
        for location in locations:
            binds.append([location, f"{inner_site}/{os.path.basename(location)}"])
            site_dirs.add(os.path.dirname(location))
            elf += _extension_files(location)
        for distribution in distributions.get(name, []):
            info = getattr(importlib.metadata.distribution(distribution), "_path", None)
            if info is not None and os.path.isdir(info):
                binds.append([os.path.realpath(info), f"{inner_site}/{os.path.basename(info)}"])
    base = os.path.realpath(sys.base_prefix)
    inner = {target for _source, target in binds}
    for library in _shared_libraries(elf):
        real = os.path.realpath(library)
        if any(real.startswith(source + os.sep) for source, _target in binds):
            continue  # inside a directory already bound
        site = next((d for d in site_dirs if real.startswith(d + os.sep)), None)
        if site is not None:  # a package's vendored libraries, e.g. numpy.libs/
            target = f"{inner_site}/{os.path.relpath(real, site)}"
        elif real.startswith(base + os.sep):  # the interpreter's own, e.g. libpython
            target = f"{SANDBOX_PREFIX}/lib/{os.path.basename(library)}"
        else:  # a system library, where the loader looks for it
            target = os.path.join(os.path.realpath(os.path.dirname(library)), os.path.basename(library))
        if target not in inner:
            binds.append([real, target])
            inner.add(target)
    symlinks = [[f"{SANDBOX_PREFIX}/bin/{name}", version] for name in ("python3", "python")]
    symlinks += [[f"/{name}", os.readlink(f"/{name}")] for name in ("bin", "sbin", "lib", "lib32", "lib64",
                                                                     "libx32") if os.path.islink(f"/{name}")]
    return {
        "binds": binds,
        "covers": covers,
        "symlinks": symlinks,
        "sys_path": [inner_stdlib, f"{inner_stdlib}/lib-dynload", inner_site],
        "executable": f"{SANDBOX_PREFIX}/bin/{version}",
        "prefix": SANDBOX_PREFIX,
        "moved": moved,
        "packages": list(packages),
    }


def _pivot_root(new: str, old: str) -> None:
    number = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine)
    if number is None:
        raise OSError(0, f"pivot_root: unknown system-call number on {os.uname().machine}")
    _check(_libc.syscall(ctypes.c_long(number), new.encode(), old.encode()), "pivot_root")


def build_root(plan: dict) -> None:
    """Replace this mount namespace's root with the minimal root ``plan`` describes (see module doc).

    The staging tmpfs is mounted on ``/tmp`` and pivoted to at once, so the
    host's tree is reachable under ``/old`` while the new root is assembled
    under ``/new``; the final ``pivot_root(".", ".")`` and a lazy unmount
    leave nothing of the host's tree reachable.
    """
    _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=64k,mode=0755")
    os.mkdir("/tmp/old")
    _pivot_root("/tmp", "/tmp/old")
    os.chdir("/")
    os.mkdir("/new")
    _mount("tmpfs", "/new", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
    for directory in ("tmp", "proc", "dev"):
        os.mkdir(f"/new/{directory}", 0o755)
    for device in _DEVICES:
        open(f"/new/dev/{device}", "w").close()
        _mount(f"/old/dev/{device}", f"/new/dev/{device}", None, _MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/new/dev/{name}")
    for path, target in plan["symlinks"]:
        os.makedirs(os.path.dirname(f"/new{path}"), exist_ok=True)
        os.symlink(target, f"/new{path}")
    for source, target in sorted(plan["binds"], key=lambda pair: pair[1]):
        inside = f"/new{target}"
        os.makedirs(os.path.dirname(inside), exist_ok=True)
        if os.path.isdir(f"/old{source}"):
            os.makedirs(inside, exist_ok=True)
        else:
            open(inside, "a").close()
        _mount(f"/old{source}", inside, None, _MS_BIND | _MS_REC)
        _mount(None, inside, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    for target in plan["covers"]:
        _mount("tmpfs", f"/new{target}", "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV, "size=4k,mode=0555")
    _mount(None, "/new", None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    os.chdir("/new")
    _pivot_root(".", ".")
    _umount(".")
    os.chdir("/")


def _enter_root(plan: dict) -> None:
    """Point this interpreter at the minimal root's copies of the standard library and packages."""
    import importlib

    sys.path[:] = plan["sys_path"]
    sys.prefix = sys.base_prefix = sys.exec_prefix = sys.base_exec_prefix = plan["prefix"]
    sys.executable = plan["executable"]
    # Finders that .pth files added (editable installs, setuptools' hacks) point at the host's tree.
    standard = ("_frozen_importlib", "_frozen_importlib_external")
    sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "__module__", "") in standard]
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()
    for module in list(sys.modules.values()):  # so that submodules import and tracebacks show source
        spec = getattr(module, "__spec__", None)
        for old, new in plan["moved"]:
            search = getattr(module, "__path__", None)
            if isinstance(search, list):
                search[:] = [new + p[len(old):] if p.startswith(old + os.sep) else p for p in search]
            path = getattr(module, "__file__", None) or ""
            if path.startswith(old + os.sep):
                moved = new + path[len(old):]
                module.__file__ = moved
                if spec is not None and spec.origin == path:
                    spec.origin = moved
                loader = getattr(module, "__loader__", None)
                if getattr(loader, "path", None) == path:
                    loader.path = moved


# ----- supervisor set-up (once per supervisor) ------------------------------------------


def _weak(isolate: bool, why: str) -> dict[str, str]:
    reason = "isolate=False" if not isolate else why
    return {
        "network": f"NOT isolated ({reason})",
        "filesystem": f"NOT isolated: the host's file system is visible ({reason})",
        "processes": f"NOT isolated: the host's processes are visible ({reason})",
        "syscalls": seccomp_status(),
        "user": f"NOT isolated: the host's uid ({reason})",
    }


def setup_supervisor(isolate: bool, plan: dict | None) -> tuple[dict[str, str], bool]:
    """Put this supervisor in its namespaces and minimal root; return (isolation report, in a PID namespace).

    As root this ends with ``unshare(CLONE_NEWPID)``: the caller must fork,
    and the child (PID 1 of the new namespace) is the supervisor from then on.
    """
    if not isolate:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        return _weak(isolate, ""), False
    if os.geteuid() != 0 or plan is None:  # the host sends a root plan only when it runs as root
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        report = _weak(isolate, "not root: namespaces, mounts and private uids need root; run as root "
                                "or use the docker backend")
        try:
            _unshare(_CLONE_NEWUSER | _CLONE_NEWNET)
            report["network"] = "namespace (unprivileged user namespace)"
        except OSError as exc:
            report["network"] = f"NOT isolated ({exc.strerror}; run as root or use the docker backend)"
        return report, False
    _unshare(_CLONE_NEWNET | _CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWUTS)
    _libc.sethostname(b"sandbox", ctypes.c_size_t(7))  # not the host's name
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    build_root(plan)
    _enter_root(plan)
    _unshare(_CLONE_NEWPID)
    packages = ", ".join(plan["packages"]) or "none"
    return {
        "network": "namespace (no interfaces)",
        "filesystem": (f"minimal root: interpreter, standard library, allowed packages ({packages}), "
                       "their shared libraries, read-only; a private tmpfs /tmp/work per run"),
        "processes": "PID namespace per worker, own /proc (hidepid=2): a run sees only its own processes",
        "syscalls": seccomp_status(),
        "user": "private uid per worker",
    }, True


def _become_namespace_init(lifeline_read: int, lifeline_write: int, keep: tuple[int, ...]) -> None:
    """Fork into the new PID namespace; the parent waits there and relays the child's end.

    The parent (seen by the host) closes every descriptor but the lifeline, so
    that only the child holds the request and reply pipes.
    """
    child = os.fork()
    if child == 0:
        os.close(lifeline_write)
        _die_with_parent(lifeline=lifeline_read)
        os.close(lifeline_read)
        _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "hidepid=2")
        return
    for fd in keep:
        os.close(fd)
    os.close(lifeline_read)
    _, status = os.waitpid(child, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


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
    """Runs in the forked candidate, before the program: session, files, limits, uid, filter."""
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
        _unshare(_CLONE_NEWNS | _CLONE_NEWIPC)  # IPC too: no SysV/POSIX queue outlives the run
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
    _die_with_parent(parent=request["supervisor_pid"])  # after setuid, which clears it
    if request.get("seccomp"):
        install_seccomp()  # last: it refuses mount and unshare, used above
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
           "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    if request.get("private_tmp"):
        env["LD_LIBRARY_PATH"] = f"{SANDBOX_PREFIX}/lib"  # where libpython is, for a child interpreter
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


class HostGone(Exception):
    """The host closed the request pipe (it ended): stop at once."""


def run_one(request: dict, host_fd: int | None = None) -> dict:
    """Fork a candidate for ``request``, supervise it, and return the result dict.

    ``host_fd`` is the request pipe: if the host hangs up while the candidate
    runs, the candidate is killed and :class:`HostGone` raised.
    """
    fds = (_memfd("stdin", request.get("stdin", "").encode("utf-8", errors="replace")),
           _memfd("stdout"), _memfd("stderr"))
    uid = request.get("uid")
    request["supervisor_pid"] = os.getpid()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        _candidate(request, fds)
    timed_out = host_gone = False
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if host_fd is not None:
            poller.register(host_fd, select.POLLHUP)
        deadline = time.monotonic() + float(request["timeout_s"])
        while True:
            left = deadline - time.monotonic()
            events = dict(poller.poll(max(1, int(left * 1000)))) if left > 0 else {}
            if pidfd in events:
                break
            if host_fd in events:
                host_gone = True
                break
            if time.monotonic() >= deadline:
                timed_out = True
                break
    finally:
        os.close(pidfd)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if timed_out or host_gone:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status, usage = os.wait4(pid, 0)
    duration = time.perf_counter() - start
    _reap_strays(uid)
    if host_gone:
        raise HostGone
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


def _receive(fd: int) -> dict:
    (length,) = struct.unpack("<I", _read_exact(fd, 4))
    return json.loads(_read_exact(fd, length))


def _send(fd: int, obj: dict) -> None:
    data = json.dumps(obj).encode()
    os.write(fd, struct.pack("<I", len(data)) + data)


def serve(host_pid: int) -> None:
    """Read a set-up frame, then answer length-prefixed JSON requests on stdin until EOF.

    The set-up frame is ``{"isolate": bool, "root": plan or null}`` (see
    :func:`root_plan`). The first reply says whether the supervisor is ready
    and what isolation is in force.
    """
    _die_with_parent(parent=host_pid)
    requests = os.dup(0)
    replies = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    os.close(null)
    try:
        setup = _receive(requests)
        isolate = bool(setup.get("isolate"))
        lifeline = os.pipe()
        report, new_pid_namespace = setup_supervisor(isolate, setup.get("root"))
        if new_pid_namespace:
            _become_namespace_init(*lifeline, keep=(requests, replies))
        else:
            for fd in lifeline:
                os.close(fd)
        _preimport()
        seccomp = not report["syscalls"].startswith("NOT")
        private_tmp = new_pid_namespace
        _send(replies, {"ready": True, "isolation": report})
    except EOFError:
        return
    except BaseException as exc:
        _send(replies, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    while True:
        try:
            request = _receive(requests)
        except EOFError:
            return
        request["seccomp"] = seccomp
        if not private_tmp:
            request["private_tmp"] = False
        try:
            reply = run_one(request, host_fd=requests)
        except HostGone:
            return
        except BaseException as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        _send(replies, reply)


def once(request: dict) -> None:
    """Run one request and print its result as JSON on stdout (the container entry)."""
    try:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        report = _weak(False, "")
        request["seccomp"] = not report["syscalls"].startswith("NOT")
        reply = run_one(request)
        reply["isolation"] = report
    except BaseException as exc:
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(reply))
    sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and sys.argv[2:3] and sys.argv[2].isdigit():
        serve(host_pid=int(sys.argv[2]))
    elif sys.argv[1:2] == ["plan"]:
        try:
            print(json.dumps(root_plan(json.loads(sys.argv[2]) if sys.argv[2:] else [])))
        except (ValueError, RuntimeError, OSError) as exc:
            print(json.dumps({"error": str(exc)}))
    elif sys.argv[1:2] == ["once"]:
        import base64

        once(json.loads(base64.b64decode("".join(sys.argv[2:]))))
    else:
        sys.exit("usage: runner.py serve <host pid> | plan <JSON list of packages> | once <base64 request>")
