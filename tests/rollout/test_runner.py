"""The one episode runner (turngym.rollout): ids, concurrency, resume skips, failures, metrics."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import gymnasium as gym
import pytest

import turngym
from tests.toy_envs import GuessNumberEnv
from turngym.agents.scripted import OracleAgent, RandomAgent
from turngym.bench.evaluate import summarise
from turngym.core.trajectory import read_episodes, write_episodes
from turngym.rollout import play_episode, play_episodes, summary_metrics
from turngym.rollout.records import new_episode, record_failure

ENV_ID = "turngym/GuessNumber-v0"
PACKAGE = Path(turngym.__file__).parent


def test_records_name_the_registered_env_even_from_a_factory():
    """#11 Broken 3: a factory (lambda) used to be recorded as env_id '<lambda>'."""
    record = play_episodes(lambda: gym.make(ENV_ID), OracleAgent(), [0], progress=False)[0]
    assert record.env_id == ENV_ID
    unregistered = play_episodes(lambda: GuessNumberEnv(), OracleAgent(), [0], progress=False)[0]
    assert unregistered.env_id == "GuessNumberEnv"


def test_concurrent_episodes_equal_sequential_ones():
    tasks = list(range(12))
    one = play_episodes(ENV_ID, RandomAgent(seed=3), tasks, group_size=2, run_id="r", progress=False)
    many = play_episodes(ENV_ID, RandomAgent(seed=3), tasks, group_size=2, run_id="r", concurrency=6,
                         progress=False)
    strip = lambda r: {**r.to_dict(), "metadata": {k: v for k, v in r.metadata.items() if k != "wall_s"}}  # noqa: E731
    assert [strip(r) for r in one] == [strip(r) for r in many]
    assert [r.episode_id for r in many] == [f"r-g{g}-e{j}" for g in range(12) for j in range(2)]


def test_concurrency_really_overlaps_slow_agents():
    class Slow:
        name = "slow"

        def __init__(self) -> None:
            self.threads: set[str] = set()

        def reset(self, seed=None):
            pass

        def act(self, history, env):
            time.sleep(0.2)
            return env.unwrapped.oracle_action()

        def fork(self):
            return self

    started = time.perf_counter()
    records = play_episodes(ENV_ID, Slow(), [{"options": {"task_id": "n-8"}}] * 8, concurrency=8,
                            progress=False)
    assert all(r.outcome == 1.0 for r in records)
    assert time.perf_counter() - started < 8 * 0.2  # one turn each: 8 sequential sleeps would be 1.6 s


def test_skip_and_on_episode_support_resuming(tmp_path):
    seen = []
    first = play_episodes(ENV_ID, OracleAgent(), [0, 1, 2], run_id="x", progress=False,
                          on_episode=seen.append)
    assert sorted(r.episode_id for r in seen) == ["x-g0-e0", "x-g1-e0", "x-g2-e0"]
    rest = play_episodes(ENV_ID, OracleAgent(), [0, 1, 2], run_id="x", skip={"x-g0-e0", "x-g2-e0"},
                         progress=False)
    assert [r.episode_id for r in rest] == ["x-g1-e0"]
    assert rest[0].turns == first[1].turns


def test_a_factory_that_raises_fails_its_episode_only():
    calls = {"n": 0}
    lock = threading.Lock()

    def flaky():
        with lock:
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError("no room for another environment")
        return gym.make(ENV_ID)

    records = play_episodes(flaky, OracleAgent(), [0, 1, 2], progress=False)
    assert [r.status for r in records] == ["ok", "failed", "ok"]
    assert records[1].error == "turn 0: OSError: no room for another environment"


def test_runner_side_turn_limit_and_wall_time_are_recorded():
    record = play_episode(gym.make(ENV_ID, high=1000), RandomAgent(seed=0), seed=1, max_turns=2)
    assert len(record.turns) == 2 and record.truncated
    assert record.metadata["truncated_reason"] == "max_turns"
    assert record.metadata["wall_s"] > 0


def test_env_truncation_reason_reaches_the_record():
    env = gym.make(ENV_ID, high=1000, max_turns=2)
    record = play_episode(env, RandomAgent(seed=0), seed=1)
    assert record.truncated and record.metadata["truncated_reason"] == "max_turns"


def test_bad_arguments_are_refused_with_what_is_accepted():
    with pytest.raises(ValueError, match="concurrency must be a positive int"):
        play_episodes(ENV_ID, OracleAgent(), [0], concurrency=0)
    with pytest.raises(ValueError, match="a task is a seed"):
        play_episodes(ENV_ID, OracleAgent(), ["zero"])
    with pytest.raises(ValueError, match="only accepted with an environment id"):
        play_episodes(lambda: gym.make(ENV_ID), OracleAgent(), [0], env_kwargs={"high": 3})


