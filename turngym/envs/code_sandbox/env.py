"""``CodeSandboxEnv``: write code, run it, read what happened, fix it, submit.

Actions (tagged text or OpenAI tool calls; a fenced ```python block inside is
accepted):

- ``<run>code</run>`` / ``run(code=...)``: execute the code as a script, then
  the task's visible examples; the reply shows stdout, stderr or the traceback
  (cut to a readable length, saying what was cut) and which examples passed.
- ``<submit>code</submit>`` / ``submit(code=...)``: judge the code on every
  hidden test, one by one; the episode ends.

Signals (every step): ``valid_action``, ``format``; ``tests_passed`` (share of
visible examples passed at ``run``, of hidden tests at ``submit``);
``ran_ok`` (the code loaded and ran without error); ``evidence_gain`` (how much
the best visible-example share rose this turn); ``dense_reward`` and
``all_passed`` at submit. The outcome at submit is VeRPO's ``alpha * dense +
(1 - alpha) * all_pass`` (see :mod:`turngym.verifiers.unit_tests`). The anchor
is a hash of (task, the normalised code last run), so steps taken after running
the same code modulo comments and formatting share it.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from turngym.core import ParsedCall, ToolSpec, Transition, TurnEnv
from turngym.core.messages import Action, Message, system, user
from turngym.core.pyast import AST_LOCK
from turngym.envs.code_sandbox.harness import Judgement, build_program, new_nonce, read_report
from turngym.envs.code_sandbox.process_backend import SandboxError
from turngym.envs.code_sandbox.sandbox import Sandbox, preflight
from turngym.envs.code_sandbox.tasks import CodeTask, load_humaneval, load_mbpp_jsonl
from turngym.verifiers.unit_tests import PassStatistics, VeRPOReward

_CODE_PARAMETERS = {
    "type": "object",
    "properties": {"code": {"type": "string", "description": "complete Python source"}},
    "required": ["code"],
}
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)

SYSTEM_PROMPT = """You are solving a programming task in Python. Write complete code that defines \
the requested function (include the imports it needs).
Actions, one per turn:
- <run>code</run> runs your code as a script and then the task's examples, and shows you the \
output, errors and which examples passed.
- <submit>code</submit> submits your final code; hidden unit tests judge it and the episode ends.
(With tool calls: run(code=...) and submit(code=...).) You have {max_turns} turns."""


def extract_code(text: str) -> str:
    """The code in an action's argument: the fenced blocks' contents if any, else the text."""
    blocks = _FENCE.findall(text)
    code = "\n".join(blocks) if blocks else text
    return code.strip("\n").rstrip() + "\n" if code.strip() else ""


def normalise_code(code: str) -> str:
    """The code modulo comments, blank lines and formatting (its AST), or its stripped text."""
    try:
        with AST_LOCK:
            return ast.dump(ast.parse(code))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())


def cut(text: str, limit: int, what: str) -> str:
    """``text`` cut to ``limit`` characters (keeping head and tail), saying how much was cut."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 2 // 3], text[-(limit // 3):]
    return f"{head}\n... [{len(text) - len(head) - len(tail)} characters of {what} cut] ...\n{tail}"


