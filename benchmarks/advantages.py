"""Time every advantage estimator on 1,000,000 turns in 100,000 episodes.

Groups of 8 episodes, ragged lengths 1..19 (mean exactly 10), rows shuffled, string
anchors: 20% of turns take one of two state keys their group shares at that turn index
(the same state reached by several episodes; ``repeated_anchor_fraction`` reports the share
of turns whose anchor pool really has 2+ members), the rest a key of their own; info gain
and entropy on every turn.

Prints one JSON line: ``{"turns", "episodes", "seconds": {estimator: best of N},
"batch_build_s", ...}``. ``batch_build_s`` is the one-off cost of ``TurnBatch(...)`` from
Python lists of string anchors (validation, canonical ordering, factorising the anchors),
which every estimator call then reuses; ``seconds`` are per call on the built batch.
GiGPO's similarity grouping of text anchors is a Python loop over distinct anchors, so it
is timed separately on a batch 100 times smaller (``gigpo_similarity_small``).

    .venv/bin/python benchmarks/advantages.py [--episodes 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from turngym.trainers.advantages import (
    SIMILARITY_THRESHOLD,
    TurnBatch,
    aem,
    combine,
    empg,
    estimate,
)

GROUP_SIZE = 8
MEAN_LENGTH = 10
SHARED_ANCHOR_FRACTION = 0.2


def make_inputs(n_episodes: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    half = n_episodes // 2
    offsets = rng.integers(-(MEAN_LENGTH - 1), MEAN_LENGTH, size=half)
    lengths = MEAN_LENGTH + np.concatenate([offsets, -offsets, [0] * (n_episodes % 2)])
    lengths = rng.permutation(lengths).astype(np.int64)  # 1..19, mean exactly 10
    n = int(lengths.sum())

    episode = np.repeat(np.arange(n_episodes), lengths)
    group = episode // GROUP_SIZE
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    turn = np.arange(n) - np.repeat(starts, lengths)
    last = turn == lengths[episode] - 1

    rewards = np.where(last, rng.integers(0, 2, n), 0.0) + 0.1 * rng.standard_normal(n)
    info_gain = rng.normal(0.0, 0.2, n)
    entropy = rng.gamma(2.0, 0.5, n)
    # 20% of turns share their state with exactly one other turn of the group (pairs taken
    # in order, across episodes or within one); the rest have a state of their own.
    shared = rng.random(n) < SHARED_ANCHOR_FRACTION
    before = np.cumsum(shared) - shared  # shared turns before this row
    group_first = np.concatenate(([0], np.flatnonzero(np.diff(group)) + 1))
    rank_in_group = before - np.repeat(before[group_first], np.diff(np.append(group_first, n)))
    pair = rank_in_group // 2
    anchors = [
        f"task{g}/state-shared-{p}/look" if s else f"task{g}/episode{e}/turn{t}/look"
        for g, e, t, s, p in zip(
            group.tolist(), episode.tolist(), turn.tolist(), shared.tolist(), pair.tolist()
        )
    ]
    perm = rng.permutation(n)
    return {
        "group_ids": group[perm],
        "episode_ids": episode[perm],
        "turn_index": turn[perm],
        "rewards": rewards[perm],
        "anchors": [anchors[i] for i in perm],
        "info_gain": info_gain[perm],
        "entropy": entropy[perm],
    }


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(min(times), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    inputs = make_inputs(args.episodes)
    group_ids, episode_ids, turn_index, rewards = (
        inputs.pop(k) for k in ("group_ids", "episode_ids", "turn_index", "rewards")
    )
    build = {}

    def build_batch() -> None:
        build["batch"] = TurnBatch(group_ids, episode_ids, turn_index, rewards, **inputs)

    build_s = best_of(args.repeats, build_batch)
    batch = build["batch"]

    mix = combine([(1.0, "grpo", {}), (0.5, "mt_grpo", {})])
    # Tree estimators read node ids: episodes of a group share their first turn in pairs.
    nodes = [
        f"{g}/{e // 2}" if t == 0 else f"{g}/{e}/{t}"
        for g, e, t in zip(group_ids, episode_ids, turn_index)
    ]
    tree_batch = TurnBatch(group_ids, episode_ids, turn_index, rewards, **inputs, node_ids=nodes)
    calls = {
        "grpo": lambda: estimate("grpo", batch),
        "rloo": lambda: estimate("rloo", batch),
        "turn_discounted": lambda: estimate("turn_discounted", batch, gamma=0.95),
        "gigpo": lambda: estimate("gigpo", batch),
        "igpo": lambda: estimate("igpo", batch),
        "igpo_separate": lambda: estimate("igpo", batch, mode="separate"),
        "a2tgpo": lambda: estimate("a2tgpo", batch),
        "mapo": lambda: estimate("mapo", batch),
        "mt_grpo": lambda: estimate("mt_grpo", batch),
        "matchtir": lambda: estimate("matchtir", batch),
        "gigpo_min_form": lambda: estimate("gigpo", batch, return_form="min"),
        "combine": lambda: mix(batch),
        "tempo": lambda: estimate("tempo", tree_batch),
        "tree_step": lambda: estimate("tree_step", tree_batch),
    }
    seconds = {name: best_of(args.repeats, call) for name, call in calls.items()}
    grpo_result = estimate("grpo", batch)
    seconds["empg"] = best_of(args.repeats, lambda: empg(grpo_result, batch))
    seconds["aem"] = best_of(args.repeats, lambda: aem(grpo_result, batch))
    sizes = estimate("gigpo", batch).diagnostics["anchor_group_sizes"]
    repeated = sum(size * count for size, count in sizes.items() if size > 1) / batch.n_turns

    small = TurnBatch(**make_inputs(max(args.episodes // 100, GROUP_SIZE), seed=1))
    similarity_s = best_of(
        1, lambda: estimate("gigpo", small, similarity_threshold=SIMILARITY_THRESHOLD)
    )

    print(
        json.dumps(
            {
                "turns": batch.n_turns,
                "episodes": batch.n_episodes,
                "groups": batch.n_groups,
                "seconds": seconds,
                "batch_build_s": build_s,
                "repeated_anchor_fraction": round(repeated, 4),
                "gigpo_similarity_small": {"turns": small.n_turns, "seconds": similarity_s},
                "timing": f"best of {args.repeats}, rows shuffled, string anchors",
                "machine": f"{platform.machine()}, {os.cpu_count()} cpus, numpy {np.__version__}",
            }
        )
    )


if __name__ == "__main__":
    main()
