"""``VLLMPolicy``: vLLM's offline engine (``vllm.LLM``, on a GPU) as a :class:`~turngym.agents.policy.Policy`.

Written against vLLM's documented API: prompts go in as token ids
(``TokensPrompt(prompt_token_ids=...)``), samples come back as token ids with
the sampled token's log-prob (``SamplingParams(logprobs=0)``); scoring uses
``prompt_logprobs=0``. Weight updates from the trainer's model go through
``LLM.collective_rpc`` to a small worker extension (:class:`WeightSyncExtension`,
passed as ``worker_extension_cls``) that calls the model's ``load_weights``, then
the prefix cache is reset. ``sleep(level)`` / ``wake_up()`` free and restore the
GPU memory so a trainer can share the GPU (needs ``enable_sleep_mode=True``).

Log-probs: vLLM reports the model's raw log-probs by default in recent versions
(``logprobs_mode="raw_logprobs"``), the same quantity as
:class:`~turngym.agents.hf_policy.HFPolicy`. vLLM is imported only when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Any

from turngym.agents.policy import Generation, SamplingParams, check_prompts


def _vllm() -> Any:
    try:
        return importlib.import_module("vllm")
    except ImportError as exc:
        raise ImportError(
            "VLLMPolicy needs vLLM (a CUDA machine): pip install 'turngym[vllm]'; on CPU use HFPolicy"
        ) from exc


class WeightSyncExtension:
    """Mixed into vLLM's GPU worker (``worker_extension_cls``): receives weights from the trainer."""

    def turngym_load_weights(self, weights: list[tuple[str, Any]]) -> int:
        """Load ``(name, tensor)`` pairs (names as in the Hugging Face checkpoint) into the running model."""
        device = getattr(self, "device", None)
        moved = [(name, tensor.to(device) if device is not None else tensor) for name, tensor in weights]
        self.model_runner.model.load_weights(weights=moved)  # type: ignore[attr-defined]
        return len(moved)


class VLLMPolicy:
    """A ``vllm.LLM`` engine behind the :class:`~turngym.agents.policy.Policy` protocol.

    Args:
        llm: a ``vllm.LLM`` (see :meth:`from_pretrained`).
        tokenizer: its Hugging Face tokenizer (default: ``llm.get_tokenizer()``).
        name: how trajectory records name the policy.
    """

    def __init__(self, llm: Any, tokenizer: Any | None = None, *, name: str | None = None) -> None:
        self.llm = llm
        self.tokenizer = tokenizer if tokenizer is not None else llm.get_tokenizer()
        self.name = name or "vllm"

    @classmethod
    def from_pretrained(
        cls,
        model: str,
        *,
        gpu_memory_utilization: float = 0.5,
        enable_sleep_mode: bool = True,
        seed: int = 0,
        **llm_kwargs: Any,
    ) -> VLLMPolicy:
        """Start ``vllm.LLM(model, ...)`` with the weight-sync extension and sleep mode on."""
        vllm = _vllm()
        llm_kwargs.setdefault("worker_extension_cls", f"{__name__}.WeightSyncExtension")
        llm = vllm.LLM(
            model=model, gpu_memory_utilization=gpu_memory_utilization,
            enable_sleep_mode=enable_sleep_mode, seed=seed, **llm_kwargs,
        )
        return cls(llm, name=f"vllm:{model}")

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        """Sample one continuation per prompt (vLLM batches them); ids and log-probs as sampled."""
        checked = check_prompts(prompts)
        vllm = _vllm()
        sampling = vllm.SamplingParams(
            n=1, temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_new_tokens,
            stop=list(params.stop) or None, seed=params.seed, logprobs=0,
            include_stop_str_in_output=True, skip_special_tokens=False,
        )
        outputs = self.llm.generate(
            [vllm.TokensPrompt(prompt_token_ids=p) for p in checked], sampling, use_tqdm=False
        )
        results = []
        for output in outputs:
            sample = output.outputs[0]
            ids = [int(t) for t in sample.token_ids]
            if sample.logprobs is None or len(sample.logprobs) != len(ids):
                raise RuntimeError("vLLM returned no log-probs for the sampled tokens (logprobs=0 was asked)")
            logprobs = [float(step[token].logprob) for step, token in zip(sample.logprobs, ids)]
            reason = "length" if sample.finish_reason == "length" else "stop"
            text = self.tokenizer.decode(ids, skip_special_tokens=False)
            results.append(Generation(ids, logprobs, text, reason, {"stop_reason": sample.stop_reason}))
        return results

    def score(
        self, prompts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]]
    ) -> list[list[float]]:
        """Log-probs of each continuation token, from ``prompt_logprobs`` over prompt + continuation."""
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        checked = check_prompts(prompts)
        conts = [[int(t) for t in c] for c in continuations]
        vllm = _vllm()
        sampling = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outputs = self.llm.generate(
            [vllm.TokensPrompt(prompt_token_ids=p + c) for p, c in zip(checked, conts)], sampling,
            use_tqdm=False,
        )
        scores = []
        for output, prompt, cont in zip(outputs, checked, conts):
            table = output.prompt_logprobs
            scores.append([float(table[len(prompt) + k][token].logprob) for k, token in enumerate(cont)])
        return scores

    def load_weights(self, weights: Any, *, chunk_size: int = 64) -> int:
        """Copy weights into the engine: an ``HFPolicy`` (LoRA merged), a torch module, or
        ``(name, tensor)`` pairs named as in the Hugging Face checkpoint. Returns how many were sent."""
        if hasattr(weights, "named_weights"):
            pairs: Iterable[tuple[str, Any]] = weights.named_weights()
        elif hasattr(weights, "state_dict"):
            pairs = weights.state_dict().items()
        else:
            pairs = weights
        sent, chunk = 0, []
        for name, tensor in pairs:
            chunk.append((name, tensor.detach().cpu()))
            if len(chunk) >= chunk_size:
                sent += self._send(chunk)
                chunk = []
        if chunk:
            sent += self._send(chunk)
        self.llm.reset_prefix_cache()  # cached keys/values were computed with the old weights
        return sent

    def _send(self, chunk: list[tuple[str, Any]]) -> int:
        self.llm.collective_rpc("turngym_load_weights", args=(chunk,))
        return len(chunk)

    def sleep(self, level: int = 1) -> None:
        """Free GPU memory: level 1 offloads weights to CPU and drops the KV cache; level 2 drops both."""
        if level not in (1, 2):
            raise ValueError(f"sleep level must be 1 or 2, got {level!r}")
        self.llm.sleep(level=level)

    def wake_up(self, tags: list[str] | None = None) -> None:
        """Restore what :meth:`sleep` freed (``tags``: e.g. ``["weights"]`` first, then ``["kv_cache"]``)."""
        if tags is None:
            self.llm.wake_up()
        else:
            self.llm.wake_up(tags=tags)
