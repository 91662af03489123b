"""HFPolicy: batched sampling, log-probs, seeds, stop strings, prefix cache, LoRA, loading errors."""

from __future__ import annotations

import pytest
import torch

from tests.agents.conftest import tiny_llama
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.models import smollm2_gguf_path
from turngym.agents.policy import SamplingParams

PROMPTS = [[1, 9690, 198, 67, 2, 198, 1, 520, 9531, 198], [1, 4093, 198, 69, 70, 2, 198, 1, 520, 9531, 198]]


def test_batched_sampling_logprobs_match_scoring(tiny_policy):
    params = SamplingParams(temperature=1.0, top_p=0.9, max_new_tokens=8, seed=5)
    gens = tiny_policy.generate(PROMPTS * 2, params)
    assert len(gens) == 4 and all(len(g.token_ids) == len(g.logprobs) >= 1 for g in gens)
    scored = tiny_policy.score(PROMPTS * 2, [g.token_ids for g in gens])
    for gen, ref in zip(gens, scored):
        assert gen.logprobs == pytest.approx(ref, abs=1e-4)
        assert gen.text == tiny_policy.tokenizer.decode(gen.token_ids)
        assert gen.finish_reason in ("stop", "length")
    again = tiny_policy.generate(PROMPTS * 2, params)
    assert [g.token_ids for g in again] == [g.token_ids for g in gens]  # same seed, same samples


def test_batch_equals_one_at_a_time_greedy(smol_tokenizer):
    batched, single = tiny_llama(smol_tokenizer), tiny_llama(smol_tokenizer)
    single.prefix_cache_tokens = 0
    params = SamplingParams(temperature=0, max_new_tokens=6)
    together = batched.generate(PROMPTS, params)
    for prompt, gen in zip(PROMPTS, together):
        alone = single.generate([prompt], params)[0]
        assert alone.token_ids == gen.token_ids
        assert alone.logprobs == pytest.approx(gen.logprobs, abs=1e-4)
    # a prompt extending a sampled sequence reuses the cached prefix and gives the same result
    follow = [PROMPTS[0] + together[0].token_ids + [198, 1, 4093]]
    cached, fresh = batched.generate(follow, params)[0], single.generate(follow, params)[0]
    assert cached.token_ids == fresh.token_ids
    assert cached.logprobs == pytest.approx(fresh.logprobs, abs=1e-4)


def test_stop_strings_and_length(tiny_policy):
    tok = tiny_policy.tokenizer
    long = tiny_policy.generate([PROMPTS[0]], SamplingParams(temperature=0, max_new_tokens=12))[0]
    text = tok.decode(long.token_ids[:4])
    stop = text[-2:] if text.strip() else tok.decode(long.token_ids[3:4])
    params = SamplingParams(temperature=0, max_new_tokens=12, stop=(stop,))
    cut = tiny_policy.generate([PROMPTS[0]], params)[0]
    assert cut.finish_reason == "stop" and stop in cut.text and len(cut.token_ids) <= 4
    assert cut.token_ids == long.token_ids[: len(cut.token_ids)]
    short = tiny_policy.generate([PROMPTS[0]], SamplingParams(temperature=0, max_new_tokens=2))[0]
    assert short.finish_reason == "length" and len(short.token_ids) == 2


def test_token_logprobs_with_grad_align_with_sequences(tiny_policy):
    seqs = [PROMPTS[0], PROMPTS[1][:5]]
    out = tiny_policy.token_logprobs(seqs, with_grad=True, with_entropy=True)
    assert out.logprobs.shape == out.mask.shape == out.entropy.shape == (2, len(PROMPTS[0]))
    assert out.mask[1].tolist() == [False] + [True] * 4 + [False] * (len(PROMPTS[0]) - 5)
    (out.logprobs * out.mask).sum().backward()
    assert tiny_policy.model.lm_head.weight.grad is not None
    scored = tiny_policy.score([seqs[0][:3]], [seqs[0][3:]])[0]
    assert scored == pytest.approx(out.logprobs[0, 3:].tolist(), abs=1e-5)


def test_lora_trains_only_the_adapter_and_samples(tiny_policy):
    tiny_policy.add_lora(r=4, alpha=8, target_modules=("q_proj", "v_proj"))
    trainable = [n for n, p in tiny_policy.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    gen = tiny_policy.generate([PROMPTS[0]], SamplingParams(max_new_tokens=3, seed=0))[0]
    assert len(gen.token_ids) >= 1
    names = dict(tiny_policy.named_weights())
    assert "model.layers.0.self_attn.q_proj.weight" in names and not any("lora_" in n for n in names)


def test_bad_prompts_are_refused(tiny_policy):
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        tiny_policy.generate([[1, 2], []], SamplingParams())
    with pytest.raises(ValueError, match="not text"):
        tiny_policy.generate("hello", SamplingParams())
    with pytest.raises(ValueError, match="outside"):
        tiny_policy.generate([[10**9]], SamplingParams())
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)


def test_missing_model_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="GGUF file 'absent.gguf' not found"):
        HFPolicy.from_pretrained(tmp_path, gguf_file="absent.gguf")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        HFPolicy.from_pretrained(tmp_path / "nowhere")
    assert smollm2_gguf_path().is_file()


def test_cuda_path_when_available():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here; HFPolicy's CUDA path runs on GPU machines")
    policy = HFPolicy.from_pretrained(smollm2_gguf_path(), device="cuda")
    assert policy.device.type == "cuda"
    assert policy.generate([PROMPTS[0]], SamplingParams(max_new_tokens=4, seed=0))[0].token_ids
