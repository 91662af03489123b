"""CodeSandbox: multi-turn coding with isolated execution and per-test verifiers.

``Sandbox`` (usable on its own) runs untrusted programs; ``CodeSandboxEnv`` is
the environment (registered as ``turngym/CodeSandbox-v0`` and
``turngym/CodeSandbox-MBPP-v0``).
"""

from turngym.envs.code_sandbox.process_backend import SandboxError
from turngym.envs.code_sandbox.result import STATUSES, ExecResult
from turngym.envs.code_sandbox.sandbox import BACKENDS, Sandbox

__all__ = ["BACKENDS", "STATUSES", "ExecResult", "Sandbox", "SandboxError"]
