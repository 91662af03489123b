"""The verl adapter against verl's real classes: the agent loop plays real turngym episodes
token in / token out, and verl's own ``compute_advantage`` with a registered turngym
estimator gives turngym's advantages on the same turns.

verl pins transformers < 5.11, which clashes with turngym's ``train`` extra, so these tests run
in verl's own virtualenv: ``make verl-env`` builds it, ``make test-verl`` runs them. Elsewhere
they are skipped. No vLLM/SGLang server exists on a CPU box: the server manager is the test
double (the boundary verl's agent loops talk to), generating with a tiny random Llama or with
a scripted guesser.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.verl
verl = pytest.importorskip("verl", reason="verl runs in its own virtualenv: make verl-env && make test-verl")

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.experimental.agent_loop.agent_loop import (  # noqa: E402
    AgentLoopBase,
    AgentLoopOutput,
    DictConfigWrap,
    _agent_loop_registry,
)
from verl.trainer.config import AlgoConfig  # noqa: E402
from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY  # noqa: E402
from verl.trainer.ppo.ray_trainer import compute_advantage  # noqa: E402
from verl.workers.rollout.replica import TokenOutput  # noqa: E402

from tests.toy_envs import GuessNumberEnv  # noqa: E402
from turngym.agents.chat_template import ChatTemplate  # noqa: E402
from turngym.core.trajectory import EpisodeRecord  # noqa: E402
from turngym.integrations.verl import (  # noqa: E402
    AGENT_NAME,
    TurnGymAgentLoop,
    episode_spec,
    turn_spans,
    write_dataset,
)
from turngym.integrations.verl.advantages import compute_turngym_advantage  # noqa: E402
from turngym.trainers.advantages import estimate  # noqa: E402
from turngym.trainers.batching import turn_batch  # noqa: E402

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
RESPONSE_LENGTH = 512


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    """A real (small) byte-level BPE tokenizer with a ChatML template, trained here: no download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    corpus = ["Find the hidden number. Reply with <guess>N</guess>.", "The number is between 1 and 16.",
              "is wrong: go higher.", "is wrong: go lower.", "Correct!", "system user assistant"] * 20
    raw.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    ))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = CHATML
    return tok


class TinyLlamaServer:
    """verl's server manager at its boundary: ``generate`` samples with a tiny random Llama."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> None:
        torch.manual_seed(seed)
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                             num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                             max_position_embeddings=2048, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)
        self.model = LlamaForCausalLM(config).eval()
        self.eos = tokenizer.eos_token_id
        self.generator = torch.Generator().manual_seed(seed)
        self.calls: list[dict[str, Any]] = []

    async def generate(self, *, request_id: str, prompt_ids: list[int], sampling_params: dict[str, Any],
                       **_: Any) -> TokenOutput:
        self.calls.append({"prompt_ids": list(prompt_ids), "sampling_params": dict(sampling_params)})
        ids, out, logprobs = list(prompt_ids), [], []
        with torch.no_grad():
            for _ in range(min(int(sampling_params.get("max_tokens", 8)), 8)):
                logits = self.model(torch.tensor([ids])).logits[0, -1].float()
                probs = torch.softmax(logits / max(float(sampling_params.get("temperature", 1.0)), 1e-5), -1)
                token = int(torch.multinomial(probs, 1, generator=self.generator))
                out.append(token)
                logprobs.append(float(torch.log_softmax(logits, -1)[token]))
                ids.append(token)
                if token == self.eos:
                    break
        return TokenOutput(token_ids=out, log_probs=logprobs, stop_reason="completed")


class GuessingServer:
    """A scripted model at the same boundary: reads the conversation, guesses in the interval left
    (seeded at random, so episodes of one task differ in length and outcome)."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> None:
        self.tokenizer = tokenizer
        self.rng = random.Random(seed)

    async def generate(self, *, request_id: str, prompt_ids: list[int], sampling_params: dict[str, Any],
                       **_: Any) -> TokenOutput:
        text = self.tokenizer.decode(prompt_ids)
        lo, hi = 1, 16
        for guess, way in re.findall(r"(\d+) is wrong: go (higher|lower)", text):
            lo, hi = (max(lo, int(guess) + 1), hi) if way == "higher" else (lo, min(hi, int(guess) - 1))
        guess = self.tokenizer.encode(f"<guess>{self.rng.randint(lo, hi)}</guess>")
        ids = [*guess, self.tokenizer.eos_token_id]
        return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids), stop_reason="completed")


def _loop(tokenizer: PreTrainedTokenizerFast, server: Any) -> TurnGymAgentLoop:
    config = OmegaConf.create({
        "actor_rollout_ref": {"rollout": {"prompt_length": 256, "response_length": RESPONSE_LENGTH}},
        "data": {},
    })
    # The way verl's AgentLoopWorker builds a registered loop (hydra instantiate of the registry entry).
    import hydra

    return hydra.utils.instantiate(
        _agent_loop_registry[AGENT_NAME], trainer_config=DictConfigWrap(config), server_manager=server,
        tokenizer=tokenizer, processor=None, dataset_cls=None, data_config=DictConfigWrap(config.data),
    )


