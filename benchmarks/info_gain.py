"""Belief-gain scoring: one packed forward pass per episode vs one pass per turn (SmolLM2, CPU).

For T = 2, 4, 8 an episode of T turns is collected with SmolLM2-135M, then scored both ways; the
best of ``--repeats`` timings is kept, and the two results are checked to agree within 1e-4.
Prints one JSON line.

    .venv/bin/python benchmarks/info_gain.py [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.toy_envs import GuessNumberEnv
from turngym.agents.models import smollm2_135m
from turngym.agents.policy import SamplingParams
from turngym.rollout import collect
from turngym.verifiers.info_gain import BeliefGainScorer


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch intra-op threads (default: torch's own, one per core; "
                             "use 1 on a machine shared with other jobs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    policy = smollm2_135m(device="cpu")
    scorer = BeliefGainScorer(policy.model, policy.tokenizer)
    sampling = SamplingParams(temperature=0.9, max_new_tokens=24, seed=0, stop=("</guess>",))
    results = []
    for turns in (2, 4, 8):
        # a target the model will not hit by chance, so the episode runs all T turns
        record = collect(
            lambda t=turns: GuessNumberEnv(high=1000, max_turns=t, max_invalid_turns=t),
            policy, [{"options": {"task_id": "n-777"}}], sampling=sampling, progress=False,
        )[0]
        assert len(record.turns) == turns, f"episode ended after {len(record.turns)} turns"
        packed_s, packed = best_time(lambda r=record: scorer.score(r), args.repeats)
        per_turn_s, reference = best_time(lambda r=record: scorer.score_per_turn(r), args.repeats)
        error = float(np.abs(packed.p - reference.p).max())
        results.append({
            "turns": turns, "tokens": len(record.token_ids()), "packed_s": round(packed_s, 4),
            "per_turn_s": round(per_turn_s, 4), "speedup": round(per_turn_s / packed_s, 2),
            "max_abs_diff_p": error,
        })
    print(json.dumps({"results": results, "threads": args.threads}))


if __name__ == "__main__":
    main()
