"""Judging a candidate: build the program that runs its tests one by one, and read its report.

The program executes the task's context, then the candidate's code, checks
that the entry point was defined, then runs each test in its own ``try`` with
its own time limit, so one failing, crashing or looping test does not take the
others down. The report is one line on stdout prefixed by a random nonce, so
that what the candidate prints cannot be mistaken for it (the harness is not
meant to resist code that inspects the harness itself; the sandbox contains
whatever such code does).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from turngym.envs.code_sandbox.result import ExecResult
from turngym.envs.code_sandbox.tasks import CodeTask

_TEMPLATE = '''\
import json as _tg_json, os as _tg_os, signal as _tg_signal, sys as _tg_sys, io as _tg_io
import traceback as _tg_traceback
_tg_out = _tg_os.dup(1)
_tg_report = {{"load_error": None, "results": []}}
class _TgTimeout(Exception):
    pass
def _tg_alarm(signum, frame):
    raise _TgTimeout()
def _tg_emit():
    _tg_os.write(_tg_out, ({nonce!r} + _tg_json.dumps(_tg_report) + "\\n").encode())
def _tg_error(exc, skip):
    tb = exc.__traceback__
    for _ in range(skip):
        tb = tb.tb_next if tb is not None else None
    text = "".join(_tg_traceback.format_exception(type(exc), exc, tb))
    return text[-{error_chars}:]
_tg_ns = {{"__name__": {module_name!r}, "__builtins__": __builtins__}}
try:
    exec(compile({context!r}, "<task>", "exec"), _tg_ns)
except BaseException as _tg_exc:
    _tg_report["load_error"] = "the task's own set-up failed: " + _tg_error(_tg_exc, 1)
_tg_stub = _tg_ns.get({entry!r})
if _tg_report["load_error"] is None:
    try:
        exec(compile({code!r}, "main.py", "exec"), _tg_ns)
    except SyntaxError as _tg_exc:
        _tg_report["load_error"] = _tg_error(_tg_exc, 99)
    except BaseException as _tg_exc:
        _tg_report["load_error"] = _tg_error(_tg_exc, 1)
    _tg_sys.stdout.flush()
if _tg_report["load_error"] is None:
    _tg_fn = _tg_ns.get({entry!r})
    if _tg_fn is None or _tg_fn is _tg_stub:
        _tg_report["load_error"] = "your code does not define {entry}; define it (e.g. def {entry}(...): ...)"
    elif not callable(_tg_fn):
        _tg_report["load_error"] = ("{entry} is defined but is not callable (it is a "
                                    + type(_tg_fn).__name__ + ")")
if _tg_report["load_error"] is None:
    _tg_real_stdout = _tg_sys.stdout
    try:
        exec(compile({test_setup!r}, "<tests>", "exec"), _tg_ns)
    except BaseException as _tg_exc:
        _tg_report["load_error"] = "the test set-up failed: " + _tg_error(_tg_exc, 1)
    _tg_signal.signal(_tg_signal.SIGALRM, _tg_alarm)
    for _tg_i, _tg_src in enumerate({tests!r} if _tg_report["load_error"] is None else []):
        if {capture!r}:  # judging: what tests print is not shown to anyone
            _tg_sys.stdout = _tg_io.StringIO()
        try:
            _tg_signal.setitimer(_tg_signal.ITIMER_REAL, {test_timeout_s!r})
            _tg_body = "".join("    " + l + "\\n" for l in _tg_src.splitlines())
            exec(compile("def _tg_case(candidate):\\n" + _tg_body, "<test %d>" % _tg_i, "exec"), _tg_ns)
            _tg_ns["_tg_case"](_tg_fn)
            _tg_signal.setitimer(_tg_signal.ITIMER_REAL, 0)
            _tg_report["results"].append([True, ""])
        except _TgTimeout:
            _tg_report["results"].append([False, "timed out after {test_timeout_s}s"])
        except AssertionError as _tg_exc:
            _tg_report["results"].append([False, ("assertion failed: " + str(_tg_exc))[:{error_chars}]])
        except BaseException as _tg_exc:
            _tg_signal.setitimer(_tg_signal.ITIMER_REAL, 0)
            _tg_text = type(_tg_exc).__name__ + ": " + str(_tg_exc)
            _tg_report["results"].append([False, _tg_text[:{error_chars}]])
        finally:
            _tg_signal.setitimer(_tg_signal.ITIMER_REAL, 0)
            _tg_sys.stdout = _tg_real_stdout
_tg_emit()
'''


def build_program(
    task: CodeTask,
    code: str,
    tests: Sequence[str],
    *,
    nonce: str,
    as_main: bool = False,
    test_timeout_s: float = 3.0,
    error_chars: int = 1500,
) -> str:
    """The program that loads ``code`` for ``task`` and runs ``tests`` one by one.

    ``as_main`` runs the candidate as ``__main__`` (its ``if __name__ ==
    "__main__":`` block runs: what the agent wants from ``run``); judging runs
    it as a module so that such blocks (e.g. waiting on ``input()``) do not run,
    and discards what the tests make it print.
    """
    return _TEMPLATE.format(
        nonce=nonce,
        module_name="__main__" if as_main else "candidate",
        context=task.context,
        entry=task.entry_point,
        code=code,
        test_setup=task.test_setup,
        tests=list(tests),
        test_timeout_s=float(test_timeout_s),
        error_chars=int(error_chars),
        capture=not as_main,
    )


def new_nonce() -> str:
    """A marker the candidate cannot guess, opening the report line."""
    return f"@@turngym-report-{secrets.token_hex(12)}@@"


@dataclass(frozen=True)
class Judgement:
    """Per-test results of one candidate: ``passed[i]``/``errors[i]`` for test ``i``.

    ``load_error`` says why no test could run (the code did not load, the entry
    point is missing) and ``problem`` why there is no report at all (the program
    was stopped by a limit, or exited before reporting). ``stdout`` is what the
    candidate printed, without the report.
    """

    passed: tuple[bool, ...]
    errors: tuple[str, ...]
    load_error: str | None
    problem: str | None
    stdout: str
    execution: ExecResult

    @property
    def share(self) -> float:
        """Share of tests passed (0.0 for no tests)."""
        return sum(self.passed) / len(self.passed) if self.passed else 0.0


def read_report(result: ExecResult, nonce: str, n_tests: int) -> Judgement:
    """Parse the harness's report from ``result``; tests without a result count as failed."""
    stdout_lines = []
    report = None
    for line in result.stdout.splitlines(keepends=True):
        if line.startswith(nonce):
            try:
                report = json.loads(line[len(nonce):])
            except json.JSONDecodeError:
                report = None
        else:
            stdout_lines.append(line)
    stdout = "".join(stdout_lines)
    if report is None:
        if result.status == "ok":
            problem = "the program exited before the tests could report (did it call os._exit?)"
        else:
            problem = f"the program was stopped: {result.status} ({result.reason})"
        return Judgement((False,) * n_tests, (problem,) * n_tests, None, problem, stdout, result)
    results = list(report.get("results", []))[:n_tests]
    passed = [bool(r[0]) for r in results] + [False] * (n_tests - len(results))
    errors = [str(r[1]) for r in results]
    load_error = report.get("load_error")
    errors += [load_error or "not run"] * (n_tests - len(errors))
    return Judgement(tuple(passed), tuple(errors), load_error, None, stdout, result)
