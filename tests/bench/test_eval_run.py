"""turngym eval's run directory: results, summary, kill -9 and resume, refusals, reverify, the lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from turngym.agents.scripted import OracleAgent, RandomAgent
from turngym.agents.specs import AgentSpecError, build_agent, parse_agent_spec
from turngym.bench.reverify import reverify_records
from turngym.bench.run import EPISODES_FILE, SUMMARY_FILE, EvalError, EvalPlan, load_run, run_eval
from turngym.core.runlock import RunLockedError, run_lock

ROOT = Path(__file__).resolve().parents[2]
ENV = "turngym/GuessNumber-v0"


def plan(**kw) -> EvalPlan:
    base = {"env_ids": [ENV], "agent": "random", "tasks": list(range(6)), "samples": 2,
            "env_kwargs": {"high": 12, "max_turns": 3}}
    base.update(kw)
    return EvalPlan(**base)


def test_a_run_writes_episodes_and_a_summary(tmp_path):
    summary = run_eval(plan(agent="oracle", env_kwargs={"high": 64}), OracleAgent(), tmp_path,
                       progress=False)
    (group,) = summary["groups"]
    assert group["episodes"] == 12 and group["tasks"] == 6 and group["success_rate"][0] == 1.0
    assert group["pass_at_k"]["2"] == 1.0
    assert json.loads((tmp_path / SUMMARY_FILE).read_text())["groups"][0]["episodes"] == 12
    _, records = load_run(tmp_path)
    assert sorted(r.episode_id for r in records) == sorted(plan().planned_ids())


def test_samples_of_a_task_are_different_draws(tmp_path):
    run_eval(plan(env_kwargs={"high": 1000, "max_turns": 3}), RandomAgent(seed=0), tmp_path, progress=False)
    _, records = load_run(tmp_path)
    by_task: dict[str, set[str]] = {}
    for r in records:
        by_task.setdefault(r.group_id, set()).add(r.turns[0].action_text)
    assert any(len(actions) == 2 for actions in by_task.values())


def test_concurrency_gives_the_sequential_summary(tmp_path):
    one = run_eval(plan(), RandomAgent(seed=1), tmp_path / "a", progress=False)
    many = run_eval(plan(concurrency=4), RandomAgent(seed=1), tmp_path / "b", progress=False)
    for summary in (one, many):
        summary["groups"][0].pop("wall_s_mean")
    assert one["groups"] == many["groups"]
    assert 0 < one["groups"][0]["mean_outcome"][0] < 1


def test_a_different_request_on_the_same_directory_is_refused(tmp_path):
    run_eval(plan(), RandomAgent(seed=1), tmp_path, progress=False)
    with pytest.raises(EvalError, match="differs in: samples"):
        run_eval(plan(samples=3), RandomAgent(seed=1), tmp_path, progress=False)
    # concurrency is not part of the request: changing it resumes the same run
    run_eval(plan(concurrency=3), RandomAgent(seed=1), tmp_path, progress=False)


def test_bad_plans_say_what_is_wrong():
    with pytest.raises(EvalError, match="at least one episode"):
        plan(tasks=[])
    with pytest.raises(EvalError, match="samples must be a positive"):
        plan(samples=0)


KILLABLE = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    import turngym
    turngym.register("GuessNumber-v0", "tests.toy_envs:GuessNumberEnv", "guess (test env)")
    from turngym.agents.scripted import RandomAgent
    from turngym.bench.run import EvalPlan, run_eval

    class SlowRandom(RandomAgent):
        def act(self, history, env):
            time.sleep(0.02)
            return super().act(history, env)

    plan = EvalPlan(env_ids=["turngym/GuessNumber-v0"], agent="random", tasks=list(range(40)), samples=2,
                    env_kwargs={{"high": 12, "max_turns": 3}})
    run_eval(plan, SlowRandom(seed=5), sys.argv[1], progress=False)
    print("DONE")
    """
)