class CodeSandboxEnv(TurnEnv):
    """Multi-turn coding tasks judged by hidden unit tests in a sandbox (see module doc).

    Args:
        tasks: ``"humaneval"`` (default), a path to an MBPP-style JSON-lines file, or a
            sequence of :class:`CodeTask`.
        alpha: weight of VeRPO's dense reward in the outcome.
        pass_statistics: running test statistics to share between environments.
        sandbox: a :class:`Sandbox` to use (shared, not closed by the env); by default the
            env starts its own with ``sandbox_backend``, ``timeout_s``, ``memory_mb`` and
            ``sandbox_options`` (more :class:`Sandbox` arguments, e.g. ``{"packages": ["numpy"]}``
            for the packages a program may import, or ``{"allow_weak_isolation": True}``). Where
            the sandbox's integrity cannot hold (not root, no seccomp) the env refuses to be
            built (:class:`SandboxError`) unless ``allow_weak_isolation`` is given.
        test_timeout_s: limit of one test (a looping test fails alone).
        output_chars: how much of stdout / stderr an observation shows.
        max_turns, max_invalid_turns, action_formats, reward_weights, render_mode: see TurnEnv.
    """

    signal_names = ("tests_passed", "ran_ok", "evidence_gain", "dense_reward", "all_passed")
    tools = (
        ToolSpec("run", "Run the code as a script, then the task's visible examples; see the output.",
                 _CODE_PARAMETERS, tag="run"),
        ToolSpec("submit", "Submit the final code to be judged by hidden unit tests (ends the episode).",
                 _CODE_PARAMETERS, tag="submit"),
    )

    def __init__(
        self,
        tasks: str | Sequence[CodeTask] = "humaneval",
        *,
        alpha: float = 0.5,
        pass_statistics: PassStatistics | None = None,
        sandbox: Sandbox | None = None,
        sandbox_backend: str = "pool",
        timeout_s: float = 10.0,
        memory_mb: int = 512,
        sandbox_options: Mapping[str, Any] | None = None,
        test_timeout_s: float = 3.0,
        output_chars: int = 2000,
        max_turns: int = 6,
        **kwargs: Any,
    ) -> None:
        super().__init__(max_turns=max_turns, **kwargs)
        self.tasks = _load_tasks(tasks)
        self._by_id = {t.task_id: t for t in self.tasks}
        self.verifier = VeRPOReward(alpha=alpha, statistics=pass_statistics)
        self._own_sandbox = sandbox is None
        self._sandbox = sandbox
        self._sandbox_args = {"backend": sandbox_backend, "timeout_s": timeout_s, "memory_mb": memory_mb,
                              **dict(sandbox_options or {})}
        if sandbox is None and not self._sandbox_args.get("allow_weak_isolation"):
            gaps = preflight(sandbox_backend, bool(self._sandbox_args.get("isolate", True)))
            if gaps:
                raise SandboxError(f"CodeSandbox refuses to start: {'; '.join(gaps.values())}. Run as root "
                                   "on Linux, use sandbox_backend='docker', or pass "
                                   "sandbox_options={'allow_weak_isolation': True}.")
        self.test_timeout_s = float(test_timeout_s)
        self.output_chars = int(output_chars)
        self._task: CodeTask = self.tasks[0]
        self._code_key = ""
        self._best_visible = 0.0

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox runs go to (started on first use)."""
        if self._sandbox is None:
            self._sandbox = Sandbox(**self._sandbox_args)
        return self._sandbox

    @property
    def task(self) -> CodeTask:
        """The current task."""
        return self._task

    # ----- TurnEnv hooks ------------------------------------------------------------------

    def _reset_task(self, options: Mapping[str, Any]) -> tuple[str, list[Message]]:
        if "task_id" in options:
            task_id = str(options["task_id"])
            if task_id not in self._by_id:
                sample = ", ".join(list(self._by_id)[:3])
                raise ValueError(f"unknown task_id {task_id!r}; this env has {len(self.tasks)} tasks, "
                                 f"e.g. {sample}")
            self._task = self._by_id[task_id]
        else:
            self._task = self.tasks[int(self.np_random.integers(len(self.tasks)))]
        self._code_key = ""
        self._best_visible = 0.0
        task = self._task
        body = (f"Implement `{task.entry_point}`.\n\n```python\n{task.prompt.rstrip()}\n```"
                if task.context else f"{task.prompt.rstrip()}\n\nThe function must be named "
                f"`{task.entry_point}`.")
        if task.examples and not task.context:
            body += "\n\nExamples:\n" + "\n".join(task.examples)
        return task.task_id, [system(SYSTEM_PROMPT.format(max_turns=self.max_turns)), user(body)]

    def _apply(self, calls: list[ParsedCall]) -> Transition:
        call = calls[0]
        raw = call.arguments.get("code")
        code = extract_code(raw) if isinstance(raw, str) else ""
        if not code:
            what = "an empty fenced block" if isinstance(raw, str) and raw.strip() else "no code"
            return self.refuse(
                call,
                f"The {call.name} action contained {what}. Put complete Python code inside it, e.g. "
                f"<{call.name}>def {self._task.entry_point}(...): ...</{call.name}>.",
                "no_code",
            )
        self._code_key = hashlib.sha256(normalise_code(code).encode()).hexdigest()[:16]
        if call.name == "run":
            return self._run(call, code)
        return self._submit(call, code)

    def _anchor(self) -> str:
        return f"{self._task_id}|{self._code_key or 'start'}"

    def oracle_action(self) -> Action | None:
        """Submit the task's reference solution (HumanEval's canonical solution)."""
        if self._task.reference is None:
            return None
        return f"<submit>\n```python\n{self._task.reference.rstrip()}\n```\n</submit>"

    def get_state(self) -> dict[str, Any]:
        """The episode's state (the sandbox holds none between turns)."""
        return {**self.base_state(), "code_key": self._code_key, "best_visible": self._best_visible}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`get_state`."""
        self._task = self._by_id[state["task_id"]]
        self.restore_base_state(state)
        self._code_key, self._best_visible = state["code_key"], state["best_visible"]

    def close(self) -> None:
        """Stop the env's own sandbox workers."""
        if self._own_sandbox and self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        super().close()

    # ----- actions ------------------------------------------------------------------------

    def _judge(self, code: str, tests: Sequence[str], as_main: bool) -> Judgement:
        nonce = new_nonce()
        program = build_program(self._task, code, tests, nonce=nonce, as_main=as_main,
                                test_timeout_s=self.test_timeout_s)
        return read_report(self.sandbox.run(program), nonce, len(tests))

    def _run(self, call: ParsedCall, code: str) -> Transition:
        examples = self._task.examples
        judgement = self._judge(code, examples, as_main=True)
        execution = judgement.execution
        ran_ok = judgement.load_error is None and judgement.problem is None
        parts = [f"Ran your code ({execution.duration_s:.2f} s)."]
        if judgement.stdout:
            parts.append("stdout:\n" + cut(judgement.stdout, self.output_chars, "stdout"))
        if execution.stdout_truncated:
            parts.append(f"(stdout was over the sandbox's {self.sandbox.max_output_bytes} byte limit)")
        if judgement.load_error:
            parts.append("Error:\n" + cut(judgement.load_error, self.output_chars, "the traceback"))
        if judgement.problem:
            parts.append(judgement.problem)
            if execution.stderr.strip():
                parts.append("stderr:\n" + cut(execution.stderr, self.output_chars, "stderr"))
        if examples and judgement.load_error is None and judgement.problem is None:
            lines = [f"Examples: {sum(judgement.passed)}/{len(examples)} passed."]
            for i, (ok, error) in enumerate(zip(judgement.passed, judgement.errors), 1):
                if not ok:
                    lines.append(f"- example {i} ({_example_call(examples[i - 1])}): {error}")
            parts.append(cut("\n".join(lines), self.output_chars, "example results"))
        elif not examples:
            parts.append("(This task has no visible examples; test your function by printing its results.)")
        share = judgement.share if examples else 0.0
        gain = max(0.0, share - self._best_visible)
        self._best_visible = max(self._best_visible, share)
        return Transition(
            [self.reply_to(call, "\n\n".join(parts))],
            {"tests_passed": share, "ran_ok": float(ran_ok), "evidence_gain": gain},
            info={"exec_status": execution.status},
        )

    def _submit(self, call: ParsedCall, code: str) -> Transition:
        tests = self._task.tests
        judgement = self._judge(code, tests, as_main=False)
        score = self.verifier.score(self._task.task_id, judgement.passed)
        passed = sum(judgement.passed)
        text = f"Submitted. Hidden tests passed: {passed}/{len(tests)}."
        if judgement.load_error:
            text += "\nYour code did not load:\n" + cut(judgement.load_error, self.output_chars, "the error")
        elif judgement.problem:
            text += "\n" + judgement.problem
        ran_ok = judgement.load_error is None and judgement.problem is None
        return Transition(
            [self.reply_to(call, text)],
            {"tests_passed": score.share, "ran_ok": float(ran_ok), "dense_reward": score.dense,
             "all_passed": score.all_pass},
            terminated=True,
            outcome=score.outcome,
            info={"test_results": list(judgement.passed), "exec_status": judgement.execution.status},
        )


def _example_call(example: str) -> str:
    first = example.splitlines()[0] if example else ""
    return first.removeprefix("got = ")[:200]


def _load_tasks(tasks: str | Sequence[CodeTask]) -> list[CodeTask]:
    if isinstance(tasks, str):
        loaded = load_humaneval() if tasks == "humaneval" else load_mbpp_jsonl(tasks)
    else:
        loaded = list(tasks)
        bad = [t for t in loaded if not isinstance(t, CodeTask)]
        if bad:
            raise TypeError(f"tasks must be CodeTask objects, got {type(bad[0]).__name__}")
    if not loaded:
        raise ValueError("no tasks: give 'humaneval', an MBPP-style JSONL path, or a list of CodeTask")
    return loaded
