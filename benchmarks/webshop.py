"""WebShop performance on the generated 100,000-product catalogue; prints one JSON object.

Measures:
- ``build_s``: generating the catalogue, writing it to SQLite and building the BM25 index,
  from an empty cache (goal < 60 s);
- ``cached_start_s``: in a fresh process, ``WebShopEnv(...)`` plus the first ``reset`` from the
  cache (imports excluded; ``cached_start_with_imports_s`` includes them) (goal < 5 s);
- ``search_p50_ms`` / ``search_p99_ms``: BM25 top-50 over goal instructions, product-type
  queries and random word triples (goal p99 < 10 ms); ``search_step_p50_ms`` /
  ``search_step_p99_ms``: a whole ``search[...]`` step (search, results page, observation);
- ``env_steps_per_s``: ``env.step`` rate on one process over the scripted oracle's episodes
  and a random clicker's (searches, result pages, items, options, sub-pages, purchases)
  (goal >= 2,000); ``search_share`` is the share of those steps that were searches;
- ``buy_first_result_mean_reward`` / ``_success``: a rule baseline on the test split (search
  the instruction, open the first result, pick the options it names, buy), beside the
  oracle's and a random clicker's mean reward;
- ``peak_rss_mb``: this process's peak resident memory (it built the catalogue and ran
  everything above), ``cached_start_peak_rss_mb`` the fresh process's (goal < 2,048);
- ``load_avg``: the machine's 1-minute load average before and after: other work on a
  shared machine slows every wall-clock figure, so the CPU-time twins (``build_cpu_s``,
  ``search_cpu_p50_ms``/``search_cpu_p99_ms``, ``env_steps_per_cpu_s``: this process's own
  CPU seconds) say what one unshared core would do.

Usage: ``python benchmarks/webshop.py [--num-products 100000] [--episodes 300]``. The cache
goes to a fresh temporary directory unless ``--cache-dir`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from turngym.envs.webshop.env import WebShopEnv

_START = """
import json, resource, sys, time

def _peak_mb():
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's over fork and exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

