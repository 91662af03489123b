"""``turngym eval``: play an agent on environments, keep every episode, summarise, resume after a kill.

A run directory holds:

- ``run.json`` - what was asked (environments, agent, tasks, samples, settings); a rerun with a
  different request on the same directory is refused instead of mixing two runs;
- ``episodes.jsonl`` - every finished episode, appended whole as it ends
  (:class:`~turngym.bench.results.ResultsFile`);
- ``summary.json`` - :func:`turngym.bench.stats.summarize` of the episodes, written atomically
  at the end.

Killed (``kill -9`` included) and started again with the same command, the run plays only the
episodes the file lacks (and plays failed ones again: the newest record of an episode counts),
so none is lost or duplicated, and the summary, computed from the episodes in plan order,
equals an uninterrupted run's (for agents that are deterministic given
their seeds). One process at a time writes a run directory (:func:`turngym.core.runlock.run_lock`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from turngym.bench.results import ResultsFile
from turngym.core.atomic import atomic_write
from turngym.core.runlock import run_lock
from turngym.core.trajectory import EpisodeRecord
from turngym.rollout import Task, collect, play_episodes
from turngym.rollout.tasks import parse_task

RUN_FILE, EPISODES_FILE, SUMMARY_FILE = "run.json", "episodes.jsonl", "summary.json"


class EvalError(ValueError):
    """The evaluation cannot start as asked (the message says what to change)."""


@dataclass
class EvalPlan:
    """What an evaluation plays.

    Attributes:
        env_ids: registered ids (``module:Env-v0`` ids of custom environments work too).
        agent: the agent spec as given (recorded; the agent itself is passed to :func:`run_eval`).
        tasks: one entry per task (:data:`~turngym.rollout.Task`), the same for every environment.
        samples: episodes per task (for pass@k); sample ``j`` differs in the agent's seed only.
        env_kwargs: keyword arguments for every environment.
        max_turns: runner-side turn limit (default: each environment's own).
        sampling: temperature, top_p, max_tokens and seed of model agents.
        concurrency: episodes in flight for text agents (not part of the run's identity).
        env_workers: where environments run: ``local`` or ``ray:N`` (N Ray actors; text agents
            then play at least N episodes at once). Not part of the run's identity.
    """

    env_ids: list[str]
    agent: str
    tasks: list[Task]
    samples: int = 1
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    max_turns: int | None = None
    sampling: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 1
    env_workers: str = "local"

    def __post_init__(self) -> None:
        if not self.env_ids:
            raise EvalError("no environment to evaluate on: name at least one id")
        if not self.tasks:
            raise EvalError("no task to play: ask for at least one episode or task id")
        if not isinstance(self.samples, int) or self.samples < 1:
            raise EvalError(f"samples must be a positive whole number, got {self.samples!r}")
        if not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise EvalError(f"concurrency must be a positive whole number, got {self.concurrency!r}")
        for index, task in enumerate(self.tasks):
            parse_task(task, index)
        run_ids = [self.run_id(env_id) for env_id in self.env_ids]
        shared = sorted({r for r in run_ids if run_ids.count(r) > 1})
        if shared:
            raise EvalError(f"environments {self.env_ids} would share episode ids ({', '.join(shared)}): "
                            "name each environment once, with names that differ after the namespace")
        workers = self.env_workers
        if not isinstance(workers, str) or not re.fullmatch(r"local|ray:[1-9][0-9]*", workers):
            raise EvalError(f"env_workers {self.env_workers!r} not understood; accepted: 'local' or 'ray:N' "
                            "(N >= 1 Ray actors, e.g. 'ray:4')")

    def identity(self) -> dict[str, Any]:
        """Everything that decides which episodes the run holds (concurrency does not)."""
        data = asdict(self)
        data.pop("concurrency")
        data.pop("env_workers")
        return json.loads(json.dumps(data))

    def run_id(self, env_id: str) -> str:
        """Episode ids of ``env_id`` are ``"{run_id}-g{task}-e{sample}"``."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", env_id.split("/")[-1])

    def planned_ids(self) -> list[str]:
        """Every episode id of the run, in plan order."""
        return [f"{self.run_id(env)}-g{g}-e{j}" for env in self.env_ids
                for g in range(len(self.tasks)) for j in range(self.samples)]


def is_token_policy(actor: Any) -> bool:
    """A token-level policy samples token ids (``generate``); a text agent answers messages (``act``)."""
    return callable(getattr(actor, "generate", None)) and hasattr(actor, "tokenizer")


def run_eval(
    plan: EvalPlan,
    actor: Any,
    out_dir: str | Path,
    *,
    progress: bool = True,
    summary_seed: int = 0,
) -> dict[str, Any]:
    """Play ``plan`` with ``actor`` into ``out_dir`` (resuming what is there) and return the summary."""
    from turngym.bench.stats import summarize

    root = Path(out_dir)
    with run_lock(root):
        _check_same_run(root, plan)
        results = ResultsFile(root / EPISODES_FILE)
        stored = latest_records(results.load())
        done = {r.episode_id for r in stored if r.status == "ok"}  # failed ones are played again
        planned = plan.planned_ids()
        unexpected = sorted({r.episode_id for r in stored} - set(planned))
        if unexpected:
            raise EvalError(f"{results.path} holds episodes this run does not plan ({unexpected[:3]}...); "
                            "use a fresh output directory")
        for env_id in plan.env_ids:
            _play_env(plan, actor, env_id, done, results.append, progress)
        records = _in_plan_order(latest_records(results.load()), planned)
        summary = summarize(records, seed=summary_seed)
        summary["run"] = {"episodes_planned": len(planned), "episodes_recorded": len(records),
                          "agent": plan.agent, "env_ids": plan.env_ids}
        with atomic_write(root / SUMMARY_FILE, "w") as handle:
            json.dump(summary, handle, indent=1, allow_nan=False)
    return summary


def _play_env(plan: EvalPlan, actor: Any, env_id: str, done: set[str], append: Any, progress: bool) -> None:
    run_id = plan.run_id(env_id)
    if all(f"{run_id}-g{g}-e{j}" in done for g in range(len(plan.tasks)) for j in range(plan.samples)):
        return
    if plan.env_workers != "local":  # the same runner, fed by environments in Ray actors
        from turngym.integrations import env_source, parse_env_workers

        pool = env_source(env_id, plan.env_kwargs, plan.env_workers)
        try:
            _play_source(plan, actor, pool, {}, run_id, done, append, progress,
                         max(plan.concurrency, parse_env_workers(plan.env_workers)))
        finally:
            pool.close()
        return
    _play_source(plan, actor, env_id, plan.env_kwargs, run_id, done, append, progress, plan.concurrency)


def _play_source(plan: EvalPlan, actor: Any, env: Any, env_kwargs: Mapping[str, Any], run_id: str,
                 done: set[str], append: Any, progress: bool, concurrency: int) -> None:
    if is_token_policy(actor):
        from turngym.agents.policy import SamplingParams

        settings = plan.sampling
        sampling = SamplingParams(
            temperature=float(settings.get("temperature", 0.0)), top_p=float(settings.get("top_p") or 1.0),
            max_new_tokens=int(settings.get("max_tokens", 256)), seed=settings.get("seed"),
        )
        kwargs = dict(env_kwargs)
        source = (lambda: _make(env, kwargs)) if isinstance(env, str) else env
        collect(source, actor, plan.tasks, group_size=plan.samples, sampling=sampling,
                max_turns=plan.max_turns, run_id=run_id, skip=done, on_episode=append, progress=progress)
    else:
        play_episodes(env, actor, plan.tasks, group_size=plan.samples, concurrency=concurrency,
                      max_turns=plan.max_turns, run_id=run_id, skip=done, on_episode=append,
                      progress=progress, env_kwargs=env_kwargs)


def _make(env_id: str, kwargs: Mapping[str, Any]) -> Any:
    import gymnasium as gym

    return gym.make(env_id, **kwargs)


def _check_same_run(root: Path, plan: EvalPlan) -> None:
    path = root / RUN_FILE
    wanted = plan.identity()
    if path.exists():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise EvalError(f"{path} is not valid JSON ({exc}); it is not a turngym eval run") from exc
        if recorded != wanted:
            changed = sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))
            raise EvalError(
                f"{root} holds a different evaluation (differs in: {', '.join(changed)}); rerun the same "
                "command to resume it, or choose another output directory"
            )
        return
    with atomic_write(path, "w") as handle:
        json.dump(wanted, handle, indent=1)


def latest_records(records: Sequence[EpisodeRecord]) -> list[EpisodeRecord]:
    """The newest record of each episode id (a failed episode replayed on resume appears twice)."""
    return list({record.episode_id: record for record in records}.values())


def _in_plan_order(records: Sequence[EpisodeRecord], planned: Sequence[str]) -> list[EpisodeRecord]:
    order = {episode_id: i for i, episode_id in enumerate(planned)}
    return sorted(records, key=lambda r: order.get(r.episode_id, len(order)))


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], list[EpisodeRecord]]:
    """The plan (``run.json``) and the episodes of an eval run directory."""
    root = Path(run_dir)
    if not (root / RUN_FILE).is_file():
        raise EvalError(f"{root} is not a turngym eval run (no {RUN_FILE})")
    plan = json.loads((root / RUN_FILE).read_text(encoding="utf-8"))
    return plan, latest_records(ResultsFile(root / EPISODES_FILE).load(repair=False))
