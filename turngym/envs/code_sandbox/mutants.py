"""Wrong-on-purpose variants of reference solutions, to check that verifiers reject them.

:func:`corrupting_suffix` is code appended after a solution that rebinds the
entry point to a wrapper returning a wrong value of the same kind (a negated
bool, a number plus one, a string with an extra character, a sequence with an
extra element), so every test that checks a returned value fails.
"""

from __future__ import annotations

from turngym.envs.code_sandbox.tasks import CodeTask

_SUFFIX = '''

def _tg_corrupt(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "#"
    if isinstance(value, list):
        return value + [None]
    if isinstance(value, tuple):
        return value + (None,)
    if value is None:
        return 0
    return None

_tg_original = {entry}

def {entry}(*args, **kwargs):
    return _tg_corrupt(_tg_original(*args, **kwargs))
'''


def corrupting_suffix(entry_point: str) -> str:
    """Module-level code that makes ``entry_point`` return wrong values."""
    return _SUFFIX.format(entry=entry_point)


def broken_solution(task: CodeTask) -> str:
    """The task's reference solution made wrong (needs ``task.reference``)."""
    if task.reference is None:
        raise ValueError(f"task {task.task_id} has no reference solution to break")
    return task.reference + corrupting_suffix(task.entry_point)
