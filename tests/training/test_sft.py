"""``turngym sft``: loss on the policy's own action tokens only, exact resume, and it learns."""

import pytest
import torch

from tests.training.tiny import TwoDoorsEnv, tiny_policy
from turngym.agents.scripted import OracleAgent
from turngym.core.trajectory import read_episodes, write_episodes
from turngym.rollout import play_episodes
from turngym.trainers.checkpoint import latest_checkpoint
from turngym.trainers.config import ConfigError
from turngym.trainers.metrics import read_metrics
from turngym.trainers.sft import (
    SFTTrainer,
    action_mask,
    sft_config_from_dict,
    sft_loss,
    tokenize_episodes,
)


def oracle_records(n=6):
    return play_episodes(lambda: TwoDoorsEnv(), OracleAgent(), list(range(n)), progress=False)


def sft_config(tmp_path, name, records_path, **train):
    return sft_config_from_dict({
        "seed": 2,
        "output_dir": str(tmp_path / name),
        "model": {"lora": None},
        "data": {"records": [str(records_path)]},
        "optim": {"lr": 0.01, "batch_episodes": 4, "micro_batch_episodes": 2},
        "train": {"steps": 6, "checkpoint_every": 3, "progress": False, **train},
    })


@pytest.fixture
def records_file(tmp_path):
    path = tmp_path / "oracle.jsonl"
    write_episodes(path, oracle_records())
    return path


def test_text_records_are_tokenised_as_the_rollout_would_sample_them():
    policy = tiny_policy(seed=0)
    (record,) = tokenize_episodes(oracle_records(1), policy.tokenizer)
    eos = policy.tokenizer.eos_token_id
    assert [t.action_ids[-1] for t in record.turns] == [eos, eos]
    decoded = [policy.tokenizer.decode(t.action_ids[:-1]) for t in record.turns]
    assert decoded == ["left", "right"]
    text = policy.tokenizer.decode(record.token_ids())
    assert text == ("<|user|>pick the door</s><|assistant|>left</s><|user|>good</s><|assistant|>right</s>"
                    "<|user|>good</s><|assistant|>")
    mask = record.loss_mask()
    masked = [i for i, m in zip(record.token_ids(), mask) if m]
    assert policy.tokenizer.decode(masked) == "left</s>right</s>"


def test_loss_ignores_observation_tokens(records_file):
    """Perturbing prompt and reply tokens AFTER the last action changes nothing; the gradient comes only
    from the action tokens (and, causally, from what precedes them)."""
    policy = tiny_policy(seed=0)
    records = tokenize_episodes(read_episodes(records_file)[:2], policy.tokenizer)

    def grads(recs):
        policy.model.zero_grad(set_to_none=True)
        loss, _ = sft_loss(policy, recs, 10.0)
        loss.backward()
        return {n: p.grad.clone() for n, p in policy.model.named_parameters() if p.grad is not None}

    before = grads(records)
    vocab = len(policy.tokenizer)
    for record in records:  # the environment's last reply: context no action token sees
        last = record.turns[-1]
        last.observation_ids = [(i + 5) % vocab for i in last.observation_ids]
    after = grads(records)
    for name in before:
        assert torch.equal(before[name], after[name]), name
    # and the mask is exactly the action spans: an action token changed DOES change the gradient
    records[0].turns[0].action_ids[0] = (records[0].turns[0].action_ids[0] + 1) % vocab
    changed = grads(records)
    assert any(not torch.equal(before[n], changed[n]) for n in before)


def test_observation_tokens_carry_no_loss_weight(records_file):
    policy = tiny_policy(seed=0)
    records = tokenize_episodes(read_episodes(records_file)[:3], policy.tokenizer)
    sequences, mask = action_mask(records)
    for row, record in enumerate(records):
        assert mask[row, : len(sequences[row])].tolist() == [float(m) for m in record.loss_mask()]
        assert mask[row, len(sequences[row]):].sum() == 0
    # perturbing a non-action token changes the loss only through the context, never as a target:
    # setting the log-prob of every non-action position to anything leaves the loss unchanged
    scored = policy.token_logprobs(sequences)
    noisy = scored.logprobs + (1 - mask[:, : scored.logprobs.shape[1]]) * 100.0
    assert torch.allclose((noisy * mask).sum(), (scored.logprobs * mask).sum())