def test_kill_9_and_resume_loses_and_duplicates_nothing(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILLABLE.format(root=str(ROOT)), encoding="utf-8")
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    for attempt in range(2):  # kill at a different point each time
        proc = subprocess.Popen([sys.executable, str(script), str(killed)], cwd=ROOT)
        deadline = time.time() + 60
        target = 10 + 15 * attempt
        while time.time() < deadline:
            episodes = killed / EPISODES_FILE
            if episodes.exists() and episodes.read_bytes().count(b"\n") >= target:
                break
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not (killed / SUMMARY_FILE).exists()
    done = subprocess.run([sys.executable, str(script), str(killed)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert "DONE" in done.stdout, done.stderr[-2000:]
    subprocess.run([sys.executable, str(script), str(whole)], cwd=ROOT, check=True, capture_output=True,
                   timeout=120)
    _, resumed = load_run(killed)
    _, uninterrupted = load_run(whole)
    ids = [r.episode_id for r in resumed]
    assert len(ids) == len(set(ids)) == 80
    strip = lambda r: {**r.to_dict(), "metadata": {k: v for k, v in r.metadata.items() if k != "wall_s"}}  # noqa: E731
    key = lambda r: r.episode_id  # noqa: E731
    assert [strip(r) for r in sorted(resumed, key=key)] == [strip(r) for r in sorted(uninterrupted, key=key)]
    a = json.loads((killed / SUMMARY_FILE).read_text())
    b = json.loads((whole / SUMMARY_FILE).read_text())
    for group_a, group_b in zip(a["groups"], b["groups"]):
        group_a.pop("wall_s_mean"), group_b.pop("wall_s_mean")
    assert a["groups"] == b["groups"]


def test_reverify_finds_a_changed_verifier(tmp_path):
    run_eval(plan(agent="oracle", env_kwargs={"high": 64}), OracleAgent(), tmp_path, progress=False)
    plan_data, records = load_run(tmp_path)
    assert reverify_records(records, plan_data["env_kwargs"]) == []
    records[3].turns[-1].signals["closer"] = 0.5
    records[5].outcome = 0.0
    differences = reverify_records(records, plan_data["env_kwargs"])
    assert [d.episode_id for d in differences] == [records[3].episode_id, records[5].episode_id]
    assert "signal closer: stored 0.5, now 1.0" in differences[0].problems[0]
    assert differences[1].problems == ["outcome: stored 0.0, now 1.0"]


HOLDER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from turngym.core.runlock import run_lock
    with run_lock(sys.argv[1]):
        print("HELD", flush=True)
        time.sleep(60)
    """
)


def test_one_writer_per_run_directory_and_stale_locks_do_not_block(tmp_path):
    script = tmp_path / "hold.py"
    script.write_text(HOLDER.format(root=str(ROOT)), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "run")], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "HELD"
        with pytest.raises(RunLockedError, match=f"pid {proc.pid} on host"):
            with run_lock(tmp_path / "run"):
                pass
        with pytest.raises(RunLockedError):
            run_eval(plan(), RandomAgent(), tmp_path / "run", progress=False)
    finally:
        proc.kill()
        proc.wait()
    with run_lock(tmp_path / "run"):  # the dead holder's lock file is still there; it does not block
        pass


def test_agent_specs_are_checked_with_what_is_accepted(tmp_path):
    assert parse_agent_spec("oracle").kind == "oracle"
    spec = parse_agent_spec("openai:my-model@http://127.0.0.1:9/v1")
    assert (spec.model, spec.base_url) == ("my-model", "http://127.0.0.1:9/v1")
    assert str(spec) == "openai:my-model@http://127.0.0.1:9/v1"
    for bad, message in [("gpt", "unknown agent"), ("openai:m", "openai:MODEL@BASE_URL"),
                         ("hf:/no/such/model", "does not exist"), ("checkpoint:", "names no path")]:
        with pytest.raises(AgentSpecError, match=message):
            parse_agent_spec(bad)
    os.environ["TG_TEST_KEY"] = "sekret"
    agent = build_agent(parse_agent_spec("openai:m@http://127.0.0.1:9/v1"), api_key_env="TG_TEST_KEY")
    assert agent.api_key == "sekret"


def test_failed_episodes_are_played_again_on_resume(tmp_path):
    """A resumed run replays failed episodes (an endpoint that was down); the newest record counts."""
    from turngym.agents.scripted import RandomAgent as Base

    class Flaky(Base):
        broken = True

        def act(self, history, env):
            if Flaky.broken:
                raise ConnectionError("endpoint down")
            return super().act(history, env)

    first = run_eval(plan(), Flaky(seed=1), tmp_path, progress=False)
    assert first["groups"][0]["failed"] == 12
    Flaky.broken = False
    second = run_eval(plan(), Flaky(seed=1), tmp_path, progress=False)
    assert second["groups"][0]["failed"] == 0 and second["groups"][0]["episodes"] == 12
    reference = run_eval(plan(), RandomAgent(seed=1), tmp_path / "ref", progress=False)
    for summary in (second, reference):
        summary["groups"][0].pop("wall_s_mean")
    assert second["groups"] == reference["groups"]


def test_environments_that_would_share_episode_ids_are_refused():
    with pytest.raises(EvalError, match="would share episode ids"):
        plan(env_ids=[ENV, ENV])
    with pytest.raises(EvalError, match="would share episode ids"):
        plan(env_ids=[ENV, "other/GuessNumber-v0"])
