"""Rollout throughput: SmolLM2-135M on CPU, 8 episodes batched vs one episode at a time.

Both runs use the same tasks, sampling and collector; "batched" steps all 8 episodes with one
``policy.generate`` per turn, "sequential" collects the episodes one after another. Tokens are
sampled action tokens. Prints one JSON line.

    .venv/bin/python benchmarks/rollout.py [--episodes 8] [--turns 3] [--max-new-tokens 32] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.toy_envs import GuessNumberEnv
from turngym.agents.models import smollm2_135m
from turngym.agents.policy import SamplingParams
from turngym.rollout import collect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch intra-op threads (default: torch's own, one per core; "
                             "use 1 on a machine shared with other jobs)")
    parser.add_argument("--prepack", choices=("auto", "on", "off"), default="auto",
                        help="HFPolicy's cpu_prepack (oneDNN-prepacked linear weights)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    policy = smollm2_135m(device="cpu")
    policy.cpu_prepack = {"auto": None, "on": True, "off": False}[args.prepack]
    sampling = SamplingParams(temperature=0.9, max_new_tokens=args.max_new_tokens, seed=0, stop=("</guess>",))
    groups = max(1, args.episodes // args.group_size)
    tasks = [{"options": {"task_id": f"n-{3 + 5 * g}"}} for g in range(groups)]

    def make() -> GuessNumberEnv:
        return GuessNumberEnv(max_turns=args.turns)

    collect(make, policy, tasks[:1], sampling=sampling, progress=False)  # warm-up
    policy.clear_prefix_cache()
    start, cpu_start = time.perf_counter(), time.process_time()
    batched = collect(make, policy, tasks, group_size=args.group_size, sampling=sampling, progress=False)
    batched_s, batched_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    policy.clear_prefix_cache()
    start, cpu_start = time.perf_counter(), time.process_time()
    sequential = []
    for task in tasks:
        for j in range(args.group_size):
            seeded = SamplingParams(**{**sampling.__dict__, "seed": 1000 * j})
            sequential += collect(make, policy, [task], sampling=seeded, progress=False)
    sequential_s, sequential_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start

    def tokens(records: list) -> int:
        return sum(len(t.action_ids) for r in records for t in r.turns)

    batched_tps = tokens(batched) / batched_s
    sequential_tps = tokens(sequential) / sequential_s
    print(json.dumps({
        "episodes": len(batched),
        "batched_tokens_per_s": round(batched_tps, 2),
        "sequential_tokens_per_s": round(sequential_tps, 2),
        "speedup": round(batched_tps / sequential_tps, 2),
        "batched_tokens": tokens(batched), "sequential_tokens": tokens(sequential),
        "batched_s": round(batched_s, 2), "sequential_s": round(sequential_s, 2),
        # CPU seconds of this process: with --threads 1 a check that is steadier than wall time
        # on a machine shared with other jobs
        "cpu_time_speedup": round(
            (tokens(batched) / batched_cpu_s) / (tokens(sequential) / sequential_cpu_s), 2
        ),
        "turns": args.turns, "max_new_tokens": args.max_new_tokens, "threads": args.threads,
        "prepack": args.prepack,
    }))


if __name__ == "__main__":
    main()
