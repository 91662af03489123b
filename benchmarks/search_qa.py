"""SearchQA performance on a generated 100,000-passage world; prints one JSON object.

Measures, in one process:
- ``world_gen_s``: generating the world (entities, pages, distractors);
- ``index_build_s``: building the BM25 index from scratch (and writing its cache);
- ``index_load_s``: loading that cached index again (what a second start does);
- ``second_start_s``: a whole second ``gymnasium.make`` of the same world in a fresh process;
- ``retrieval_p50_ms`` / ``retrieval_p99_ms``: BM25 top-k latency over the tasks' oracle queries;
- ``env_steps_per_s``: ``env.step`` rate with the scripted oracle (searches and answers) and a
  random agent's text actions, top-k passages per search.

Usage: ``python benchmarks/search_qa.py [--level huge] [--top-k 5] [--episodes 300]``. The
index cache goes to a fresh temporary directory unless ``--cache-dir`` is given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="huge")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="turngym-bench-")
    try:
        run(args, cache_dir)
    finally:
        if args.cache_dir is None:
            shutil.rmtree(cache_dir, ignore_errors=True)


def run(args: argparse.Namespace, cache_dir: str) -> None:
    """Measure everything and print the JSON (see the module docstring)."""

    import gymnasium as gym

    import turngym  # noqa: F401  (registers the ids)
    from turngym.agents.scripted import OracleAgent, RandomAgent
    from turngym.envs.search_qa.retrieval import BM25Retriever
    from turngym.envs.search_qa.world import LEVELS, generate_world

    t0 = time.perf_counter()
    world = generate_world(replace(LEVELS[args.level], seed=0))
    world_gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    built = BM25Retriever.for_corpus(world.corpus, cache_dir)
    index_build_s = time.perf_counter() - t0
    assert built.source == "built"
    t0 = time.perf_counter()
    loaded = BM25Retriever.for_corpus(world.corpus, cache_dir)
    index_load_s = time.perf_counter() - t0
    assert loaded.source == "cache"

    env = gym.make(f"turngym/SearchQA-{args.level.capitalize()}-v0", cache_dir=cache_dir, top_k=args.top_k)
    inner = env.unwrapped
    queries = [q for t in inner.tasks[:500] for q in t.chain] + [t.question for t in inner.tasks[:500]]
    for q in queries[:50]:
        inner.retriever.search(q, args.top_k)
    latencies = []
    for q in queries:
        t0 = time.perf_counter()
        inner.retriever.search(q, args.top_k)
        latencies.append((time.perf_counter() - t0) * 1000)

    steps, elapsed = 0, 0.0
    outcomes = []
    for agent in (OracleAgent(), RandomAgent(seed=0)):
        for episode in range(args.episodes):
            agent.reset(episode)
            _, info = env.reset(seed=episode)
            history: list = []
            done = False
            while not done:
                action = agent.act(history, env)
                t0 = time.perf_counter()
                _, _, terminated, truncated, info = env.step(action)
                elapsed += time.perf_counter() - t0
                steps += 1
                done = terminated or truncated
            if agent.name == "oracle":
                outcomes.append(info.get("outcome", 0.0))

    second = subprocess.run(
        [sys.executable, "-c",
         "import time; t=time.perf_counter(); import gymnasium as gym, turngym; "
         f"e=gym.make('turngym/SearchQA-{args.level.capitalize()}-v0', cache_dir={cache_dir!r}); "
         "assert e.unwrapped.retriever.source == 'cache'; print(time.perf_counter()-t)"],
        capture_output=True, text=True, check=True,
    )
    print(json.dumps({
        "level": args.level,
        "corpus_passages": len(world.corpus),
        "top_k": args.top_k,
        "world_gen_s": round(world_gen_s, 3),
        "index_build_s": round(index_build_s, 3),
        "index_load_s": round(index_load_s, 3),
        "second_start_s": round(float(second.stdout.strip().splitlines()[-1]), 3),
        "retrieval_p50_ms": round(float(np.percentile(latencies, 50)), 4),
        "retrieval_p99_ms": round(float(np.percentile(latencies, 99)), 4),
        "retrieval_queries": len(latencies),
        "env_steps": steps,
        "env_steps_per_s": round(steps / elapsed, 1),
        "oracle_mean_f1": round(float(np.mean(outcomes)), 4),
    }, indent=2))


if __name__ == "__main__":
    main()