def _play(tokenizer: PreTrainedTokenizerFast, server: Any, rows: list[dict[str, Any]],
          ) -> list[AgentLoopOutput]:
    async def main() -> list[AgentLoopOutput]:
        loop = _loop(tokenizer, server)
        params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}
        return await asyncio.gather(*(loop.run(dict(params), raw_prompt=[], **row) for row in rows))

    return asyncio.run(main())


def _guess_rows(seeds: list[int], n: int, max_turns: int = 4) -> list[dict[str, Any]]:
    return [{"turngym": episode_spec("turngym/GuessNumber-v0", seed=s, env_kwargs={"max_turns": max_turns})}
            for s in seeds for _ in range(n)]


def test_the_loop_is_registered_in_verl():
    assert issubclass(TurnGymAgentLoop, AgentLoopBase)
    target = "turngym.integrations.verl.agent_loop.TurnGymAgentLoop"
    assert _agent_loop_registry[AGENT_NAME] == {"_target_": target}
    assert {"turngym_grpo", "turngym_gigpo", "turngym_rloo"} <= set(ADV_ESTIMATOR_REGISTRY)


def test_agent_loop_plays_token_in_token_out_with_a_tiny_model(tokenizer):
    server = TinyLlamaServer(tokenizer)
    outputs = _play(tokenizer, server, _guess_rows([3, 5], n=2, max_turns=3))
    template = ChatTemplate(tokenizer)
    for out in outputs:
        record = EpisodeRecord.from_dict(out.extra_fields["turngym_record"])
        assert record.status == "ok" and 1 <= len(record.turns) <= 3, record.error
        # The prompt is the environment's opening; the response is every action and reply, exactly.
        assert out.prompt_ids == record.prompt_ids
        assert out.response_ids == [i for t in record.turns for i in (*t.action_ids, *t.observation_ids)]
        assert out.response_mask == [m for t in record.turns
                                     for m in [1] * len(t.action_ids) + [0] * len(t.observation_ids)]
        assert out.response_logprobs == [x for t in record.turns
                                         for x in (*t.action_logprobs, *[0.0] * len(t.observation_ids))]
        assert [b - a for a, b in turn_spans(out.response_mask)] == [len(t.action_ids) for t in record.turns]
        # Replaying the actions in a fresh environment gives the same conversation, templated the same.
        env = GuessNumberEnv(max_turns=3)
        env.reset(seed=record.seed)
        for turn in record.turns:
            env.step(turn.action_text)
        assert tokenizer.decode(out.prompt_ids + out.response_ids) == template.render(
            env.history, add_generation_prompt=True)
        assert out.reward_score == sum(t.reward for t in record.turns)
        assert out.extra_fields["turngym"]["turns"][0]["anchor"] == record.turns[0].anchor
    # Each turn's prompt was the whole conversation so far, and the budget was passed as max_tokens.
    assert all(call["sampling_params"]["max_tokens"] <= RESPONSE_LENGTH for call in server.calls)
    assert len(server.calls) == sum(len(EpisodeRecord.from_dict(o.extra_fields["turngym_record"]).turns)
                                    for o in outputs)


def test_a_failing_environment_fails_only_its_episode(tokenizer):
    broken = episode_spec("turngym/GuessNumber-v0", seed=1, options={"task_id": "n-99x"})
    rows = [*_guess_rows([3], n=1), {"turngym": broken}]
    good, bad = _play(tokenizer, GuessingServer(tokenizer), rows)
    assert good.extra_fields["turngym"]["status"] == "ok"
    assert bad.extra_fields["turngym"]["status"] == "failed"
    assert "ValueError" in bad.extra_fields["turngym"]["error"]
    assert bad.reward_score == 0.0 and bad.response_ids == []
    with pytest.raises(ValueError, match="no turngym episode spec"):
        _play(tokenizer, GuessingServer(tokenizer), [{"not_turngym": 1}])


