"""The ``Policy`` protocol: a batched, token-level language model that a trainer can sample from.

A policy works on token ids, never on text: the rollout collector
(:mod:`turngym.rollout`) hands it the exact prompt ids of every active
episode and records the exact ids it samples, so the tokens a trainer scores are
the tokens that were sampled (token in, token out). Implementations:
:class:`turngym.agents.hf_policy.HFPolicy` (transformers, CPU or CUDA) and
:class:`turngym.agents.vllm_policy.VLLMPolicy` (vLLM on a GPU).

Log-probabilities everywhere in this protocol are the model's own distribution
at temperature 1 with no top-p truncation (what vLLM calls ``raw_logprobs``),
whatever temperature was used to sample: that is the quantity a policy-gradient
trainer recomputes, so rollout and training log-probs are comparable.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length"]
"""``"stop"``: an end-of-turn token or a stop string ended the sample; ``"length"``: ``max_new_tokens``."""


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one turn.

    Args:
        temperature: softmax temperature; ``0`` means greedy decoding.
        top_p: nucleus sampling threshold in ``(0, 1]``.
        max_new_tokens: the most tokens sampled for one prompt.
        stop: strings that end a sample once the decoded text contains one; the
            token that completes a stop string is kept (the sampled tokens are
            never cut, so ids and text stay in step).
        seed: seeds the sampler; the same seed, prompts and model give the same
            samples on the same device.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            raise ValueError(f"temperature must be a number >= 0, got {self.temperature!r}")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive int, got {self.max_new_tokens!r}")
        if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError(f"stop must be a sequence of non-empty strings, got {self.stop!r}")
        object.__setattr__(self, "stop", tuple(self.stop))
        if self.seed is not None and not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int or None, got {self.seed!r}")

    def with_seed(self, seed: int | None) -> SamplingParams:
        """A copy with another seed (the collector derives one per turn)."""
        return SamplingParams(self.temperature, self.top_p, self.max_new_tokens, self.stop, seed)


@dataclass
class Generation:
    """One sampled continuation.

    ``token_ids`` are exactly the sampled ids, including a final end-of-turn
    token when the model produced one; ``logprobs[i]`` is the model's log-prob
    of ``token_ids[i]`` (temperature 1, see the module docstring); ``text`` is
    ``token_ids`` decoded without skipping special tokens.
    """

    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: FinishReason
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.logprobs) != len(self.token_ids):
            raise ValueError(f"{len(self.logprobs)} log-probs for {len(self.token_ids)} tokens")


@runtime_checkable
class Policy(Protocol):
    """A batched token-level policy (see the module docstring).

    ``tokenizer`` is a Hugging Face tokenizer (chat template, encode, decode);
    ``name`` identifies the policy in trajectory records.
    """

    name: str
    tokenizer: Any

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        """Sample one continuation per prompt, all prompts together; results in prompt order."""
        ...

    def score(
        self, prompts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]]
    ) -> list[list[float]]:
        """The log-prob of each continuation token given its prompt and the tokens before it."""
        ...


def check_prompts(prompts: Sequence[Sequence[int]], vocab_size: int | None = None) -> list[list[int]]:
    """Validate a batch of token-id prompts and return them as lists.

    Raises ``ValueError`` naming the first bad prompt: an empty one, a non-int
    id, or an id outside ``[0, vocab_size)``.
    """
    if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence):
        raise ValueError("prompts must be a list of token-id lists (one per prompt), not text")
    checked = []
    for index, prompt in enumerate(prompts):
        if isinstance(prompt, (str, bytes)):
            raise ValueError(f"prompt {index} is text; a policy takes token ids (use the chat template)")
        ids = list(prompt)
        if not ids:
            raise ValueError(f"prompt {index} is empty; every prompt needs at least one token")
        bad = next((t for t in ids if not isinstance(t, numbers.Integral) or isinstance(t, bool)), None)
        if bad is not None:
            raise ValueError(f"prompt {index} holds {bad!r}; token ids must be ints")
        ids = [int(t) for t in ids]
        if vocab_size is not None and (min(ids) < 0 or max(ids) >= vocab_size):
            raise ValueError(f"prompt {index} has ids outside [0, {vocab_size}): {min(ids)}..{max(ids)}")
        checked.append(ids)
    return checked