def test_failed_episodes_count_the_same_for_training_and_benchmarks():
    """#11 Structure: one definition of each summary metric, failures scoring 0 in both."""
    records = play_episodes(ENV_ID, OracleAgent(), [0, 1, 2, 3], progress=False)
    record_failure(records[3], "turn 0: boom")
    metrics = summary_metrics(records)
    assert metrics["failed_episodes"] == 1
    assert metrics["outcome_mean"] == pytest.approx(0.75) and metrics["success_rate"] == pytest.approx(0.75)
    summary = summarise(records, ENV_ID, "oracle")
    assert summary.mean_outcome == metrics["outcome_mean"] and summary.failed == 1
    assert summary.success_rate == metrics["success_rate"]


def test_records_round_trip_through_files(tmp_path):
    records = play_episodes(ENV_ID, RandomAgent(seed=2), [5, 6], progress=False)
    write_episodes(tmp_path / "e.jsonl", records)
    assert read_episodes(tmp_path / "e.jsonl") == records
    assert new_episode("a").to_dict()["episode_id"] == "a"


def test_records_are_built_in_one_module():
    """#11 Structure: `EpisodeRecord(` / `TurnRecord(` are constructed only in turngym/rollout/records.py
    (plus the JSON loader in core/trajectory.py, which rebuilds turns it reads)."""
    builders = {}
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in ("EpisodeRecord", "TurnRecord"):
            if re.search(rf"(?<![\w.]){name}\(", text):
                builders.setdefault(name, set()).add(str(path.relative_to(PACKAGE)))
    assert builders["EpisodeRecord"] == {"rollout/records.py"}
    assert builders["TurnRecord"] == {"rollout/records.py", "core/trajectory.py"}


class _GarbageEnv(GuessNumberEnv):
    """Returns something the contract forbids on its second step."""

    def __init__(self, garbage, **kwargs):
        super().__init__(**kwargs)
        self.garbage = garbage

    def step(self, action):
        out = super().step(action)
        return self.garbage(out) if self.turn == 2 else out


@pytest.mark.parametrize(
    ("garbage", "message"),
    [
        (lambda out: out[:4], "step must return"),
        (lambda out: ("not a list", *out[1:]), "observation must be a list"),
        (lambda out: ([{"role": "robot", "content": "x"}], *out[1:]), "bad message"),
        (lambda out: (out[0], float("nan"), *out[2:]), "reward must be a finite number"),
        (lambda out: (*out[:4], {"signals": {"x": "high"}}), "signals"),
    ],
)
def test_garbage_from_an_environment_fails_its_episode_with_the_reason(garbage, message):
    make = lambda: _GarbageEnv(garbage, high=1000)  # noqa: E731
    records = play_episodes(make, RandomAgent(seed=0), [0, 1], progress=False)
    assert [r.status for r in records] == ["failed", "failed"]
    assert message in records[0].error and records[0].error.startswith("turn 1: EnvOutputError")
    assert len(records[0].turns) == 1
    write_episodes(Path("/dev/null"), records)  # what was recorded still serialises


def test_numpy_numbers_from_an_environment_are_valid():
    """Gymnasium accepts np.float32 rewards and numpy signals; so must the runner."""
    import numpy as np

    class NumpyRewards(GuessNumberEnv):
        def step(self, action):
            observation, reward, terminated, truncated, info = super().step(action)
            info["signals"] = {k: np.float32(v) for k, v in info["signals"].items()}
            if "outcome" in info:
                info["outcome"] = np.float64(info["outcome"])
            return observation, np.float32(reward), terminated, truncated, info

    record = play_episodes(lambda: NumpyRewards(), OracleAgent(), [0], progress=False)[0]
    assert record.status == "ok" and record.outcome == 1.0
    assert isinstance(record.turns[0].reward, float)


def test_a_hung_environment_does_not_keep_the_process_from_exiting(tmp_path):
    """A timed-out step runs on in a daemon thread: the process still exits when its work is done."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "hang.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.toy_envs import GuessNumberEnv
        from tests.training.tiny import tiny_policy
        from turngym.agents.policy import SamplingParams
        from turngym.rollout import collect

        class Hang(GuessNumberEnv):
            def step(self, action):
                time.sleep(600)

        records = collect(lambda: Hang(), tiny_policy(), [0], sampling=SamplingParams(max_new_tokens=2),
                          step_timeout_s=0.5, progress=False)
        print(records[0].status, records[0].error)
    """), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert "failed" in done.stdout and "timed out" in done.stdout, done.stderr[-2000:]