def _verl_batch(outputs: list[AgentLoopOutput], n: int) -> tuple[DataProto, list[EpisodeRecord]]:
    """The batch verl builds from agent loop outputs (its own ``as_dict``: reward on the last token)."""
    parts = [out.as_dict() for out in outputs]
    width = max(len(p["responses"]) for p in parts)

    def pad(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(x, (0, width - len(x)))

    uids = np.array([f"uid{i // n}" for i in range(len(outputs))], dtype=object)
    data = DataProto.from_dict(
        tensors={"response_mask": torch.stack([pad(p["response_mask"]) for p in parts]),
                 "token_level_rewards": torch.stack([pad(p["rm_scores"]) for p in parts])},
        non_tensors={"uid": uids,
                     "turngym": np.array([o.extra_fields["turngym"] for o in outputs], dtype=object)},
    )
    records = []
    for i, out in enumerate(outputs):
        record = EpisodeRecord.from_dict(out.extra_fields["turngym_record"])
        record.group_id, record.episode_id = str(uids[i]), f"e{i}"
        records.append(record)
    return data, records


def _per_turn(advantages: torch.Tensor, response_mask: torch.Tensor) -> list[float]:
    values = []
    for row in range(advantages.shape[0]):
        for start, end in turn_spans(response_mask[row]):
            turn = advantages[row, start:end]
            assert torch.all(turn == turn[0]), "one advantage per turn, on all its action tokens"
            values.append(float(turn[0]))
    return values


@pytest.mark.parametrize("estimator", ["grpo", "rloo", "turn_discounted", "mt_grpo"])
def test_verl_compute_advantage_with_turngym_estimator_equals_turngym(tokenizer, estimator):
    n = 4
    outputs = _play(tokenizer, GuessingServer(tokenizer, seed=7), _guess_rows([2, 9, 13], n=n))
    data, records = _verl_batch(outputs, n)
    assert len({len(r.turns) for r in records}) > 1, "episodes of varied length"
    assert len({r.outcome for r in records}) > 1, "episodes of varied outcome"
    data = compute_advantage(data, adv_estimator=f"turngym_{estimator}", config=AlgoConfig())
    ours = estimate(estimator, turn_batch(records)).advantages
    got = _per_turn(data.batch["advantages"], data.batch["response_mask"])
    np.testing.assert_allclose(got, ours, rtol=1e-5, atol=1e-6)
    assert any(abs(a) > 1e-3 for a in ours)
    # Environment tokens and padding carry no advantage.
    assert torch.all(data.batch["advantages"][data.batch["response_mask"] == 0] == 0)


def test_anchor_estimators_read_the_turn_data_from_the_batch(tokenizer):
    n = 4
    outputs = _play(tokenizer, GuessingServer(tokenizer, seed=3), _guess_rows([4, 11], n=n))
    data, records = _verl_batch(outputs, n)
    # verl's compute_advantage does not pass non-tensor data to registered estimators: gigpo says so.
    with pytest.raises(ValueError, match="anchors"):
        compute_advantage(data, adv_estimator="turngym_gigpo", config=AlgoConfig())
    data = compute_turngym_advantage(data, "gigpo", omega=1.0)
    ours = estimate("gigpo", turn_batch(records), omega=1.0).advantages
    np.testing.assert_allclose(_per_turn(data.batch["advantages"], data.batch["response_mask"]), ours,
                               rtol=1e-5, atol=1e-6)


def test_dataset_rows_are_what_the_loop_reads(tmp_path):
    import pyarrow.parquet as pq

    path = write_dataset(tmp_path / "train.parquet", "turngym/GuessNumber-v0", [1, {"seed": 2}],
                         env_kwargs={"max_turns": 3})
    table = pq.read_table(path).to_pylist()
    assert [r["agent_name"] for r in table] == [AGENT_NAME, AGENT_NAME]
    assert table[0]["prompt"][0]["role"] == "system" and "hidden number" in table[0]["prompt"][0]["content"]
    assert '"seed": 2' in table[1]["turngym"]
    with pytest.raises(ValueError, match="seed="):
        episode_spec("turngym/GuessNumber-v0", seed="3")  # type: ignore[arg-type]


def test_verl_loads_the_adapter_as_a_plugin_by_itself(tmp_path):
    # A fresh interpreter that imports only verl: the verl.plugins entry point registers turngym's parts.
    import subprocess
    import sys

    code = ("import verl.trainer.ppo.core_algos as c, verl.experimental.agent_loop.agent_loop as a; "
            "print('turngym_gigpo' in c.ADV_ESTIMATOR_REGISTRY, 'turngym_agent' in a._agent_loop_registry)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.stdout.split()[-2:] == ["True", "True"], out.stderr[-2000:]


def test_the_recipe_composes_with_verls_own_config():
    # Hydra composes configs/verl_grpo_searchqa.yaml over verl's ppo_trainer, as main_ppo does.
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    configs = Path(__file__).resolve().parents[2] / "configs"
    with initialize_config_dir(config_dir=str(configs), version_base=None):
        config = compose(config_name="verl_grpo_searchqa")
    assert config.algorithm.adv_estimator in ADV_ESTIMATOR_REGISTRY
    assert config.actor_rollout_ref.rollout.agent.default_agent_loop == AGENT_NAME
    assert config.actor_rollout_ref.rollout.response_length == config.data.max_response_length == 3072
    assert config.actor_rollout_ref.rollout.calculate_log_probs is True
    assert config.data.prompt_key == "prompt" and config.trainer.n_gpus_per_node == 1
    # verl's own dataclasses accept the sections (unknown or mistyped keys would raise here).
    from verl.utils.config import omega_conf_to_dataclass

    algorithm = omega_conf_to_dataclass(config.algorithm, AlgoConfig)
    rollout = omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
    assert algorithm.adv_estimator == "turngym_grpo" and rollout.agent.default_agent_loop == AGENT_NAME
