"""Checkpoint and resume: an interrupted run, resumed, ends exactly where an uninterrupted one does."""

import shutil
import warnings

import pytest
import torch

from tests.training.tiny import TwoDoorsEnv, tiny_policy
from turngym.core.trajectory import read_episodes
from turngym.trainers.checkpoint import CheckpointError, CheckpointWarning, latest_checkpoint
from turngym.trainers.config import ConfigError, from_dict
from turngym.trainers.loop import Trainer
from turngym.trainers.metrics import read_metrics


def config(tmp_path, name, **algorithm):
    return from_dict({
        "seed": 3,
        "output_dir": str(tmp_path / name),
        "env": {"id": "turngym/GuessNumber-v0"},
        "model": {"lora": None},
        "rollout": {"group_size": 4, "groups_per_step": 2, "max_new_tokens": 3},
        "algorithm": {"estimator": "grpo", **algorithm},
        "optim": {"lr": 0.01, "minibatch_episodes": 4, "micro_batch_episodes": 2, "ppo_epochs": 2},
        "train": {"steps": 4, "checkpoint_every": 2, "progress": False},
    })


def make(cfg):
    return Trainer(cfg, policy=tiny_policy(seed=0), env_factory=lambda: TwoDoorsEnv())


def comparable(rows):
    return [{k: v for k, v in r.items() if not k.startswith("seconds")} for r in rows]


def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(tmp_path, monkeypatch):
    straight = make(config(tmp_path, "straight"))
    straight.run()

    cfg = config(tmp_path, "resumed")
    first = make(cfg)
    real_update = Trainer.update
    calls = {"n": 0}

    def dies_in_step_three(self, tensors):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed mid-step")
        return real_update(self, tensors)

    monkeypatch.setattr(Trainer, "update", dies_in_step_three)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    monkeypatch.setattr(Trainer, "update", real_update)
    assert latest_checkpoint(tmp_path / "resumed" / "checkpoints").name == "step-00000002"

    second = make(cfg)  # a fresh process would build exactly this
    assert second.step == 2 and second.cursor == straight.config.env.task_seed + 4
    second.run()
    for (name, a), (_, b) in zip(straight.policy.model.named_parameters(),
                                 second.policy.model.named_parameters()):
        assert torch.equal(a, b), name
    assert comparable(read_metrics(tmp_path / "resumed" / "metrics.jsonl")) == comparable(
        read_metrics(tmp_path / "straight" / "metrics.jsonl"))
    assert (tmp_path / "resumed" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((tmp_path / "resumed" / "trajectories").glob("*.jsonl"))) == 4


def steps_on_disk(run):
    trajectories = sorted(p.name for p in (run / "trajectories").glob("*.jsonl"))
    return [r["step"] for r in read_metrics(run / "metrics.jsonl")], trajectories


def test_corrupt_checkpoint_is_refused_not_loaded(tmp_path):
    cfg = config(tmp_path, "corrupt")
    make(cfg).run(stop_after=2)
    path = latest_checkpoint(tmp_path / "corrupt" / "checkpoints")
    weights = path / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match=r"(?s)no checkpoint under .* verifies.*- step-00000002: .*"
                                              r"half-written or truncated"):
        make(cfg)
    assert weights.is_file()  # nothing deleted or renamed, and the run's records are untouched
    assert steps_on_disk(tmp_path / "corrupt") == ([1, 2], ["step-000001.jsonl", "step-000002.jsonl"])


