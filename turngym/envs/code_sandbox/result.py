"""What running a program in the sandbox gives back: :class:`ExecResult`, and how a
supervisor's raw report (exit status, timeout flag, output) becomes one."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "memory", "killed")
MEMORY_EXIT = 201  # keep in sync with runner.MEMORY_EXIT (runner.py must stay stdlib-only)


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one sandboxed run.

    ``status`` is one of :data:`STATUSES`: ``"ok"`` (exit code 0), ``"error"``
    (non-zero exit, e.g. an uncaught exception), ``"timeout"`` (wall clock or CPU
    time limit), ``"memory"`` (the memory limit) and ``"killed"`` (any other
    signal, e.g. the output/file size limit). ``reason`` says in words why a run
    that is not ``"ok"`` ended. ``stdout``/``stderr`` are cut at the sandbox's
    ``max_output_bytes`` (``*_truncated`` tells).
    """

    status: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    reason: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        """True when the program exited with code 0 within its limits."""
        return self.status == "ok"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def classify(raw: dict[str, Any], *, timeout_s: float, memory_mb: int) -> ExecResult:
    """Turn a supervisor's report into an :class:`ExecResult` with status and reason."""
    if "error" in raw:
        return ExecResult("killed", None, "", "", 0.0, reason=f"sandbox failure: {raw['error']}")
    code = raw.get("exit_code")
    stderr = raw.get("stderr", "")
    if raw.get("timed_out"):
        status, reason = "timeout", f"wall-clock limit of {timeout_s:g} s reached"
    elif code is not None and code < 0:
        sig = -code
        if sig == signal.SIGXCPU:
            status, reason = "timeout", "CPU time limit reached"
        elif sig == signal.SIGXFSZ:
            status, reason = "killed", "output or file size limit exceeded"
        elif sig == signal.SIGKILL:
            status, reason = "killed", "killed (SIGKILL)"
        else:
            status, reason = "killed", f"killed by {_signal_name(sig)}"
    elif code == MEMORY_EXIT or (code not in (0, None) and "MemoryError" in stderr[-2000:]):
        status, reason = "memory", f"memory limit of {memory_mb} MB reached"
    elif code == 0:
        status, reason = "ok", ""
    else:
        status, reason = "error", f"exited with code {code}"
        if "BlockingIOError" in stderr[-2000:]:
            reason += " (process limit reached)"
    return ExecResult(
        status=status,
        exit_code=code,
        stdout=raw.get("stdout", ""),
        stderr=stderr,
        duration_s=float(raw.get("duration_s", 0.0)),
        reason=reason,
        stdout_truncated=bool(raw.get("stdout_truncated")),
        stderr_truncated=bool(raw.get("stderr_truncated")),
        extra={"cpu_s": raw.get("cpu_s")},
    )
