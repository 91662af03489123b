"""``turngym report RUN_DIR... -o report.html``: one self-contained HTML file that works offline.

The page holds, for eval runs (``turngym eval``) and training runs (``turngym train``) alike:

* a summary table per environment and agent with stratified bootstrap intervals
  (:mod:`turngym.bench.stats`), the turn signals' means, and paired comparisons between
  agents that played the same environment's tasks;
* plots embedded as base64 PNG (:mod:`turngym.bench.report_plots`): interval estimates,
  performance profiles, pass@k / pass^k curves, and each training run's curves;
* a trajectory viewer (:mod:`turngym.bench.report_page`): pick an episode, see every turn's
  messages, action, signals, reward and ``turn.info`` (belief gain, advantages).

A training run's table rows are computed from the episodes of its last stored step (earlier steps
came from other policies); its viewer shows episodes from all steps. Statistics always use every
stored episode; the viewer embeds at most ``max_episodes`` of them, evenly spaced within each
(run, environment, agent) group, and the page says how many. Nothing is fetched: no CDN, no
external script, font or image.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import html
import json
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from turngym.bench import report_plots as plots
from turngym.bench import stats
from turngym.bench.report_page import STYLE, VIEWER_JS, embed_json
from turngym.bench.report_runs import Run, load_runs
from turngym.core.atomic import atomic_write
from turngym.core.trajectory import EpisodeRecord

DEFAULT_MAX_EPISODES = 1000
MAX_TEXT_CHARS = 20_000
PROFILE_TAUS = 41
MAX_CURVE_K = 64


@dataclass
class Group:
    """The episodes of one agent on one environment in one run, and their statistics."""

    index: int
    run: Run
    env_id: str
    agent: str
    records: list[EpisodeRecord]
    metrics: list[stats.EpisodeMetrics]
    summary: dict[str, Any]

    @property
    def label(self) -> str:
        """How tables and plots name the group."""
        return f"{self.agent} ({self.run.name})"


def _groups(runs: Sequence[Run], resamples: int, seed: int) -> list[Group]:
    groups: list[Group] = []
    for run in runs:
        episodes = run.episodes
        last = run.last_step
        if run.kind == "train" and last is not None:
            episodes = [e for e in episodes if e.metadata.get("train_step") == last]
        by_key: dict[tuple[str, str], list[EpisodeRecord]] = defaultdict(list)
        for record in episodes:
            by_key[(record.env_id, record.agent)].append(record)
        for (env_id, agent), records in sorted(by_key.items()):
            label = f"{agent or 'agent'} @ step {last}" if run.kind == "train" else (agent or "agent")
            metrics = [stats.episode_metrics(r) for r in records]
            summary = stats.group_summary(metrics, resamples=resamples, seed=seed)
            groups.append(Group(len(groups), run, env_id, label, records, metrics, summary))
    return groups


# ----- episodes for the viewer --------------------------------------------------------------------


def _clip(text: Any) -> Any:
    if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
        cut = len(text) - MAX_TEXT_CHARS
        return text[:MAX_TEXT_CHARS] + f"\n... ({cut} more characters cut in the report)"
    return text


def _message(msg: Any) -> Any:
    if isinstance(msg, dict):
        return {k: _clip(v) for k, v in msg.items()}
    return _clip(msg)


def _viewer_episode(run: Run, record: EpisodeRecord) -> dict[str, Any]:
    return {
        "id": record.episode_id, "run": run.name, "env": record.env_id, "agent": record.agent,
        "task": record.task_id, "seed": record.seed, "status": record.status, "error": _clip(record.error),
        "outcome": record.outcome, "success": stats.episode_metrics(record).success,
        "step": record.metadata.get("train_step"),
        "opening": [_message(m) for m in record.opening],
        "turns": [{
            "i": t.index, "action": _clip(t.action_text), "message": _message(t.action_message),
            "obs": [_message(m) for m in t.observation], "reward": t.reward, "signals": t.signals,
            "term": t.terminated, "trunc": t.truncated, "tokens": len(t.action_ids),
            "info": {k: _clip(v) for k, v in t.info.items()},
        } for t in record.turns],
    }


def select_episodes(runs: Sequence[Run], limit: int) -> tuple[list[dict[str, Any]], int]:
    """Up to ``limit`` episodes for the viewer, an even share per (run, env, agent) group, evenly
    spaced within it; returns them and how many episodes the runs hold in all."""
    buckets: dict[tuple[int, str, str], list[EpisodeRecord]] = defaultdict(list)
    for i, run in enumerate(runs):
        for record in run.episodes:
            buckets[(i, record.env_id, record.agent)].append(record)
    total = sum(len(b) for b in buckets.values())
    chosen: list[dict[str, Any]] = []
    if not buckets or limit <= 0:
        return chosen, total
    # Fill the smaller groups first so their unused share goes to the larger ones.
    keys = sorted(buckets, key=lambda k: len(buckets[k]))
    room = limit
    for position, key in enumerate(keys):
        records = buckets[key]
        share = room // (len(keys) - position)
        take = min(len(records), share)
        picks = np.unique(np.linspace(0, len(records) - 1, num=take).round().astype(int)) if take else []
        chosen.extend(_viewer_episode(runs[key[0]], records[int(j)]) for j in picks)
        room -= len(picks)
    order = {(r.name, e.episode_id): n for n, r in enumerate(runs) for e in r.episodes}
    chosen.sort(key=lambda ep: order.get((ep["run"], ep["id"]), 0))
    return chosen, total


# ----- HTML pieces ----------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _interval(triple: Sequence[float]) -> str:
    value, low, high = triple
    return f"{value:.3f} <span class='note'>[{low:.3f}, {high:.3f}]</span>"


def _summary_table(groups: Sequence[Group]) -> str:
    head = ("env", "agent", "run", "episodes", "failed", "tasks", "runs/task", "mean outcome [CI]",
            "IQM outcome [CI]", "success rate [CI]", "pass@k (k max)", "pass^k (k max)",
            "invalid actions", "turns", "action tokens", "wall s")
    rows = []
    for g in groups:
        s = g.summary
        k = str(s["runs_per_task"]["min"])
        rows.append("<tr>" + "".join([
            f"<td>{_e(g.env_id)}</td>", f"<td>{_e(g.agent)}</td>", f"<td>{_e(g.run.name)}</td>",
            f"<td class='num'>{s['episodes']}</td>", f"<td class='num'>{s['failed']}</td>",
            f"<td class='num'>{s['tasks']}</td>",
            f"<td class='num'>{s['runs_per_task']['min']}-{s['runs_per_task']['max']}</td>",
            f"<td class='num'>{_interval(s['mean_outcome'])}</td>",
            f"<td class='num'>{_interval(s['iqm_outcome'])}</td>",
            f"<td class='num'>{_interval(s['success_rate'])}</td>",
            f"<td class='num'>{_num(s['pass_at_k'][k])} (k={k})</td>",
            f"<td class='num'>{_num(s['pass_hat_k'][k])} (k={k})</td>",
            f"<td class='num'>{_num(s['invalid_action_rate'])}</td>",
            f"<td class='num'>{_num(s['turns_mean'], 2)}</td>",
            f"<td class='num'>{_num(s['tokens_mean'], 1)}</td>",
            f"<td class='num'>{_num(s['wall_s_mean'], 2)}</td>",
        ]) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table id='summary-table'><tr>{header}</tr>{''.join(rows)}</table>"


def _signals_table(groups: Sequence[Group]) -> str:
    rows = []
    for g in groups:
        for env, signals in stats.signal_means(g.records).items():
            for name, entry in signals.items():
                rows.append(f"<tr><td>{_e(env)}</td><td>{_e(g.agent)}</td><td>{_e(g.run.name)}</td>"
                            f"<td>{_e(name)}</td><td class='num'>{_num(entry['mean'], 4)}</td>"
                            f"<td class='num'>{entry['turns']}</td></tr>")
    if not rows:
        return "<p class='note'>No turn signals recorded.</p>"
    return ("<table id='signals-table'><tr><th>env</th><th>agent</th><th>run</th><th>signal</th>"
            f"<th>mean per turn</th><th>turns</th></tr>{''.join(rows)}</table>")


def _comparisons(groups: Sequence[Group], resamples: int, seed: int) -> str:
    by_env: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        by_env[g.env_id].append(g)
    rows = []
    for env, members in by_env.items():
        base = members[0]
        base_scores = stats.scores_by_task(base.metrics)
        for other in members[1:]:
            scores = stats.scores_by_task(other.metrics)
            try:
                c = stats.paired_difference(base_scores, scores, resamples=resamples, seed=seed)
            except ValueError as exc:
                rows.append(f"<tr><td>{_e(env)}</td><td>{_e(other.label)}</td><td>{_e(base.label)}</td>"
                            f"<td colspan='4'>{_e(exc)}</td></tr>")
                continue
            rows.append(
                f"<tr><td>{_e(env)}</td><td>{_e(other.label)}</td><td>{_e(base.label)}</td>"
                f"<td class='num'>{c.tasks}</td><td class='num'>{_interval(c.difference.to_list())}</td>"
                f"<td class='num'>{_num(c.mean_b)} vs {_num(c.mean_a)}</td>"
                f"<td>{len(c.only_in_a) + len(c.only_in_b)} tasks not shared (left out)</td></tr>")
    if not rows:
        return "<p class='note'>One agent per environment: nothing to compare.</p>"
    return ("<table id='comparison-table'><tr><th>env</th><th>agent B</th><th>vs agent A</th>"
            "<th>shared tasks</th><th>B - A mean outcome [CI]</th><th>B vs A</th><th></th></tr>"
            f"{''.join(rows)}</table>")


def _request(run: Run) -> str:
    if not run.request:
        return ""
    text = json.dumps(run.request, indent=1, ensure_ascii=False, default=str)
    return f"<details><summary>run.json</summary><pre>{_e(text)}</pre></details>"


def _img(data: str | None, alt: str) -> str:
    return f"<img class='plot' alt='{_e(alt)}' src='data:image/png;base64,{data}'>" if data else ""


def _plots(groups: Sequence[Group], resamples: int, seed: int) -> str:
    if not groups:
        return "<p class='note'>No episodes: no plots.</p>"
    interval = plots.interval_plot(
        [f"{g.env_id} | {g.label}" for g in groups],
        {"mean outcome": [g.summary["mean_outcome"] for g in groups],
         "IQM outcome": [g.summary["iqm_outcome"] for g in groups],
         "success rate": [g.summary["success_rate"] for g in groups]},
    )
    profiles: dict[str, list[tuple[int, str, dict[str, Any]]]] = defaultdict(list)
    curves: dict[str, list[Any]] = defaultdict(list)
    for g in groups:
        outcome = stats.scores_by_task(g.metrics, "outcome")
        values = [v for runs in outcome.values() for v in runs]
        taus = np.linspace(min(0.0, min(values)), max(1.0, max(values)), PROFILE_TAUS)
        profile = stats.performance_profile(outcome, taus, resamples=min(resamples, 1000), seed=seed)
        profiles[g.env_id].append((g.index, g.label, profile.to_dict()))
        success = stats.scores_by_task(g.metrics, "success")
        limit = stats.max_k(success)
        ks = sorted({int(k) for k in np.unique(np.geomspace(1, limit, num=min(limit, MAX_CURVE_K)).round())})
        curves[g.env_id].append((g.index, g.label, ks, [stats.mean_pass_at_k(success, k) for k in ks],
                                 [stats.mean_pass_hat_k(success, k) for k in ks]))
    return (
        "<h3>Interval estimates</h3>" + _img(interval, "interval estimates")
        + "<p class='note'>Bars: 95% stratified bootstrap intervals; black tick: the point estimate.</p>"
        + "<h3>Performance profiles</h3>" + _img(plots.profile_plot(profiles), "performance profiles")
        + "<p class='note'>Fraction of runs (episodes) with outcome above tau; shaded: 95% bootstrap "
          "band.</p>"
        + "<h3>pass@k and pass^k</h3>" + _img(plots.pass_k_plot(curves), "pass@k curves")
        + "<p class='note'>pass@k (solid, Codex unbiased estimator) and pass^k (dashed, tau-bench), mean "
          "over tasks, for k up to the fewest samples any task has.</p>"
    )


def _training(runs: Sequence[Run]) -> str:
    parts = []
    for run in runs:
        if run.kind != "train":
            continue
        steps = sorted({e.metadata.get("train_step") for e in run.episodes} - {None})
        parts.append(f"<h3>{_e(run.name)}</h3><p class='note'>{len(run.metrics)} logged steps; episodes "
                     f"stored for {len(steps)} steps; the table uses the last ({_e(run.last_step)}).</p>")
        parts.append(_img(plots.training_plot(run.metrics), f"training curves of {run.name}")
                     or "<p class='note'>No numeric metrics logged.</p>")
    return "<h2>Training curves</h2>" + "".join(parts) if parts else ""


def render_report(runs: Sequence[Run], *, max_episodes: int = DEFAULT_MAX_EPISODES,
                  resamples: int = stats.DEFAULT_RESAMPLES, seed: int = 0) -> str:
    """The whole report page as one HTML string."""
    groups = _groups(runs, resamples, seed)
    embedded, total = select_episodes(runs, max_episodes)
    skipped = sum(r.skipped_lines for r in runs)
    run_rows = "".join(
        f"<tr><td>{_e(r.name)}</td><td>{_e(r.kind)}</td><td>{_e(r.path)}</td>"
        f"<td class='num'>{len(r.episodes)}</td><td class='num'>{len(r.metrics)}</td>"
        f"<td>{_request(r)}</td></tr>" for r in runs)
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cap_note = (f"The viewer embeds all {total} stored episodes." if len(embedded) == total else
                f"The viewer embeds {len(embedded)} of the {total} stored episodes (at most {max_episodes}: "
                "an even share per run, environment and agent, evenly spaced within each); the statistics "
                "use all of them.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>turngym report</title><style>{STYLE}</style></head>
<body>
<h1>turngym report</h1>
<p class="note">Generated {generated}. Works offline: everything is in this file.</p>
<table id="runs-table">
<tr><th>run</th><th>kind</th><th>path</th><th>episodes</th><th>training steps logged</th><th>request</th></tr>
{run_rows}</table>
<h2>Summary</h2>
{_summary_table(groups) if groups else "<p class='note'>No episodes stored.</p>"}
<p class="note">Intervals: {resamples}-draw stratified
bootstrap over tasks (runs resampled within each task; Agarwal et al. 2021), 95% percentile intervals,
seed {seed}. IQM: mean of the middle 50% of episode outcomes. Success: outcome &ge; 1. Failed episodes:
{_e(stats.FAILED_EPISODES)}. pass@k: Codex unbiased estimator; pass^k: tau-bench's, both at k = the fewest
samples of any task. Invalid actions: turns with valid_action = 0 over all turns.
Training runs: the episodes of their last stored step.
{f"{skipped} torn last line(s) (an interrupted write) were skipped." if skipped else ""}</p>
<h2>Paired comparisons</h2>
{_comparisons(groups, resamples, seed)}
<p class="note">Per environment, each agent against the first one listed, on the tasks both played:
difference of mean outcomes (each task weighing the same) with a 95% stratified bootstrap interval.</p>
<h2>Turn signals</h2>
{_signals_table(groups)}
<h2>Plots</h2>
{_plots(groups, resamples, seed)}
{_training(runs)}
<h2 id="trajectories">Trajectories</h2>
<p class="note" id="embed-note">{_e(cap_note)}</p>
<div id="viewer-controls">
<label>group <select id="group-filter"><option value="all">all</option></select></label>
<label>show <select id="status-filter"><option value="all">all</option>
<option value="success">successes</option><option value="unsuccessful">not successful</option>
<option value="failed">failed (errors)</option></select></label>
<label>task or episode id <input id="task-filter" type="search" size="16"></label>
<span id="episode-count" class="note"></span><br>
<label>episode <select id="episode-select"></select></label>
</div>
<div id="episode-view"></div>
<script type="application/json" id="episode-data">{embed_json(embedded)}</script>
<script>{VIEWER_JS}</script>
</body></html>
"""


