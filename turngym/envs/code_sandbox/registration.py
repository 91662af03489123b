"""Register the CodeSandbox ids (string entry points: importing this stays cheap)."""

from pathlib import Path

from turngym.core.registry import register

_SAMPLE = str(Path(__file__).with_name("data") / "mbpp_sample.jsonl")

register(
    "CodeSandbox-v0",
    "turngym.envs.code_sandbox.env:CodeSandboxEnv",
    "HumanEval (164 tasks): run code in an isolated sandbox, submit to hidden per-test verifiers",
    tasks="humaneval",
)
register(
    "CodeSandbox-MBPP-v0",
    "turngym.envs.code_sandbox.env:CodeSandboxEnv",
    "MBPP-style JSONL tasks (tasks=<path>; a 3-task sample by default), same protocol as CodeSandbox-v0",
    tasks=_SAMPLE,
)