t0 = time.perf_counter()
from turngym.envs.webshop.env import WebShopEnv
t1, c1 = time.perf_counter(), time.process_time()
env = WebShopEnv({n}, cache_dir={cache!r}, split="test")
env.reset(seed=0)
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({{"start": t2 - t1, "start_cpu": c2 - c1, "with_imports": t2 - t0,
                  "source": env.catalogue.retriever.source,
                  "rss": _peak_mb()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-products", type=int, default=100_000)
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="turngym-bench-")
    try:
        print(json.dumps(run(args, cache_dir), indent=2))
    finally:
        if args.cache_dir is None:
            shutil.rmtree(cache_dir, ignore_errors=True)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.asarray(samples) * 1000.0
    return round(float(np.percentile(ms, 50)), 3), round(float(np.percentile(ms, 99)), 3)


def run(args: argparse.Namespace, cache_dir: str) -> dict[str, object]:
    """Measure everything (see the module docstring)."""
    from turngym.envs.webshop.catalogue import open_catalogue
    from turngym.envs.webshop.env import WebShopEnv

    load_before = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    catalogue = open_catalogue(num_products=args.num_products, cache_dir=cache_dir)
    build_s, build_cpu_s = time.perf_counter() - t0, time.process_time() - c0

    child = subprocess.run([sys.executable, "-c", _START.format(n=args.num_products, cache=cache_dir)],
                           capture_output=True, text=True, check=True)
    start = json.loads(child.stdout.strip().splitlines()[-1])

    rng = np.random.default_rng(0)
    goals = catalogue.goals
    vocabulary = sorted({w for g in goals[:2000] for w in g.instruction_text.split()})
    queries = []
    for i in range(args.queries):
        goal = goals[i % len(goals)]
        kind = i % 3
        if kind == 0:
            queries.append(goal.instruction_text.split(", and price lower than")[0])
        elif kind == 1:
            queries.append(goal.query)
        else:
            queries.append(" ".join(rng.choice(vocabulary, size=3)))
    for q in queries[:50]:  # warm up
        catalogue.search_uncached(q)
    times, cpu_times = [], []
    for q in queries:  # uncached: every query really searched
        t, c = time.perf_counter(), time.thread_time()
        catalogue.search_uncached(q)
        times.append(time.perf_counter() - t)
        cpu_times.append(time.thread_time() - c)
    search_p50, search_p99 = _percentiles(times)
    search_cpu_p50, search_cpu_p99 = _percentiles(cpu_times)

    env = WebShopEnv(args.num_products, cache_dir=cache_dir, split="test")
    steps, searches, step_time, step_cpu, search_steps = 0, 0, 0.0, 0.0, []
    oracle_rewards, random_rewards = [], []
    for episode in range(args.episodes):
        oracle = episode % 2 == 0
        _, info = env.reset(seed=episode)
        words = env.goal.instruction_text.split()
        while True:
            if oracle:
                action = env.oracle_action()
            else:
                actions = info["available_actions"]
                clickable = [c for c in actions["clickables"] if c != "search"]
                action = ("search[" + " ".join(rng.choice(words, size=3)) + "]" if actions["has_search_bar"]
                          else f"click[{clickable[int(rng.integers(len(clickable)))]}]")
            t, c = time.perf_counter(), time.thread_time()
            _, _, terminated, truncated, info = env.step(action)
            elapsed = time.perf_counter() - t
            step_cpu += time.thread_time() - c
            step_time += elapsed
            steps += 1
            if str(action).startswith("search["):
                searches += 1
                search_steps.append(elapsed)
            if terminated or truncated:
                (oracle_rewards if oracle else random_rewards).append(info.get("outcome", 0.0))
                break
    step_p50, step_p99 = _percentiles(search_steps)
    first_rewards = [_buy_first_result(env, task) for task in range(min(500, len(goals)))]
    return {
        "num_products": len(catalogue),
        "num_goals": len(goals),
        "build_s": round(build_s, 2),
        "build_cpu_s": round(build_cpu_s, 2),
        "cached_start_s": round(start["start"], 3),
        "cached_start_cpu_s": round(start["start_cpu"], 3),
        "cached_start_with_imports_s": round(start["with_imports"], 3),
        "cached_start_index_source": start["source"],
        "search_p50_ms": search_p50,
        "search_p99_ms": search_p99,
        "search_cpu_p50_ms": search_cpu_p50,
        "search_cpu_p99_ms": search_cpu_p99,
        "search_step_p50_ms": step_p50,
        "search_step_p99_ms": step_p99,
        "env_steps": steps,
        "env_steps_per_s": round(steps / step_time, 1),
        "env_steps_per_cpu_s": round(steps / step_cpu, 1),
        "search_share": round(searches / steps, 3),
        "oracle_mean_reward": round(float(np.mean(oracle_rewards)), 4),
        "random_clicker_mean_reward": round(float(np.mean(random_rewards)), 4),
        "buy_first_result_mean_reward": round(float(np.mean(first_rewards)), 4),
        "buy_first_result_success": round(float(np.mean([r == 1.0 for r in first_rewards])), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cached_start_peak_rss_mb": round(start["rss"], 1),
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
    }


def _buy_first_result(env: WebShopEnv, task: int) -> float:
    """A search-and-buy-first rule (WebShop's rule baseline, plus picking the options the
    instruction names): search the instruction, open the first result, buy."""
    env.reset(options={"task_id": task})
    text = env.goal.instruction_text
    _, _, _, _, info = env.step(f"search[{text.split(', and price lower than')[0]}]")
    products = [c for c in info["available_actions"]["clickables"] if c.startswith("b0")]
    if not products:
        return 0.0
    _, _, _, _, info = env.step(f"click[{products[0]}]")
    buttons = {"back to search", "< prev", "description", "features", "reviews", "buy now"}
    for option in info["available_actions"]["clickables"]:
        if option not in buttons and option in text:
            env.step(f"click[{option}]")
    _, reward, _, _, _ = env.step("click[Buy Now]")
    return float(reward)


if __name__ == "__main__":
    main()
