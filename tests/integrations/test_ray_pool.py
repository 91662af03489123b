"""Environments in Ray actors: same records as in-process, failures local, dead and hung actors replaced."""

from __future__ import annotations

import functools
import os
import threading
import time
from pathlib import Path

import pytest

from tests.integrations.slow_envs import StallingGuessEnv
from turngym.agents.scripted import OracleAgent, RandomAgent
from turngym.integrations import env_source, parse_env_workers
from turngym.rollout import play_episodes

pytest.importorskip("ray", reason="the Ray pool needs the 'ray' extra")

from turngym.integrations.ray_pool import RayEnvPool, RayTurnEnv


def _comparable(record) -> dict:
    data = record.to_dict()
    data["metadata"] = {k: v for k, v in data["metadata"].items() if k != "wall_s"}
    return data


def test_pool_plays_the_same_records_as_in_process_environments(ray_cluster):
    # SearchQA with the oracle and a seeded random agent (reads the env's tools through the proxy),
    # plus a task whose options the environment refuses: its failure must read the same too.
    tasks = [0, 1, {"seed": 2, "options": {"task_id": "no-such-task"}}, 3]
    with RayEnvPool("turngym/SearchQA-v0", actors=2, num_cpus_per_actor=0.5) as pool:
        for agent in (OracleAgent(), RandomAgent(seed=5)):
            remote = play_episodes(pool, agent, tasks, group_size=2, concurrency=2, run_id="r",
                                   progress=False)
            local = play_episodes("turngym/SearchQA-v0", agent, tasks, group_size=2, run_id="r",
                                  progress=False)
            assert [_comparable(r) for r in remote] == [_comparable(r) for r in local]
            assert [r.status for r in remote] == ["ok", "ok", "ok", "ok", "failed", "failed", "ok", "ok"]
            assert "ValueError" in remote[4].error and "no-such-task" in remote[4].error
        assert all(r.env_id == "turngym/SearchQA-v0" for r in remote)
        assert sum(len(r.turns) for r in remote) > 0
        # The environments really live in other processes.
        env = pool()
        assert isinstance(env, RayTurnEnv) and env.tools and env.max_turns > 0
        assert ray_cluster.get(env.actor.pid.remote()) != os.getpid()
        env.close()
    # An unregistered environment made by a factory: records name its class, as in-process.
    factory = functools.partial(StallingGuessEnv, -1, 0.0, "", max_turns=3)
    with RayEnvPool(factory, actors=1, num_cpus_per_actor=0.5) as pool:
        remote = play_episodes(pool, OracleAgent(), [5, 6], run_id="f", progress=False)
    local = play_episodes(factory, OracleAgent(), [5, 6], run_id="f", progress=False)
    assert [_comparable(r) for r in remote] == [_comparable(r) for r in local]
    assert remote[0].env_id == "StallingGuessEnv" and remote[0].status == "ok"


def _stalling(tmp_path: Path, stall_s: float):
    marker = tmp_path / "stalled.pid"
    return functools.partial(StallingGuessEnv, 1, stall_s, str(marker), max_turns=4), marker


def test_a_killed_actor_fails_only_its_episode_and_is_replaced(ray_cluster, tmp_path):
    factory, marker = _stalling(tmp_path, stall_s=60.0)
    pool = RayEnvPool(factory, actors=2, num_cpus_per_actor=0.5, call_timeout_s=120.0)
    killed: list[int] = []

    def kill_the_stalled_actor() -> None:  # ray.kill the actor whose environment is stuck in step
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int(marker.read_text())
        for handle in pool.live_actors():
            if ray_cluster.get(handle.pid.remote()) == pid:
                ray_cluster.kill(handle, no_restart=True)
                killed.append(pid)

    killer = threading.Thread(target=kill_the_stalled_actor, daemon=True)
    killer.start()
    try:
        started = time.monotonic()
        records = play_episodes(pool, OracleAgent(), [0, 1, 2, 3], concurrency=2, run_id="k", progress=False)
        assert time.monotonic() - started < 50, "the killed episode did not wait out its stall"
        killer.join(timeout=5)
        assert len(killed) == 1
        assert [r.status for r in records] == ["ok", "failed", "ok", "ok"]
        assert records[1].error.startswith("turn 0: EnvActorDied: the Ray actor hosting the environment died "
                                           "during step")
        assert all(r.outcome == 1.0 for i, r in enumerate(records) if i != 1)
        # A replacement took the dead actor's place; the pool still plays.
        again = play_episodes(pool, OracleAgent(), [0, 2], concurrency=2, run_id="k2", progress=False)
        assert [r.status for r in again] == ["ok", "ok"]
        assert pool.replaced == 1 and len(pool.live_actors()) == 2
    finally:
        pool.close()


