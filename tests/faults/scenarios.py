"""Fault-injection scenarios (#20): each injects faults into real runs and counts what was lost.

A scenario returns a :class:`Tally`: how many faults of each kind it injected and how many runs
lost or duplicated anything (the goal is 0). ``tests/faults/test_faults.py`` runs them in
``make test``; ``benchmarks/faults.py`` runs them and prints the totals as JSON.

Kills are real ``SIGKILL``s of a forked child in the middle of a real run (evaluation or
training), either at a random moment or at a named point (inside the results append, a
checkpoint write, the update, the rollout); the run is then completed by a fresh process and
compared with an uninterrupted run of the same command. Full disks are ``ENOSPC`` raised where
the bytes reach the disk (``fsync``/``write``). Corruptions are torn or flipped bytes on disk.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gymnasium as gym

ENV = "turngym/GuessNumber-v0"


@dataclass
class Tally:
    """Faults injected per kind, and runs that lost or duplicated anything."""

    faults: Counter[str] = field(default_factory=Counter)
    damaged_runs: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> Tally:
        self.faults.update(other.faults)
        self.damaged_runs += other.damaged_runs
        self.notes.extend(other.notes)
        return self

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.damaged_runs += 1
            self.notes.append(what)


# ----- process control ---------------------------------------------------------------------


def in_child(work: Callable[[], None]) -> int:
    """Run ``work`` in a forked child; return its pid (the child exits 0 when ``work`` returns)."""
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's stack
        code = 0
        try:
            _one_thread_after_fork()
            work()
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    return pid


def _one_thread_after_fork() -> None:
    """A forked child must not enter the parent's OpenMP thread pool: libgomp's threads are not
    copied by fork, and a parallel region in the child waits for them forever. With one intra-op
    thread torch never opens a parallel region."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def wait(pid: int) -> int:
    """The child's exit: its code, or minus the signal that killed it."""
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def kill_after(pid: int, seconds: float) -> int:
    """SIGKILL ``pid`` after ``seconds`` (if it still runs); its exit status."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    return wait(pid)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_when_grown(pid: int, path: Path, lines: int, *, extra_s: float = 0.0,
                    timeout_s: float = 120.0) -> int:
    """SIGKILL ``pid`` ``extra_s`` after ``path`` has ``lines`` more lines than now (so: mid-run)."""
    target = _lines(path) + lines
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _lines(path) < target:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        time.sleep(0.002)
    return kill_after(pid, extra_s)


def die_on_call(owner: Any, name: str, call: int = 1, *, before: bool = True) -> None:
    """Make the ``call``-th call of ``owner.name`` SIGKILL this process (before or after it runs)."""
    original = getattr(owner, name)
    count = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        if count["n"] == call and before:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if count["n"] == call:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapper)


@contextlib.contextmanager
def disk_full(owner: Any, name: str, after: int = 0) -> Iterator[None]:
    """``owner.name`` (e.g. ``os.fsync`` as a module sees it) raises ENOSPC from call ``after + 1`` on."""
    original = getattr(owner, name)
    count = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        if count["n"] > after:
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        return original(*args, **kwargs)

    setattr(owner, name, failing)
    try:
        yield
    finally:
        setattr(owner, name, original)


# ----- evaluation --------------------------------------------------------------------------


def eval_plan(tasks: int = 60) -> Any:
    from turngym.bench.run import EvalPlan

    return EvalPlan(env_ids=[ENV], agent="random", tasks=list(range(tasks)), samples=2,
                    env_kwargs={"high": 12, "max_turns": 3})


class SlowRandom:
    """The random baseline, a little slow, so that kills land in the middle of a run."""

    name = "random"

    def __init__(self, seed: int = 5, delay_s: float = 0.003) -> None:
        from turngym.agents.scripted import RandomAgent

        self.inner, self.delay_s = RandomAgent(seed=seed), delay_s

    def reset(self, seed: int | None = None) -> None:
        self.inner.reset(seed)

    def act(self, history: Any, env: Any) -> Any:
        time.sleep(self.delay_s)
        return self.inner.act(history, env)


def _eval_records(run_dir: Path) -> list[dict[str, Any]]:
    from turngym.bench.run import load_run

    _, records = load_run(run_dir)
    rows = []
    for record in records:
        data = record.to_dict()
        data["metadata"] = {k: v for k, v in data["metadata"].items() if k != "wall_s"}
        rows.append(data)
    return sorted(rows, key=lambda r: r["episode_id"])


def _eval_summary(run_dir: Path) -> Any:
    summary = json.loads((run_dir / "summary.json").read_text())
    for group in summary["groups"]:
        group.pop("wall_s_mean", None)
    return summary["groups"]


def eval_reference(root: Path) -> Path:
    from turngym.bench.run import run_eval

    target = root / "eval-reference"
    if not (target / "summary.json").exists():
        run_eval(eval_plan(), SlowRandom(delay_s=0.0), target, progress=False)
    return target


def eval_kills(root: Path, *, random_kills: int = 16, seed: int = 0) -> Tally:
    """SIGKILL evaluations at random moments and inside the results append; resume; compare."""
    from turngym.bench import results as results_module
    from turngym.bench.run import run_eval

    tally = Tally()
    reference = eval_reference(root)
    rng = random.Random(seed)
    run_dir = root / "eval-killed"
    for _ in range(random_kills):  # after a random number of new episodes, at a random moment
        pid = in_child(lambda: run_eval(eval_plan(), SlowRandom(), run_dir, progress=False))
        if kill_when_grown(pid, run_dir / "episodes.jsonl", rng.randint(1, 5)) == -signal.SIGKILL:
            tally.faults["sigkill_eval_random"] += 1
    for call, before in ((3, True), (7, False), (11, True)):  # inside the append: torn and whole lines
        def torn_append(call: int = call, before: bool = before) -> None:
            if before:  # half a line reaches the file, then the process dies
                original = results_module.os.write

                def half(fd: int, data: Any) -> int:
                    return original(fd, bytes(data)[: max(1, len(data) // 2)])

                count = {"n": 0}
                real_append = results_module.ResultsFile.append

                def append(self: Any, record: Any) -> None:
                    count["n"] += 1
                    if count["n"] == call:
                        results_module.os.write = half  # type: ignore[assignment]
                        try:
                            real_append(self, record)
                        finally:
                            os.kill(os.getpid(), signal.SIGKILL)
                    real_append(self, record)

                results_module.ResultsFile.append = append  # type: ignore[method-assign]
            else:
                die_on_call(results_module.ResultsFile, "append", call, before=False)
            run_eval(eval_plan(), SlowRandom(), run_dir, progress=False)

        if wait(in_child(torn_append)) == -signal.SIGKILL:
            tally.faults["sigkill_eval_in_append"] += 1
    with contextlib.suppress(Exception):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_eval(eval_plan(), SlowRandom(delay_s=0.0), run_dir, progress=False)
    same = (run_dir / "summary.json").exists() and _eval_records(run_dir) == _eval_records(reference)
    tally.check(same and _eval_summary(run_dir) == _eval_summary(reference),
                "eval: killed-and-resumed run differs from the uninterrupted one")
    return tally


def eval_disk_full(root: Path) -> Tally:
    """ENOSPC while appending results and while writing the summary: clear error, nothing lost."""
    from turngym.bench import results as results_module
    from turngym.bench.run import run_eval
    from turngym.core import atomic

    tally = Tally()
    reference = eval_reference(root)
    run_dir = root / "eval-full"
    for after in (3, 10, 12):  # 60 episodes: each run dies before the end
        try:
            with disk_full(results_module.os, "fsync", after=after):
                run_eval(eval_plan(), SlowRandom(delay_s=0.0), run_dir, progress=False)
            tally.check(False, "eval: a full disk went unnoticed")
        except OSError as exc:
            tally.check(exc.errno == errno.ENOSPC, f"eval: unexpected error {exc!r}")
            tally.faults["enospc_eval_append"] += 1
    try:
        with disk_full(atomic.os, "fsync"):
            run_eval(eval_plan(), SlowRandom(delay_s=0.0), run_dir, progress=False)
    except OSError:
        tally.faults["enospc_eval_summary"] += 1
    tally.check(not (run_dir / "summary.json").exists(), "eval: a summary written on a full disk")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_eval(eval_plan(), SlowRandom(delay_s=0.0), run_dir, progress=False)
    tally.check(_eval_records(run_dir) == _eval_records(reference) and
                _eval_summary(run_dir) == _eval_summary(reference),
                "eval: the run after a full disk differs from the uninterrupted one")
    return tally


def eval_corruption(root: Path) -> Tally:
    """A torn last line is cut and replayed; a damaged earlier line is refused with file:line."""
    from turngym.bench.results import ResultsError
    from turngym.bench.run import run_eval

    tally = Tally()
    reference = eval_reference(root)
    run_dir = root / "eval-corrupt"
    run_eval(eval_plan(), SlowRandom(delay_s=0.0), run_dir, progress=False)
    episodes = run_dir / "episodes.jsonl"
    data = episodes.read_bytes()
    for cut in (7, 300):  # a torn tail: the last episode loses its end
        episodes.write_bytes(data[:-cut])
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run_eval(eval_plan(), SlowRandom(delay_s=0.0), run_dir, progress=False)
        tally.faults["torn_last_line"] += 1
        tally.check(any("torn last line" in str(w.message) for w in caught), "eval: torn line not reported")
        tally.check(_eval_records(run_dir) == _eval_records(reference), "eval: torn line not replayed")
    lines = episodes.read_bytes().split(b"\n")
    lines[4] = lines[4][:40] + b"\x00garbage" + lines[4][48:]
    episodes.write_bytes(b"\n".join(lines))
    try:
        run_eval(eval_plan(), SlowRandom(delay_s=0.0), run_dir, progress=False)
        tally.check(False, "eval: a damaged middle line was loaded as good")
    except ResultsError as exc:
        tally.check("episodes.jsonl:5" in str(exc), f"eval: damage not located: {exc}")
        tally.faults["corrupt_middle_line"] += 1
    return tally


# ----- training ----------------------------------------------------------------------------


def train_config(root: Path, name: str) -> Any:
    from turngym.trainers.config import from_dict

    return from_dict({
        "seed": 3, "output_dir": str(root / name), "env": {"id": ENV},
        "model": {"lora": None},
        "rollout": {"group_size": 4, "groups_per_step": 2, "max_new_tokens": 3},
        "algorithm": {"estimator": "grpo"},
        "optim": {"lr": 0.01, "minibatch_episodes": 4, "micro_batch_episodes": 2, "ppo_epochs": 2},
        "train": {"steps": 10, "checkpoint_every": 1, "progress": False},
    })


def _trainer(root: Path, name: str) -> Any:
    from tests.training.tiny import tiny_policy
    from turngym.trainers.loop import Trainer

    return Trainer(train_config(root, name), policy=tiny_policy(seed=0),
                   env_factory=lambda: gym.make(ENV, high=8, max_turns=3))


def _train_state(run_dir: Path) -> dict[str, Any]:
    from turngym.trainers.checkpoint import load_latest
    from turngym.trainers.metrics import read_metrics

    found = load_latest(run_dir / "checkpoints")
    assert found is not None
    _, loaded, _ = found
    rows = [{k: v for k, v in r.items() if not k.startswith("seconds")}
            for r in read_metrics(run_dir / "metrics.jsonl")]
    trajectories = {}
    for path in sorted((run_dir / "trajectories").glob("*.jsonl")):
        lines = []
        for line in path.read_text().splitlines():
            data = json.loads(line)
            data["metadata"].pop("wall_s", None)
            lines.append(data)
        trajectories[path.name] = lines
    return {"step": loaded["state"]["step"], "rows": rows, "trajectories": trajectories,
            "weights": {k: v.clone() for k, v in loaded["weights"].items()}}


def _same_training(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    return (a["step"] == b["step"] and a["rows"] == b["rows"] and a["trajectories"] == b["trajectories"]
            and a["weights"].keys() == b["weights"].keys()
            and all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"]))


def train_reference(root: Path) -> Path:
    target = root / "train-reference"
    if not (target / "metrics.jsonl").exists():
        pid = in_child(lambda: _trainer(root, "train-reference").run())
        assert wait(pid) == 0, "the uninterrupted training run failed"
    return target


def train_kills(root: Path, *, random_kills: int = 4, seed: int = 1) -> Tally:
    """SIGKILL training at named points (rollout, update, checkpoint write, metrics append) and at
    random moments; rerun the same command each time; compare with an uninterrupted run bit for bit."""
    import turngym.trainers.checkpoint as checkpoint_module
    import turngym.trainers.metrics as metrics_module
    from turngym.trainers import loop

    tally = Tally()
    reference = _train_state(train_reference(root))
    points: list[tuple[str, Callable[[], None]]] = [  # each dies within the child's first step or two
        ("sigkill_train_rollout", lambda: die_on_call(loop.Trainer, "collect", 1)),
        ("sigkill_train_update", lambda: die_on_call(loop.Trainer, "update", 2)),
        ("sigkill_train_checkpoint_write", lambda: die_on_call(checkpoint_module.torch, "save", 2)),
        ("sigkill_train_metrics_append", lambda: die_on_call(metrics_module.MetricsLogger, "log", 1,
                                                             before=False)),
        ("sigkill_train_trajectory_write", lambda: die_on_call(loop, "write_episodes", 1)),
    ]
    name = "train-killed"
    for kind, arm in points:
        def work(arm: Callable[[], None] = arm) -> None:
            arm()
            _trainer(root, name).run()

        if wait(in_child(work)) == -signal.SIGKILL:
            tally.faults[kind] += 1
    rng = random.Random(seed)
    for _ in range(random_kills):  # after the child's first new step, at a random moment
        pid = in_child(lambda: _trainer(root, name).run())
        metrics = root / name / "metrics.jsonl"
        if kill_when_grown(pid, metrics, 1, extra_s=rng.uniform(0.0, 0.4)) == -signal.SIGKILL:
            tally.faults["sigkill_train_random"] += 1
    assert wait(in_child(lambda: _trainer(root, name).run())) == 0
    tally.check(_same_training(_train_state(root / name), reference),
                "train: killed-and-resumed run differs from the uninterrupted one")
    return tally


def train_disk_full(root: Path) -> Tally:
    """ENOSPC during a checkpoint write: the run stops with the error, the previous checkpoint stays
    valid, and a rerun with space resumes to the uninterrupted result."""
    import turngym.trainers.checkpoint as checkpoint_module
    from turngym.trainers.checkpoint import load_latest

    tally = Tally()
    reference = _train_state(train_reference(root))
    name = "train-full"

    def work() -> None:
        trainer = _trainer(root, name)
        trainer.run(stop_after=2)
        with disk_full(checkpoint_module.os, "fsync", after=1):
            try:
                trainer.run()
            except OSError as exc:
                os._exit(17 if exc.errno == errno.ENOSPC else 18)
        os._exit(19)

    code = wait(in_child(work))
    tally.check(code == 17, f"train: a full disk during a checkpoint ended with code {code}")
    tally.faults["enospc_train_checkpoint"] += code == 17
    found = load_latest(root / name / "checkpoints")
    tally.check(found is not None and found[1]["state"]["step"] == 2, "train: last good checkpoint gone")
    assert wait(in_child(lambda: _trainer(root, name).run())) == 0
    tally.check(_same_training(_train_state(root / name), reference), "train: resumed after ENOSPC differs")
    return tally


def checkpoint_corruption(root: Path) -> Tally:
    """A flipped byte in the newest checkpoint: named, never loaded, the run resumes from the one before."""
    import warnings

    from turngym.trainers.checkpoint import CheckpointError, CheckpointWarning, load_checkpoint

    tally = Tally()
    reference = _train_state(train_reference(root))
    name = "train-corrupt"
    assert wait(in_child(lambda: _trainer(root, name).run(stop_after=4))) == 0
    newest = root / name / "checkpoints" / "step-00000004"
    for file_name in ("weights.pt", "optimizer.pt"):
        path = newest / file_name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x40
        path.write_bytes(bytes(data))
        try:
            load_checkpoint(newest)
            tally.check(False, f"train: a flipped byte in {file_name} was loaded")
        except CheckpointError as exc:
            tally.check(file_name in str(exc), f"train: corruption not named: {exc}")
            tally.faults["flipped_checkpoint_byte"] += 1
        data[len(data) // 2] ^= 0x40
        path.write_bytes(bytes(data))
    path = newest / "weights.pt"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))

    def resume() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error", CheckpointWarning)
            try:
                _trainer(root, name)
            except CheckpointWarning:
                os._exit(23)
        os._exit(0)

    tally.check(wait(in_child(resume)) == 23, "train: resuming past a corrupt checkpoint gave no warning")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert wait(in_child(lambda: _trainer(root, name).run())) == 0
    tally.check(_same_training(_train_state(root / name), reference), "train: resumed past damage differs")
    return tally


# ----- environments and endpoints ----------------------------------------------------------


class FaultyEnv(gym.Wrapper):
    """Raises, hangs or answers garbage on one step of one episode."""

    def __init__(self, env: gym.Env, fault: str, at_turn: int) -> None:
        super().__init__(env)
        self.fault, self.at_turn, self.turns = fault, at_turn, 0

    def reset(self, **kwargs: Any) -> Any:
        self.turns = 0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        self.turns += 1
        if self.turns == self.at_turn:
            if self.fault == "raise":
                raise RuntimeError("environment crashed (injected)")
            if self.fault == "hang":
                time.sleep(6)
            if self.fault == "garbage":
                return ("not", "five", "values")
        return self.env.step(action)


def env_faults(root: Path) -> Tally:
    """Environments that raise, hang or return garbage mid-batch, for text agents and token policies."""
    from tests.training.tiny import tiny_policy
    from turngym.agents.policy import SamplingParams
    from turngym.agents.scripted import OracleAgent
    from turngym.rollout import collect, play_episodes

    tally = Tally()
    for fault in ("raise", "garbage"):
        for at_turn in (1, 2):
            made = {"n": 0}
            lock = threading.Lock()

            def make(fault: str = fault, at_turn: int = at_turn, made: dict[str, int] = made,
                     lock: threading.Lock = lock) -> gym.Env:
                with lock:
                    made["n"] += 1
                    faulty = made["n"] % 3 == 2
                env = gym.make(ENV, high=64, max_turns=8)
                return FaultyEnv(env, fault, at_turn) if faulty else env

            tasks = [{"options": {"task_id": "n-1"}}] * 6  # the oracle needs six turns for 1 in 1..64
            records = play_episodes(make, OracleAgent(), tasks, progress=False)
            failed = [r for r in records if r.status == "failed"]
            tally.faults[f"env_{fault}_text"] += len(failed)
            tally.check(len(failed) == 2 and all(r.error for r in failed) and
                        all(r.outcome == 1.0 for r in records if r.status == "ok"),
                        f"env {fault}: the batch did not go on")
    policy = tiny_policy(seed=0)
    for fault in ("raise", "hang", "garbage"):
        made = {"n": 0}

        def make(fault: str = fault, made: dict[str, int] = made) -> gym.Env:  # type: ignore[misc]
            made["n"] += 1
            env = gym.make(ENV, high=8, max_turns=3)
            return FaultyEnv(env, fault, 1) if made["n"] == 3 else env

        records = collect(make, policy, [0, 1], group_size=3, progress=False, step_timeout_s=2.0,
                          sampling=SamplingParams(max_new_tokens=3, seed=0))
        failed = [r for r in records if r.status == "failed"]
        tally.faults[f"env_{fault}_tokens"] += len(failed)
        reason = {"raise": "RuntimeError", "hang": "timed out", "garbage": "EnvOutputError"}[fault]
        tally.check(len(failed) == 1 and reason in (failed[0].error or ""),
                    f"token batch with a {fault} env: {[r.error for r in failed]}")
    return tally


class _FlakyEndpoint(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that is down (HTTP 503, then dropped connections) for a while."""

    down_until = 0.0
    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if time.monotonic() < type(self).down_until:
            if type(self).calls % 2:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.close_connection = True  # drop it without an answer
            return
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": "<guess>8</guess>"}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, *args: Any) -> None:
        pass