def test_resume_falls_back_past_a_corrupt_newest_checkpoint(tmp_path):
    cfg = config(tmp_path, "fallback")
    run = tmp_path / "fallback"
    make(cfg).run()
    newest = run / "checkpoints" / "step-00000004"
    data = bytearray((newest / "optimizer.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF  # flipped on disk after a complete save
    (newest / "optimizer.pt").write_bytes(bytes(data))

    with pytest.warns(CheckpointWarning) as caught:
        resumed = make(cfg)
    message = str(caught[0].message)
    assert "resuming from step-00000002 (step 2), not the newest checkpoint" in message
    assert "step-00000004 is corrupt" in message and "optimizer.pt does not match its SHA-256" in message
    assert "kept for inspection as step-00000004.corrupt" in message
    assert resumed.step == 2 and resumed.resumed_from == run / "checkpoints" / "step-00000002"
    assert (run / "checkpoints" / "step-00000004.corrupt" / "optimizer.pt").read_bytes() == bytes(data)
    assert steps_on_disk(run) == ([1, 2], ["step-000001.jsonl", "step-000002.jsonl"])

    resumed.run()
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == [
        "step-00000002", "step-00000004", "step-00000004.corrupt"]
    assert steps_on_disk(run) == ([1, 2, 3, 4], [f"step-{k:06d}.jsonl" for k in (1, 2, 3, 4)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)
        assert make(cfg).step == 4  # the fresh step 4 verifies: no warning now


def test_resume_leaves_one_record_per_step(tmp_path):
    cfg = from_dict({**config(tmp_path, "kill").to_dict(), "train": {"steps": 3, "checkpoint_every": 2,
                                                                      "progress": False}})
    run = tmp_path / "kill"
    make(cfg).run()
    # A kill after step 3 wrote its metrics and trajectories but before its checkpoint:
    shutil.rmtree(run / "checkpoints" / "step-00000003")
    (run / "trajectories" / "step-000004.jsonl").write_text("")  # and any later debris
    resumed = make(cfg)
    assert resumed.step == 2
    assert steps_on_disk(run) == ([1, 2], ["step-000001.jsonl", "step-000002.jsonl"])
    resumed.run()
    steps, files = steps_on_disk(run)
    assert steps == [1, 2, 3] and files == [f"step-{k:06d}.jsonl" for k in (1, 2, 3)]
    episodes = [len(read_episodes(run / "trajectories" / f)) for f in files]
    assert episodes == [8, 8, 8]


@pytest.mark.parametrize(
    ("algorithm", "message"),
    [
        ({"estimator": "igpo"}, "igpo needs belief gain, but turngym/GuessNumber-v0 gives no info['probe']"),
        ({"estimator": "ppo"}, "unknown estimator 'ppo'; accepted: a2tgpo"),
        ({"estimator": "gigpo", "params": {"omega": 1, "lamda": 2}}, "unknown parameter(s) ['lamda']"),
        ({"estimator": "gigpo", "params": {"gamma": 7}}, "gamma"),
        ({"combine": [[1.0, "grpo"], [0.5, "a2tgpo"]]}, "a2tgpo needs belief gain"),
        ({"combine": [[1.0, "a2tgpo"], [0.5, "a2tgpo", {"eps": 0.3}]]}, "both provide clip_ranges"),
        ({"estimator": "grpo", "empg": {"k": -1.0}}, "algorithm: k must be in [0, inf)"),
    ],
)
def test_bad_algorithm_is_refused_before_any_model_is_loaded(tmp_path, monkeypatch, algorithm, message):
    import turngym.trainers.loop as loop

    loaded = []
    monkeypatch.setattr(loop, "load_policy", lambda c: loaded.append(c))
    with pytest.raises(ConfigError) as error:
        Trainer(config(tmp_path, "bad", **algorithm), env_factory=lambda: TwoDoorsEnv())
    assert message in str(error.value)
    assert loaded == []


def test_unregistered_environment_is_refused(tmp_path):
    cfg = from_dict({"env": {"id": "turngym/Nope-v0"}, "output_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="'turngym/Nope-v0' is not registered; accepted: .*SearchQA"):
        Trainer(cfg)


@pytest.mark.parametrize("estimator", ["igpo", "a2tgpo"])
def test_belief_gain_estimators_run_a_step(tmp_path, estimator):
    trainer = Trainer(config(tmp_path, estimator, estimator=estimator), policy=tiny_policy(seed=0),
                      env_factory=lambda: TwoDoorsEnv(probe=True))
    metrics = trainer.train_step().metrics
    assert "belief_gain_mean" in metrics and metrics["policy_tokens"] > 0
    assert metrics["grad_norm"] > 0


class FakeEngine:
    """A rollout engine double at the vLLM boundary: samples with its own copy of the model and
    records the sleep / wake / weight-load calls the trainer makes."""

    def __init__(self, policy):
        self.inner = policy
        self.name, self.tokenizer = "fake-vllm", policy.tokenizer
        self.calls = []

    def generate(self, prompts, params):
        assert not self.calls or self.calls[-1] != "sleep", "sampled while asleep"
        self.calls.append("generate")
        return self.inner.generate(prompts, params)

    def score(self, prompts, continuations):
        return self.inner.score(prompts, continuations)

    def load_weights(self, weights):
        self.calls.append("load_weights")
        state = dict(weights)
        self.inner.model.load_state_dict(state)

    def sleep(self, level=1):
        self.calls.append("sleep")

    def wake_up(self, tags=None):
        self.calls.append(f"wake:{','.join(tags or [])}")


def test_separate_rollout_engine_is_synced_and_slept_around_updates(tmp_path):
    cfg = config(tmp_path, "engine")
    engine = FakeEngine(tiny_policy(seed=5))  # different initial weights: sync must fix them
    trainer = Trainer(cfg, policy=tiny_policy(seed=0), rollout_policy=engine,
                      env_factory=lambda: TwoDoorsEnv())
    trainer.train_step()
    trainer.train_step()
    steps = ["generate", "sleep", "wake:weights", "load_weights", "wake:kv_cache"]
    calls = [c for i, c in enumerate(engine.calls) if c != "generate" or engine.calls[i - 1] != "generate"]
    assert calls == steps * 2
    pairs = zip(trainer.policy.model.named_parameters(), engine.inner.model.named_parameters())
    for (name, a), (_, b) in pairs:
        assert torch.equal(a, b), name


def test_syncing_lora_weights_leaves_the_frozen_base_bit_for_bit_unchanged():
    policy = tiny_policy(seed=0)
    policy.model.to(torch.bfloat16)
    policy.add_lora(r=4, alpha=8)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # a trained adapter: merging now changes the weights
    before = {n: p.clone() for n, p in policy.model.named_parameters() if ".base_layer." in n}
    merged = dict(policy.named_weights())
    for _ in range(20):
        dict(policy.named_weights())
    for name, p in policy.model.named_parameters():
        if name in before:
            assert torch.equal(p, before[name]), name
    key = next(k for k in merged if k.endswith("q_proj.weight"))
    base = next(v for k, v in before.items() if k.endswith("q_proj.base_layer.weight"))
    assert not torch.equal(merged[key], base)  # the synced weights do carry the adapter


@pytest.mark.parametrize("lora", [False, True])
def test_kl_to_the_reference_starts_at_zero_and_grows(tmp_path, lora):
    base = config(tmp_path, f"kl{lora}").to_dict()
    # one minibatch and one epoch a step: step 1's loss is computed before any update, against the
    # reference itself, so its KL is zero; later steps see a policy that has moved away from it
    optim = {**base["optim"], "minibatch_episodes": 8, "ppo_epochs": 1}
    cfg = from_dict({**base, "optim": optim, "loss": {"kl_coef": 0.1}})
    policy = tiny_policy(seed=0)
    if lora:
        policy.add_lora(r=4, alpha=8, target_modules=("q_proj", "v_proj"))
    trainer = Trainer(cfg, policy=policy, env_factory=lambda: TwoDoorsEnv())
    first = trainer.train_step().metrics["kl"]
    later = [trainer.train_step().metrics["kl"] for _ in range(2)]
    assert abs(first) < 1e-6
    assert min(later) > 1e-6


def key_rooms_factory():
    """The credit-assignment study's KeyRooms (get_state/set_state), which tree rollouts need."""
    import importlib.util
    import sys
    from pathlib import Path

    name = "credit_assignment_resume"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "benchmarks" / "credit_assignment.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return lambda: sys.modules[name].KeyRoomsEnv(rooms=3, reward_weights={"door_correct": 0.1})


def tree_resume_config(tmp_path, name):
    base = config(tmp_path, name).to_dict()
    return from_dict({**base, "seed": 0,
                      "rollout": {**base["rollout"], "max_new_tokens": 2,
                                  "tree": {"width": 2, "max_turns": 6}},
                      "algorithm": {"estimator": "tempo"},
                      "optim": {**base["optim"], "lr": 0.005, "minibatch_episodes": 512,
                                "micro_batch_episodes": 512, "ppo_epochs": 1}})


def test_interrupted_and_resumed_tree_run_matches_an_uninterrupted_one(tmp_path, monkeypatch):
    # rollout.tree with token_budget "flat": the EqualCostBudget's bookkeeping (the tree budgets of
    # later steps) travels in the checkpoint, so the resumed run grows the same trees
    torch.set_num_threads(1)
    envs = key_rooms_factory()
    straight = Trainer(tree_resume_config(tmp_path, "straight"), policy=tiny_policy(seed=0), env_factory=envs)
    straight.run()

    cfg = tree_resume_config(tmp_path, "resumed")
    first = Trainer(cfg, policy=tiny_policy(seed=0), env_factory=envs)
    real_update = Trainer.update
    calls = {"n": 0}

    def dies_in_step_three(self, tensors):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed mid-step")
        return real_update(self, tensors)

    monkeypatch.setattr(Trainer, "update", dies_in_step_three)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    monkeypatch.setattr(Trainer, "update", real_update)
    first.close()

    second = Trainer(cfg, policy=tiny_policy(seed=0), env_factory=envs)
    assert second.step == 2 and second.tree_budget is not None
    second.run()
    assert second.tree_budget.state() == straight.tree_budget.state()
    for (name, a), (_, b) in zip(straight.policy.model.named_parameters(),
                                 second.policy.model.named_parameters()):
        assert torch.equal(a, b), name
    rows = comparable(read_metrics(tmp_path / "straight" / "metrics.jsonl"))
    assert comparable(read_metrics(tmp_path / "resumed" / "metrics.jsonl")) == rows
    assert rows[0]["episodes"] == 8 and all(r["episodes"] > 8 for r in rows[1:])  # a flat step, then trees


def test_tree_run_resumes_from_a_checkpoint_without_tree_budget(tmp_path, monkeypatch):
    # checkpoints written before the tree budget was saved: the budget starts afresh (a flat step)
    import turngym.trainers.loop as loop

    torch.set_num_threads(1)
    envs = key_rooms_factory()
    cfg = from_dict({**tree_resume_config(tmp_path, "old").to_dict(),
                     "train": {"steps": 3, "checkpoint_every": 2, "progress": False}})
    real_save = loop.save_checkpoint

    def old_save(*args, state, **kwargs):
        assert "tree_budget" in state  # what this version saves ...
        return real_save(*args, state={k: v for k, v in state.items() if k != "tree_budget"}, **kwargs)

    monkeypatch.setattr(loop, "save_checkpoint", old_save)  # ... and an older one did not
    with Trainer(cfg, policy=tiny_policy(seed=0), env_factory=envs) as first:
        first.run(stop_after=2)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    with Trainer(cfg, policy=tiny_policy(seed=0), env_factory=envs) as resumed:
        assert resumed.step == 2 and resumed.tree_budget is None
        resumed.run()
        assert resumed.tree_budget.state()["estimate"] > 0
    episodes = [r["episodes"] for r in read_metrics(tmp_path / "old" / "metrics.jsonl")]
    assert episodes[0] == 8 and episodes[1] > 8 and episodes[2] == 8  # step 3: a flat group again