def test_a_hung_step_times_out_its_episode_and_the_batch_goes_on(ray_cluster, tmp_path):
    factory, marker = _stalling(tmp_path, stall_s=300.0)
    pool = RayEnvPool(factory, actors=2, num_cpus_per_actor=0.5, call_timeout_s=3.0)
    try:
        records = play_episodes(pool, OracleAgent(), [0, 1, 2], concurrency=2, run_id="h", progress=False)
        assert [r.status for r in records] == ["ok", "failed", "ok"]
        assert records[1].error.startswith(
            "turn 0: EnvCallTimeout: environment step timed out after 3.0 s (Ray actor "
        )
        # The hung actor took no new environments and was killed once its last one closed ...
        pid = int(marker.read_text())
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(pid), "the actor stuck in the hung step still runs"
        # ... and a fresh actor takes its place.
        again = play_episodes(pool, OracleAgent(), [0, 2], concurrency=2, run_id="h2", progress=False)
        assert [r.status for r in again] == ["ok", "ok"]
        assert pool.replaced == 1 and len(pool.live_actors()) == 2
    finally:
        pool.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its parent) counts as ended.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def test_env_workers_switch_is_parsed_with_clear_errors():
    assert parse_env_workers("local") == 0 and parse_env_workers("ray:3") == 3
    for bad in ("ray", "ray:0", "ray:-1", "threads:2", "", "RAY:2"):
        with pytest.raises(ValueError, match=r"accepted: 'local'.*'ray:N'"):
            parse_env_workers(bad)
    assert not isinstance(env_source("turngym/SearchQA-v0"), RayEnvPool)
    pool = env_source("turngym/SearchQA-v0", {"max_turns": 3}, "ray:2")
    assert isinstance(pool, RayEnvPool) and pool.actors == 2 and pool.env_kwargs == {"max_turns": 3}


def test_pool_arguments_are_checked():
    with pytest.raises(ValueError, match="actors must be a positive int"):
        RayEnvPool("turngym/SearchQA-v0", actors=0)
    with pytest.raises(ValueError, match="env_kwargs are only accepted with an environment id"):
        RayEnvPool(lambda: None, env_kwargs={"a": 1})
    with pytest.raises(ValueError, match="call_timeout_s must be > 0"):
        RayEnvPool("turngym/SearchQA-v0", call_timeout_s=0)


def test_eval_and_train_switches_select_the_pool(ray_cluster, tmp_path):
    from turngym.bench.run import EPISODES_FILE, EvalError, EvalPlan, run_eval
    from turngym.core.trajectory import read_episodes
    from turngym.trainers.config import ConfigError, from_dict

    plans = {w: EvalPlan(["turngym/SearchQA-v0"], "oracle", [0, 1, 2], env_workers=w)
             for w in ("local", "ray:2")}
    summaries = {w: run_eval(plan, OracleAgent(), tmp_path / w, progress=False) for w, plan in plans.items()}
    episodes = {w: read_episodes(tmp_path / w / EPISODES_FILE) for w in plans}
    order = sorted(episodes["local"], key=lambda r: r.episode_id)
    assert [_comparable(r) for r in sorted(episodes["ray:2"], key=lambda r: r.episode_id)] == [
        _comparable(r) for r in order]
    assert _untimed(summaries["local"]) == _untimed(summaries["ray:2"])
    # Where environments ran is not part of the run: a local run resumes a Ray one unchanged.
    assert run_eval(plans["local"], OracleAgent(), tmp_path / "ray:2", progress=False) == summaries["ray:2"]
    with pytest.raises(EvalError, match="accepted: 'local' or 'ray:N'"):
        EvalPlan(["turngym/SearchQA-v0"], "oracle", [0], env_workers="ray:0")
    assert from_dict({"env": {"workers": "ray:3"}}).env.workers == "ray:3"
    with pytest.raises(ConfigError, match=r"env.workers: 'rays:3' is not allowed; accepted: local, ray:N"):
        from_dict({"env": {"workers": "rays:3"}})