def test_interrupted_and_resumed_sft_equals_an_uninterrupted_one(tmp_path, records_file, monkeypatch):
    straight = SFTTrainer(sft_config(tmp_path, "straight", records_file), policy=tiny_policy(seed=0))
    straight.run()

    cfg = sft_config(tmp_path, "resumed", records_file)
    first = SFTTrainer(cfg, policy=tiny_policy(seed=0))
    real = SFTTrainer.train_step
    calls = {"n": 0}

    def dies_in_step_five(self):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("killed mid-step")
        return real(self)

    monkeypatch.setattr(SFTTrainer, "train_step", dies_in_step_five)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    monkeypatch.setattr(SFTTrainer, "train_step", real)
    assert latest_checkpoint(tmp_path / "resumed" / "checkpoints").name == "step-00000003"

    second = SFTTrainer(cfg, policy=tiny_policy(seed=0))  # what a fresh process builds
    assert second.step == 3
    second.run()
    for (name, a), (_, b) in zip(straight.policy.model.named_parameters(),
                                 second.policy.model.named_parameters()):
        assert torch.equal(a, b), name

    def rows(run):
        return [{k: v for k, v in r.items() if not k.startswith("seconds")}
                for r in read_metrics(tmp_path / run / "metrics.jsonl")]

    assert rows("resumed") == rows("straight") and len(rows("straight")) == 6
    assert (tmp_path / "resumed" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_sft_teaches_the_oracle_and_the_checkpoint_loads_as_a_policy(tmp_path, records_file):
    from turngym.rollout import collect

    cfg = sft_config(tmp_path, "learn", records_file, steps=30, checkpoint_every=0)
    trainer = SFTTrainer(cfg, policy=tiny_policy(seed=0))
    trainer.run()
    rows = read_metrics(tmp_path / "learn" / "metrics.jsonl")
    assert rows[-1]["loss"] < 0.2 * rows[0]["loss"]
    records = collect(lambda: TwoDoorsEnv(), trainer.policy, [0, 1], group_size=2, progress=False)
    assert all(r.outcome == 1.0 for r in records)
    state = latest_checkpoint(tmp_path / "learn" / "checkpoints")
    assert state.name == "step-00000030"
    from turngym.trainers.checkpoint import load_checkpoint
    from turngym.trainers.config import from_dict

    state = load_checkpoint(state)["state"]  # what policy_from_run reads: a full training config
    assert state["kind"] == "sft" and from_dict(state["config"]).model.lora is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data": {}}, "data: nothing to imitate"),
        ({"data": {"records": ["/nonexistent.jsonl"]}}, "data.records: /nonexistent.jsonl is not a file"),
        ({"optim": {"batch_episodes": 2, "micro_batch_episodes": 4}},
         "optim.micro_batch_episodes: 4 must be <="),
        ({"train": {"steps": 0}}, "train.steps: 0 must be > 0"),
        ({"optim": {"lr": "fast"}}, "optim.lr: expected a number"),
        ({"model": {"device": "tpu"}}, "model.device: 'tpu' is not allowed"),
        ({"dataa": {}}, "unknown key dataa (did you mean data?)"),
    ],
)
def test_bad_sft_config_names_the_key(tmp_path, records_file, change, message):
    base = {"output_dir": str(tmp_path / "x"), "data": {"records": [str(records_file)]}}
    base.update(change)
    with pytest.raises(ConfigError) as error:
        sft_config_from_dict(base)
    assert message in str(error.value)


def test_outcome_filter_and_nothing_usable(tmp_path):
    from turngym.trainers.sft import DataConfig, gather_episodes

    path = tmp_path / "mixed.jsonl"
    write_episodes(path, oracle_records(3))
    assert len(gather_episodes(DataConfig(records=[str(path)], min_outcome=1.0))) == 3
    with pytest.raises(ConfigError, match="none of the 3 episodes is usable"):
        gather_episodes(DataConfig(records=[str(path)], min_outcome=1.5))


def test_shipped_sft_config_parses():
    from turngym.trainers.sft import load_sft_config

    config = load_sft_config("configs/demo_sft.yaml", ["train.steps=2"])
    assert config.train.steps == 2 and config.data.oracle.env == "turngym/SearchQA-Tagged-v0"
    assert config.policy_config().model.lora.r == 16
