"""``Sandbox``: run an untrusted Python program with limits, on one of several backends.

>>> from turngym.envs.code_sandbox import Sandbox
>>> with Sandbox(timeout_s=2) as sandbox:          # doctest: +SKIP
...     result = sandbox.run("print(input()[::-1])", stdin="abc")
>>> result.status, result.stdout                    # doctest: +SKIP
('ok', 'cba\\n')

Backends, one interface:

- ``"process"`` (default): a fresh interpreter per run; see ``runner.py`` for
  what confines it (a minimal root holding only the interpreter, its standard
  library and the allowed ``packages``; network, mount and PID namespaces;
  a seccomp filter; private uid, rlimits, own session, scrubbed environment).
- ``"pool"``: ``workers`` pre-started interpreters that fork a fresh, equally
  confined process per run: the same isolation without the start-up cost.
- ``"docker"``: a throw-away container per run (needs a Docker engine and the
  minimal image of ``docker/sandbox.Dockerfile``).

``sandbox.isolation`` says in words, per guarantee (``network``,
``filesystem``, ``processes``, ``syscalls``, ``user``), what confinement is in
effect; a value starting with ``NOT`` is a guarantee that does not hold here.
A sandbox with such a gap refuses to start (:class:`SandboxError`) unless
``allow_weak_isolation=True`` is given, in which case it warns loudly. No
sandbox process outlives the process that started it, however that ends.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from turngym.envs.code_sandbox.process_backend import SandboxError
from turngym.envs.code_sandbox.result import ExecResult, classify

BACKENDS: tuple[str, ...] = ("process", "pool", "docker")
GUARANTEES: tuple[str, ...] = ("network", "filesystem", "processes", "syscalls", "user")
"""The keys of :attr:`Sandbox.isolation`, one per integrity guarantee."""

_log = logging.getLogger(__name__)


def weaknesses(isolation: dict[str, str]) -> dict[str, str]:
    """The guarantees of an ``isolation`` report that do not hold (missing ones count as not holding)."""
    return {key: isolation.get(key, "NOT reported") for key in GUARANTEES
            if isolation.get(key, "NOT").startswith("NOT")}


def preflight(backend: str, isolate: bool = True) -> dict[str, str]:
    """The guarantees a ``process`` or ``pool`` sandbox cannot give here, known without starting one.

    Lets an environment refuse at construction rather than at its first run;
    the started sandbox's own :attr:`Sandbox.isolation` remains the authority.
    """
    if backend == "docker" or not isolate:
        return {}
    from turngym.envs.code_sandbox.process_backend import running_as_root
    from turngym.envs.code_sandbox.runner import seccomp_status

    gaps = {}
    if not running_as_root():
        why = "NOT isolated: namespaces, a minimal root and private uids need root on Linux"
        gaps = dict.fromkeys(("filesystem", "processes", "user"), why)
    if seccomp_status().startswith("NOT"):
        gaps["syscalls"] = seccomp_status()
    return gaps


class Sandbox:
    """Runs Python programs in isolation.

    Args:
        backend: ``"process"``, ``"pool"`` or ``"docker"``.
        timeout_s: wall-clock limit of one run (CPU time is limited to about the same).
        memory_mb: address-space (process backends) or memory (docker) limit.
        max_output_bytes: stdout and stderr are each cut at this size.
        max_file_mb: largest file (and total output) a program may write; beyond it the
            program is killed (status ``"killed"``).
        max_processes: processes and threads a program may have at once.
        workers: concurrent workers of the ``pool`` backend (and of :meth:`run_many`).
        packages: installed packages (top-level import names, e.g. ``("numpy",)``) a program may
            import besides the standard library; with their own dependencies listed too. The
            default, none, is what HumanEval- and MBPP-style tasks need.
        allow_weak_isolation: start (warning loudly) even where an integrity guarantee does not
            hold (no root, no seccomp, ``isolate=False``); by default such a sandbox refuses to
            start with :class:`SandboxError`.
        isolate: set False only to debug: no namespaces, no minimal root, no private uid (implies
            ``allow_weak_isolation``).
        python: interpreter for the process backends (default: this one).
        docker_image, docker_client: for the docker backend (see ``docker_backend.py``).
    """

    def __init__(
        self,
        backend: str = "process",
        *,
        timeout_s: float = 10.0,
        memory_mb: int = 512,
        max_output_bytes: int = 1 << 20,
        max_file_mb: int = 16,
        max_processes: int = 32,
        workers: int = 1,
        packages: Iterable[str] = (),
        allow_weak_isolation: bool = False,
        isolate: bool = True,
        python: str | None = None,
        docker_image: str | None = None,
        docker_client: Any = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown sandbox backend {backend!r}; accepted: {', '.join(BACKENDS)}")
        for name, value in (("timeout_s", timeout_s), ("memory_mb", memory_mb),
                            ("max_output_bytes", max_output_bytes), ("max_file_mb", max_file_mb),
                            ("max_processes", max_processes), ("workers", workers)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        self.backend_name = backend
        self.timeout_s = float(timeout_s)
        self.memory_mb = int(memory_mb)
        self.max_output_bytes = int(max_output_bytes)
        self.max_file_mb = int(max_file_mb)
        self.max_processes = int(max_processes)
        self.workers = int(workers)
        if isinstance(packages, str):
            raise ValueError(f"packages must be a list of import names, e.g. ['numpy'], got {packages!r}")
        self.packages = tuple(packages)
        self._backend: Any
        if backend == "process":
            from turngym.envs.code_sandbox.process_backend import ProcessBackend

            self._backend = ProcessBackend(python=python, isolate=isolate, packages=self.packages)
        elif backend == "pool":
            from turngym.envs.code_sandbox.pool import PoolBackend

            self._backend = PoolBackend(workers=self.workers, python=python, isolate=isolate,
                                        packages=self.packages)
        else:
            from turngym.envs.code_sandbox.docker_backend import DockerBackend

            self._backend = DockerBackend(image=docker_image, client=docker_client, packages=self.packages)
        self.isolation: dict[str, str] = dict(self._backend.isolation)
        gaps = weaknesses(self.isolation)
        if gaps:
            text = "; ".join(f"{key}: {value}" for key, value in gaps.items())
            if not (allow_weak_isolation or not isolate):
                self._backend.close()
                raise SandboxError(
                    f"the {backend} sandbox cannot guarantee its integrity here ({text}). Run as root on "
                    "Linux, use backend='docker', or pass allow_weak_isolation=True to run anyway.")
            message = f"SANDBOX INTEGRITY NOT GUARANTEED ({backend} backend): {text}"
            _log.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def run(self, program: str, stdin: str = "", *, timeout_s: float | None = None) -> ExecResult:
        """Run ``program`` (Python source) with ``stdin``; never raises for what the program does."""
        if not isinstance(program, str):
            raise TypeError(f"program must be a str of Python source, got {type(program).__name__}")
        if not isinstance(stdin, str):
            raise TypeError(f"stdin must be a str, got {type(stdin).__name__}")
        timeout = self.timeout_s if timeout_s is None else float(timeout_s)
        request = {
            "program": program,
            "stdin": stdin,
            "timeout_s": timeout,
            "cpu_s": math.ceil(timeout) + 1,
            "memory_bytes": self.memory_mb << 20,
            "fsize_bytes": self.max_file_mb << 20,
            "nproc": self.max_processes,
            "output_bytes": self.max_output_bytes,
        }
        raw = self._backend.execute(request)
        return classify(raw, timeout_s=timeout, memory_mb=self.memory_mb)

    def run_many(self, programs: Iterable[str], *, timeout_s: float | None = None) -> list[ExecResult]:
        """Run several programs, ``workers`` at a time; results in the programs' order."""
        items = list(programs)
        if self.workers == 1 or len(items) < 2:
            return [self.run(p, timeout_s=timeout_s) for p in items]
        with ThreadPoolExecutor(self.workers) as executor:
            return list(executor.map(lambda p: self.run(p, timeout_s=timeout_s), items))

    def close(self) -> None:
        """Stop the backend's workers (idempotent)."""
        self._backend.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Sandbox(backend={self.backend_name!r}, timeout_s={self.timeout_s:g}, "
                f"memory_mb={self.memory_mb}, workers={self.workers})")