def build_report(run_dirs: Sequence[str | Path], out_path: str | Path, *,
                 max_episodes: int = DEFAULT_MAX_EPISODES, resamples: int = stats.DEFAULT_RESAMPLES,
                 seed: int = 0) -> Path:
    """Read ``run_dirs`` (eval or training runs) and write the report to ``out_path`` atomically."""
    if max_episodes < 0:
        raise ValueError(f"max_episodes must be >= 0, got {max_episodes}")
    page = render_report(load_runs(list(run_dirs)), max_episodes=max_episodes, resamples=resamples, seed=seed)
    with atomic_write(out_path, "w") as handle:
        handle.write(page)
    return Path(out_path)


def main(argv: Sequence[str] | None = None) -> int:
    """``turngym report RUN_DIR... -o report.html``; returns the exit status (2 for bad input)."""
    parser = argparse.ArgumentParser(prog="turngym report", description=(
        "Write one self-contained HTML report (tables with intervals, plots, a trajectory viewer) "
        "for eval runs (turngym eval) and training runs (turngym train)."))
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories to include")
    parser.add_argument("-o", "--output", default="report.html", help="the HTML file to write (report.html)")
    parser.add_argument("--max-episodes", type=int, default=DEFAULT_MAX_EPISODES,
                        help=f"most episodes embedded in the viewer ({DEFAULT_MAX_EPISODES})")
    parser.add_argument("--resamples", type=int, default=stats.DEFAULT_RESAMPLES,
                        help=f"bootstrap draws per interval ({stats.DEFAULT_RESAMPLES})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap's generator (0)")
    args = parser.parse_args(argv)
    try:
        path = build_report(args.run_dirs, args.output, max_episodes=args.max_episodes,
                            resamples=args.resamples, seed=args.seed)
    except (ValueError, OSError) as exc:
        print(f"turngym report: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
