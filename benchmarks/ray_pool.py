"""Environments in Ray actors vs in this process: per-step overhead and episodes per second.

Three measurements, all with the scripted oracle (so only the environments and the
transport are timed), all through the one episode runner:

- ``search_qa_step``: the latency of one ``env.step`` call on SearchQA, in-process and
  through a :class:`~turngym.integrations.ray_pool.RayEnvPool` proxy (median and p90 over
  every step of ``--search-episodes`` oracle episodes); the difference is the pool's
  per-step overhead.
- ``search_qa_runner``: whole runs (``play_episodes``, environment made per episode) in
  seconds per step: in-process, and with ``--light-envs`` episodes in flight sharing
  one actor (many light environments per actor).
- ``code_sandbox``: CodeSandbox episodes per second with 1 and 2 actors (one
  episode in flight per actor), and in-process with 1 and 2 threads for reference; every
  variant is warmed first (a process's first step starts its sandbox).

The machine is shared: ``load_before`` is the 1-minute load average when the script started,
so the figures can be read against it. Prints one JSON object.

    .venv/bin/python benchmarks/ray_pool.py [--search-episodes 30] [--code-episodes 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local throwaway cluster needs no token


def _step_latencies(env: Any, seeds: range) -> list[float]:
    from turngym.agents.scripted import OracleAgent

    agent, times = OracleAgent(), []
    for seed in seeds:
        env.reset(seed=seed)
        while True:
            action = agent.act([], env)
            start = time.perf_counter()
            _, _, terminated, truncated, _ = env.step(action)
            times.append(time.perf_counter() - start)
            if terminated or truncated:
                break
    return times


def _summary_ms(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"steps": len(times), "median_ms": round(1000 * statistics.median(ordered), 3),
            "p90_ms": round(1000 * ordered[int(0.9 * (len(ordered) - 1))], 3)}


def _runner(source: Any, env_id: str, tasks: list[int], concurrency: int) -> dict[str, float]:
    from turngym.agents.scripted import OracleAgent
    from turngym.rollout import play_episodes

    start = time.perf_counter()
    records = play_episodes(source, OracleAgent(), tasks, concurrency=concurrency, progress=False,
                            run_id="bench")
    wall = time.perf_counter() - start
    steps = sum(len(r.turns) for r in records)
    failed = sum(r.status != "ok" for r in records)
    if failed:
        raise RuntimeError(f"{failed} {env_id} episodes failed: {records[0].error}")
    return {"episodes": len(records), "steps": steps, "wall_s": round(wall, 3),
            "episodes_per_s": round(len(records) / wall, 3), "ms_per_step": round(1000 * wall / steps, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search-episodes", type=int, default=30)
    parser.add_argument("--light-envs", type=int, default=8, help="SearchQA episodes in flight in one actor")
    parser.add_argument("--code-episodes", type=int, default=8)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    import gymnasium as gym
    import ray

    import turngym  # noqa: F401  (registers the environments)
    from turngym.integrations.ray_pool import RayEnvPool

    started = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="warning", log_to_driver=False)
    ray_start_s = time.perf_counter() - started
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": round(load_before, 2),
                              "ray_version": ray.__version__, "ray_init_s": round(ray_start_s, 2)}

    # --- SearchQA: the cost of one step, in-process vs through an actor ----------------------
    seeds = range(args.search_episodes)
    local_env = gym.make("turngym/SearchQA-v0")
    _step_latencies(local_env, range(2))  # warm caches
    local = _summary_ms(_step_latencies(local_env, seeds))
    with RayEnvPool("turngym/SearchQA-v0", actors=1, num_cpus_per_actor=0.5) as pool:
        remote_env = pool()
        _step_latencies(remote_env, range(2))
        remote = _summary_ms(_step_latencies(remote_env, seeds))
        remote_env.close()
        report["search_qa_step"] = {
            "in_process": local, "ray_actor": remote,
            "overhead_median_ms": round(remote["median_ms"] - local["median_ms"], 3),
        }
        # --- SearchQA through the runner: many light environments in one actor -------------
        tasks = list(range(args.search_episodes))
        report["search_qa_runner"] = {
            "in_process_1_thread": _runner("turngym/SearchQA-v0", "SearchQA", tasks, 1),
            f"one_actor_{args.light_envs}_in_flight": _runner(pool, "SearchQA", tasks, args.light_envs),
        }

    # --- CodeSandbox: heavy environments scale with actors -----------------------------------
    code_tasks = list(range(args.code_episodes))
    code: dict[str, Any] = {}
    _runner("turngym/CodeSandbox-v0", "CodeSandbox", [0], 1)  # warm: the first step starts the sandbox
    for threads in (1, 2):
        code[f"in_process_{threads}_threads"] = _runner("turngym/CodeSandbox-v0", "CodeSandbox", code_tasks,
                                                       threads)
    for actors in (1, 2):
        with RayEnvPool("turngym/CodeSandbox-v0", actors=actors, num_cpus_per_actor=1.0) as pool:
            # Warm every actor (its first step starts its sandbox): one episode in flight per actor.
            _runner(pool, "CodeSandbox", list(range(actors)), actors)
            code[f"ray_{actors}_actors"] = _runner(pool, "CodeSandbox", code_tasks, actors)
    code["speedup_2_vs_1_actors"] = round(
        code["ray_2_actors"]["episodes_per_s"] / code["ray_1_actors"]["episodes_per_s"], 2)
    report["code_sandbox"] = code
    report["load_after"] = round(os.getloadavg()[0], 2)
    ray.shutdown()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