def endpoint_outage(root: Path) -> Tally:
    """The endpoint dies mid-eval and comes back: the eval goes on; episodes that ran out of retries
    during the outage are recorded as failed with the reason, and the summary counts them."""
    from turngym.agents.openai_agent import OpenAIAgent
    from turngym.bench.run import EvalPlan, load_run, run_eval

    tally = Tally()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        plan = EvalPlan(env_ids=[ENV], agent="openai:m@http://127.0.0.1/v1",
                        tasks=[{"options": {"task_id": "n-8"}}] * 12, env_kwargs={"max_turns": 2})
        agent = OpenAIAgent("m", f"http://127.0.0.1:{server.server_port}/v1", max_retries=2, backoff_s=0.05,
                            timeout_s=2.0)

        class Outage:
            """Takes the endpoint down for 0.4 s at the 4th and 9th episode."""

            name = agent.name

            def __init__(self) -> None:
                self.episodes = 0

            def reset(self, seed: int | None = None) -> None:
                self.episodes += 1
                if self.episodes in (4, 9):
                    _FlakyEndpoint.down_until = time.monotonic() + 0.4
                agent.reset(seed)

            def act(self, history: Any, env: Any) -> Any:
                return agent.act(history, env)

        summary = run_eval(plan, Outage(), root / "eval-outage", progress=False)
        _, records = load_run(root / "eval-outage")
        failed = [r for r in records if r.status == "failed"]
        tally.faults["endpoint_outage"] += 2
        tally.faults["endpoint_failed_requests"] += len(failed)
        tally.check(len(records) == 12 and len({r.episode_id for r in records}) == 12,
                    "endpoint outage: episodes lost or duplicated")
        tally.check(all("failed after" in (r.error or "") for r in failed),
                    f"endpoint outage: failures without reasons {[r.error for r in failed]}")
        tally.check(summary["groups"][0]["failed"] == len(failed), "endpoint outage: failures miscounted")
        tally.check(sum(r.outcome == 1.0 for r in records) >= 8, "endpoint outage: the eval did not go on")
    finally:
        server.shutdown()
    return tally


SCENARIOS: dict[str, Callable[[Path], Tally]] = {
    "eval_kills": eval_kills,
    "eval_disk_full": eval_disk_full,
    "eval_corruption": eval_corruption,
    "train_kills": train_kills,
    "train_disk_full": train_disk_full,
    "checkpoint_corruption": checkpoint_corruption,
    "env_faults": env_faults,
    "endpoint_outage": endpoint_outage,
}
