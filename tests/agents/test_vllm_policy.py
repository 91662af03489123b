"""VLLMPolicy: its logic against a double of the ``vllm`` module (vLLM needs a GPU); a real run
wherever vLLM is installed."""

from __future__ import annotations

import importlib.util
import sys
import types
from types import SimpleNamespace

import pytest

from turngym.agents.policy import SamplingParams
from turngym.agents.vllm_policy import VLLMPolicy, WeightSyncExtension


class FakeLLM:
    """Answers like vllm.LLM: token 7 then token 2 (EOS) for every prompt, with fixed log-probs."""

    def __init__(self, **kwargs):
        self.kwargs, self.calls, self.rpcs, self.events = kwargs, [], [], []

    def get_tokenizer(self):
        return None

    def generate(self, prompts, sampling, use_tqdm=True):
        self.calls.append((prompts, sampling))
        outs = []
        for prompt in prompts:
            ids = prompt["prompt_token_ids"]
            table = [None] + [{t: SimpleNamespace(logprob=-0.1 * i)} for i, t in enumerate(ids[1:], 1)]
            sample = SimpleNamespace(
                token_ids=[7, 2],
                logprobs=[{7: SimpleNamespace(logprob=-0.5)}, {2: SimpleNamespace(logprob=-1.5)}],
                finish_reason="stop", stop_reason=None,
            )
            outs.append(SimpleNamespace(outputs=[sample], prompt_logprobs=table))
        return outs

    def collective_rpc(self, method, args=()):
        self.rpcs.append((method, args))
        return [len(args[0])]

    def reset_prefix_cache(self):
        self.events.append("reset_prefix_cache")

    def sleep(self, level):
        self.events.append(("sleep", level))

    def wake_up(self, tags=None):
        self.events.append(("wake_up", tags))


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    module.TokensPrompt = lambda prompt_token_ids: {"prompt_token_ids": list(prompt_token_ids)}
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


def test_generation_on_token_ids_with_logprobs(fake_vllm, smol_tokenizer):
    policy = VLLMPolicy.from_pretrained("some/model", gpu_memory_utilization=0.3)
    policy.tokenizer = smol_tokenizer
    assert policy.llm.kwargs["enable_sleep_mode"] is True
    assert policy.llm.kwargs["worker_extension_cls"] == "turngym.agents.vllm_policy.WeightSyncExtension"
    gens = policy.generate([[1, 5, 6], [1, 9]], SamplingParams(temperature=0.7, max_new_tokens=5, seed=3))
    prompts, sampling = policy.llm.calls[0]
    assert prompts == [{"prompt_token_ids": [1, 5, 6]}, {"prompt_token_ids": [1, 9]}]
    assert (sampling.temperature, sampling.max_tokens, sampling.seed, sampling.logprobs) == (0.7, 5, 3, 0)
    assert gens[0].token_ids == [7, 2] and gens[0].logprobs == [-0.5, -1.5]
    assert gens[0].finish_reason == "stop" and gens[0].text == smol_tokenizer.decode([7, 2])


def test_scoring_reads_prompt_logprobs(fake_vllm, smol_tokenizer):
    policy = VLLMPolicy(FakeLLM(), smol_tokenizer)
    assert policy.score([[1, 5], [1]], [[6, 7], [4]]) == [[pytest.approx(-0.2), pytest.approx(-0.3)], [-0.1]]
    assert policy.llm.calls[0][1].prompt_logprobs == 0


def test_weight_sync_sleep_and_wake(fake_vllm, tiny_policy):
    policy = VLLMPolicy(FakeLLM(), tiny_policy.tokenizer)
    sent = policy.load_weights(tiny_policy, chunk_size=5)
    names = [name for method, (chunk,) in policy.llm.rpcs for name, _ in chunk]
    assert all(method == "turngym_load_weights" for method, _ in policy.llm.rpcs)
    assert sent == len(names) == len(dict(tiny_policy.named_weights())) and len(policy.llm.rpcs) > 1
    assert policy.llm.events[-1] == "reset_prefix_cache"
    policy.sleep(level=2)
    policy.wake_up(["weights"])
    assert policy.llm.events[-2:] == [("sleep", 2), ("wake_up", ["weights"])]
    with pytest.raises(ValueError, match="sleep level"):
        policy.sleep(3)


def test_worker_extension_loads_into_the_model():
    loaded = []
    worker = WeightSyncExtension()
    model = SimpleNamespace(load_weights=lambda weights: loaded.extend(weights))
    worker.model_runner = SimpleNamespace(model=model)
    import torch

    assert worker.turngym_load_weights([("w", torch.ones(2))]) == 1 and loaded[0][0] == "w"


def test_missing_vllm_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match="VLLMPolicy needs vLLM"):
        VLLMPolicy.from_pretrained("x")


@pytest.mark.vllm
def test_real_vllm_generates_and_scores():
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed here (it needs a CUDA machine)")
    from turngym.agents.models import smollm2_gguf_path

    policy = VLLMPolicy.from_pretrained(str(smollm2_gguf_path()), gpu_memory_utilization=0.3)
    prompt = policy.tokenizer("Hello", add_special_tokens=False)["input_ids"]
    gen = policy.generate([prompt], SamplingParams(max_new_tokens=4, seed=0))[0]
    assert len(gen.token_ids) == len(gen.logprobs) >= 1
    assert policy.score([prompt], [gen.token_ids])[0] == pytest.approx(gen.logprobs, abs=0.05)
