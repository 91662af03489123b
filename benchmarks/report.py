"""Report generation time for 10,000 stored episodes (goal: < 10 s). Prints one JSON line.

Two eval runs (the oracle and the random agent) on SearchQA-Easy-v0 and ToolUse-Easy-v0 hold
2,500 episodes per (environment, agent): 500 tasks x 5 samples. The episodes are real - played by
the agents in the environments - but to keep set-up short only ``--played`` distinct episodes per
(environment, agent) are played and then stored again under new episode and task ids until the
runs hold ``--episodes`` in all. The timed part is ``build_report`` from the run directories
(reading, statistics with 2,000-draw bootstrap intervals, plots, the HTML with the viewer's
embedded episodes), in wall-clock and in CPU seconds (the latter less sensitive to a machine shared
with other jobs); the import of the report module is timed on its own.

    .venv/bin/python benchmarks/report.py [--episodes 10000] [--played 100]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import turngym
from turngym.agents.scripted import OracleAgent, RandomAgent
from turngym.core.trajectory import EpisodeRecord, write_episodes
from turngym.rollout import play_episode

ENVS = ("turngym/SearchQA-Easy-v0", "turngym/ToolUse-Easy-v0")
SAMPLES = 5


def stored_episodes(env_id: str, agent, played: int, count: int) -> list[EpisodeRecord]:
    """``count`` records of ``env_id``: ``played`` real episodes, stored again under new ids."""
    env = turngym.make(env_id)
    real = [play_episode(env, agent, seed=seed, max_turns=8) for seed in range(played)]
    out = []
    for n in range(count):
        task, sample = divmod(n, SAMPLES)
        record = copy.deepcopy(real[(task + 7 * sample) % played])
        record.episode_id = f"{agent.name}-{env_id}-{n}"
        record.task_id = f"task-{task}"
        record.seed = n
        out.append(record)
    return out


def measure(episodes: int = 10_000, played: int = 100) -> dict:
    """Time ``build_report`` over ``episodes`` stored episodes; the JSON-ready figures."""
    clock = time.perf_counter()
    from turngym.bench import stats
    from turngym.bench.report import DEFAULT_MAX_EPISODES, build_report

    import_s = time.perf_counter() - clock
    per_group = episodes // (len(ENVS) * 2)
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        clock = time.perf_counter()
        for agent in (OracleAgent(), RandomAgent(seed=0)):
            records = [r for env_id in ENVS for r in stored_episodes(env_id, agent, played, per_group)]
            root = Path(tmp) / f"eval-{agent.name}"
            write_episodes(root / "episodes.jsonl", records)
            (root / "summary.json").write_text(json.dumps(stats.summarize(records)), encoding="utf-8")
            runs.append(root)
        setup_s = time.perf_counter() - clock
        stored = sum(1 for run in runs for _ in (run / "episodes.jsonl").open())
        clock, cpu = time.perf_counter(), time.process_time()
        out = build_report(runs, Path(tmp) / "report.html")
        report_s, report_cpu_s = time.perf_counter() - clock, time.process_time() - cpu
        size = out.stat().st_size
    return {
        "benchmark": "report",
        "episodes": stored,
        "report_seconds": round(report_s, 3),
        "report_cpu_seconds": round(report_cpu_s, 3),
        "goal_seconds": 10,
        "import_seconds": round(import_s, 3),
        "html_megabytes": round(size / 1e6, 2),
        "embedded_episodes": min(DEFAULT_MAX_EPISODES, stored),
        "setup_seconds": round(setup_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--played", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(measure(args.episodes, args.played)))


if __name__ == "__main__":
    main()
