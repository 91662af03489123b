"""Run directories for the report tests, played for real on the toy GuessNumber environment.

Eval runs are written the way ``turngym eval`` writes them (``episodes.jsonl`` + ``summary.json``);
the training run the way ``turngym train`` does (``metrics.jsonl`` and
``trajectories/step-NNNNNN.jsonl``), with belief gain and advantages in ``turn.info``.
"""

from __future__ import annotations

import json
from pathlib import Path

import turngym
from turngym.agents.scripted import OracleAgent, RandomAgent
from turngym.bench import stats
from turngym.core.trajectory import EpisodeRecord, write_episodes
from turngym.rollout import play_episode

ENV_ID = "turngym/GuessNumber-v0"
TARGETS = (3, 7, 11, 14)
INJECTION = '</script><script>document.title = "INJECTED";</script><!-- <b>bold?</b>'


def play(agent, targets, samples: int, *, max_turns: int = 5) -> list[EpisodeRecord]:
    """``samples`` episodes of each task (hidden number ``target``), each with its own seed."""
    env = turngym.make(ENV_ID)
    records = []
    for target in targets:
        for sample in range(samples):
            record = play_episode(env, agent, seed=100 * target + sample, options={"task_id": f"n-{target}"},
                                  episode_id=f"{agent.name}-{target}-{sample}", max_turns=max_turns)
            records.append(record)
    return records


def write_eval_run(root: Path, records: list[EpisodeRecord]) -> Path:
    """An eval run directory: the episodes and their summary."""
    root.mkdir(parents=True, exist_ok=True)
    write_episodes(root / "episodes.jsonl", records)
    (root / "summary.json").write_text(json.dumps(stats.summarize(records, resamples=100)), encoding="utf-8")
    return root


def eval_runs(tmp: Path) -> tuple[Path, Path]:
    """An oracle run and a random run on the same 4 tasks x 3 samples; one random episode's action
    carries a script-injection attempt and one is marked failed."""
    oracle = play(OracleAgent(), TARGETS, 3)
    random_records = play(RandomAgent(), TARGETS, 3, max_turns=3)
    random_records[0].turns[0].action_text = INJECTION
    random_records[1].status, random_records[1].error = "failed", "agent raised TimeoutError (test)"
    return write_eval_run(tmp / "oracle-run", oracle), write_eval_run(tmp / "random-run", random_records)


def training_run(tmp: Path, steps: int = 3) -> Path:
    """A training run directory with metrics and per-step trajectories carrying credit in turn.info."""
    root = tmp / "train-run"
    (root / "trajectories").mkdir(parents=True)
    rows = []
    for step in range(1, steps + 1):
        records = play(RandomAgent(), TARGETS[:2], 2, max_turns=3)
        for record in records:
            record.agent = "policy"
            record.episode_id = f"policy-step{step}-{record.episode_id}"
            for turn in record.turns:
                turn.info = {"belief_gain": 0.01 * step * (turn.index + 1),
                             "advantage": 0.5 - 0.1 * turn.index}
        write_episodes(root / "trajectories" / f"step-{step:06d}.jsonl", records)
        rows.append({"step": step, "reward_mean": 0.1 * step, "success_rate": 0.05 * step,
                     "kl": 0.001 * step, "loss": 1.0 / step, "belief_gain_mean": 0.02 * step})
    (root / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 4, "rew',
                                        encoding="utf-8")  # a torn last line, as a kill leaves it
    return root