def _untimed(data):
    """``data`` without wall-clock figures (``wall_s_mean``), the one thing the two runs may differ in."""
    if isinstance(data, dict):
        return {k: _untimed(v) for k, v in data.items() if not k.startswith("wall_s")}
    if isinstance(data, list):
        return [_untimed(v) for v in data]
    return data


@pytest.mark.slow
def test_token_policy_collects_the_same_records_through_the_pool(ray_cluster):
    # The trainer's path: collect() with a token policy (a tiny random Llama on SmolLM2's tokenizer).
    from tests.agents.conftest import tiny_llama
    from tests.toy_envs import GuessNumberEnv
    from turngym.agents.models import smollm2_135m
    from turngym.agents.policy import SamplingParams
    from turngym.rollout import collect

    policy = tiny_llama(smollm2_135m(device="cpu").tokenizer)
    sampling = SamplingParams(temperature=1.0, max_new_tokens=8, seed=11)
    factory = functools.partial(GuessNumberEnv, max_turns=3)
    with RayEnvPool(factory, actors=2, num_cpus_per_actor=0.5) as pool:
        remote = collect(pool, policy, [3, 4], group_size=2, sampling=sampling, run_id="c", progress=False)
    local = collect(factory, policy, [3, 4], group_size=2, sampling=sampling, run_id="c", progress=False)
    assert all(r.status == "ok" for r in remote) and sum(len(r.turns) for r in remote) >= 4
    assert [_comparable(r) for r in remote] == [_comparable(r) for r in local]


@pytest.mark.slow
def test_trainer_rollouts_through_the_pool_equal_local_ones(ray_cluster, tmp_path):
    # The trainer's own path (Trainer.collect -> collect() with its env factory), env.workers=ray:2,
    # on an environment registered in this process only (its spec travels to the actors).
    import gymnasium as gym

    from tests.training.tiny import tiny_policy
    from turngym.trainers.config import from_dict
    from turngym.trainers.loop import Trainer

    if "turngym/TwoDoors-v0" not in gym.registry:
        gym.register("turngym/TwoDoors-v0", entry_point="tests.training.tiny:TwoDoorsEnv")
    records = {}
    for workers in ("local", "ray:2"):
        config = from_dict({
            "seed": 3, "output_dir": str(tmp_path / workers.replace(":", "_")),
            "env": {"id": "turngym/TwoDoors-v0", "workers": workers}, "model": {"lora": None},
            "rollout": {"group_size": 4, "groups_per_step": 2, "max_new_tokens": 3},
            "optim": {"minibatch_episodes": 8, "micro_batch_episodes": 8},
            "train": {"steps": 1, "progress": False, "save_trajectories": False},
        })
        trainer = Trainer(config, policy=tiny_policy(seed=0))
        if workers != "local":
            assert isinstance(trainer.env_factory, RayEnvPool)
        records[workers] = trainer.collect()
        if workers != "local":
            trainer.env_factory.close()
    assert len(records["local"]) == 8 and all(r.status == "ok" for r in records["ray:2"])
    assert [_comparable(r) for r in records["ray:2"]] == [_comparable(r) for r in records["local"]]
