"""``HFPolicy``: a transformers causal LM as a batched, trainable :class:`~turngym.agents.policy.Policy`.

Sampling runs all prompts of a call together: the prompts are left-padded into
one batch, prefilled once, then decoded one token per step for every row with
the KV cache; rows that finish leave the batch, so the rest decode faster. So a
collector that calls ``generate`` once per turn for all active episodes pays
one forward pass per token position, not one per episode. Two savings on the
prefill: identical prompts (a group's first turn) are prefilled once, and the
key/value cache of every sampled sequence is kept, so the next turn's prompt,
which extends it, prefills only the environment's reply.

For the trainer, :attr:`HFPolicy.model` is the ``torch.nn.Module`` (a peft
model once :meth:`HFPolicy.add_lora` was called) and
:meth:`HFPolicy.token_logprobs` computes per-token log-probs (and entropy) of
whole episode sequences, with gradients when asked, aligned with
:meth:`turngym.core.trajectory.EpisodeRecord.loss_mask`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from turngym.agents.cpu_linear import PackedLinears, maybe_packed, prepack_supported
from turngym.agents.kv_cache import append_cache, cache_keyword, cache_of
from turngym.agents.policy import Generation, SamplingParams, check_prompts
from turngym.agents.sampling import choose_tokens
from turngym.core.fallbacks import warn_once


@dataclass
class _CachedPrefix:
    """Keys/values of one token sequence, per layer ``[kv_heads, len(ids), head_dim]``."""

    ids: list[int]
    layers: list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class TokenLogprobs:
    """Per-token log-probs of a batch of sequences, aligned with the sequences' positions.

    ``logprobs[b, j]`` is log p(token j | tokens < j) of sequence ``b`` for
    ``1 <= j < len(sequence b)``; position 0 and padding hold 0 and have
    ``mask`` False. ``entropy[b, j]`` (when asked for) is the entropy of the
    distribution that token j was drawn from. Shapes: ``[batch, longest]``.
    """

    logprobs: torch.Tensor
    mask: torch.Tensor
    entropy: torch.Tensor | None = None


class HFPolicy:
    """A Hugging Face causal LM and its tokenizer (see the module docstring).

    Args:
        model: a transformers causal LM (``AutoModelForCausalLM``), on its device.
        tokenizer: its tokenizer (with a chat template for rollouts).
        name: how trajectory records name this policy.
        end_token_ids: ids that end a sample (default: the model's generation
            config EOS ids, else the tokenizer's EOS).
        max_batch_size: the most prompts sampled in one batch (larger calls are split).
        prefix_cache_tokens: how many tokens of key/value cache to keep between calls
            (0 disables it). When a prompt extends a sequence sampled earlier (the
            next turn of an episode), only the new tokens are prefilled. Clear it
            automatically when a parameter changes in place (an optimizer step), or
            with :meth:`clear_prefix_cache`.
        cpu_prepack: decode through oneDNN-prepacked copies of the linear weights
            (:mod:`turngym.agents.cpu_linear`): batched decode steps about 1.15-1.25x
            faster on a CPU for one more copy of the weights in memory. ``None``
            (default): on when the model is on a CPU and this PyTorch supports it;
            ``True`` raises where it cannot apply.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str | None = None,
        end_token_ids: Sequence[int] | None = None,
        max_batch_size: int = 64,
        prefix_cache_tokens: int = 32768,
        cpu_prepack: bool | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self._cache_kw = cache_keyword(model)
        self.name = name or f"hf:{getattr(model.config, '_name_or_path', '') or type(model).__name__}"
        if end_token_ids is None:
            end_token_ids = _eos_ids(model, tokenizer)
        if not end_token_ids:
            raise ValueError("no end-of-turn token: pass end_token_ids=[...] (the tokenizer has no EOS)")
        self.end_token_ids = frozenset(int(i) for i in end_token_ids)
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_token_id = int(pad) if isinstance(pad, int) else min(self.end_token_ids)
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.max_batch_size = max_batch_size
        self.prefix_cache_tokens = prefix_cache_tokens
        self._prefix_cache: OrderedDict[int, _CachedPrefix] = OrderedDict()
        self._prefix_key = 0
        self._cached_version = -1
        self.cpu_prepack = cpu_prepack
        self._packer: PackedLinears | None = None

    # ----- construction ------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        *,
        gguf_file: str | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        **kwargs: Any,
    ) -> HFPolicy:
        """Load a local Hugging Face model directory, or a GGUF file (a path to it, or ``gguf_file``).

        Nothing is downloaded: ``path`` must exist locally. ``device`` defaults to
        CUDA when available, else CPU; ``dtype`` to bfloat16 on CUDA, float32 on
        CPU. Other keyword arguments go to :class:`HFPolicy`.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        target = Path(path)
        if gguf_file is None and target.suffix == ".gguf":
            target, gguf_file = target.parent, target.name
        if not target.exists():
            raise FileNotFoundError(f"model path {str(target)!r} does not exist (nothing is downloaded)")
        if gguf_file is not None and not (target / gguf_file).is_file():
            raise FileNotFoundError(
                f"GGUF file {gguf_file!r} not found in {str(target)!r}; "
                f"found: {sorted(p.name for p in target.glob('*.gguf')) or 'no .gguf files'}"
            )
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
        load: dict[str, Any] = {"local_files_only": True}
        if gguf_file is not None:
            load["gguf_file"] = gguf_file
        tokenizer = AutoTokenizer.from_pretrained(str(target), **load)
        model = AutoModelForCausalLM.from_pretrained(str(target), dtype=dtype, **load).to(device)
        model.eval()
        return cls(model, tokenizer, **kwargs)

    def add_lora(
        self,
        *,
        r: int = 8,
        alpha: int = 16,
        dropout: float = 0.0,
        target_modules: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
    ) -> HFPolicy:
        """Wrap :attr:`model` with a peft LoRA adapter; only the adapter's weights stay trainable."""
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules),
            task_type="CAUSAL_LM",
        )
        self.model = get_peft_model(self.model, config)
        return self

    def load_adapter(self, path: str | os.PathLike[str]) -> HFPolicy:
        """Put a saved peft adapter (a directory with ``adapter_config.json``) on :attr:`model`."""
        from peft import PeftModel

        if not (Path(path) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{str(path)!r} is not a peft adapter directory (no adapter_config.json)")
        self.model = PeftModel.from_pretrained(self.model, str(path)).eval()
        return self

    def _dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are."""
        return next(self.model.parameters()).device

    def named_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """The model's weights under the base model's names, LoRA merged in; for syncing an inference
        engine (:meth:`turngym.agents.vllm_policy.VLLMPolicy.load_weights`). Tensors are detached copies."""
        model = self.model
        is_peft = hasattr(model, "merge_adapter") and hasattr(model, "unmerge_adapter")
        saved: dict[str, torch.Tensor] = {}
        if is_peft:
            # merge/unmerge add and subtract the LoRA delta in place, which is not exact in low
            # precision: keep the base weights and put them back bit for bit afterwards.
            saved = {n: p.detach().clone() for n, p in model.named_parameters() if ".base_layer." in n}
            model.merge_adapter()
        try:
            for name, tensor in model.state_dict().items():
                if "lora_" in name:
                    continue
                if is_peft:
                    name = name.removeprefix("base_model.model.").replace(".base_layer.", ".")
                yield name, tensor.detach().clone()
        finally:
            if is_peft:
                model.unmerge_adapter()
                with torch.no_grad():
                    for n, p in model.named_parameters():
                        if n in saved:
                            p.copy_(saved[n])

    # ----- sampling ----------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        """Sample one continuation per prompt, all in one batch (see the module docstring)."""
        checked = check_prompts(prompts, self._vocab_size())
        if not isinstance(params, SamplingParams):
            raise TypeError(f"params must be a SamplingParams, got {type(params).__name__}")
        generator = None
        if params.seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(params.seed)
        results: list[Generation] = []
        with maybe_packed(self._cpu_packer()):
            for start in range(0, len(checked), self.max_batch_size):
                results.extend(self._sample(checked[start:start + self.max_batch_size], params, generator))
        return results

    def _cpu_packer(self) -> PackedLinears | None:
        """The prepacked-weights helper when ``cpu_prepack`` applies to this model, else None.

        It routes only the calls where packing measured faster (see :mod:`turngym.agents.cpu_linear`).
        """
        if self.cpu_prepack is False:
            return None
        candidate = self.device.type == "cpu" and self._dtype() == torch.float32
        usable = candidate and prepack_supported()
        if candidate and not usable and self.cpu_prepack is None:
            warn_once(
                "cpu_prepack",
                f"torch {torch.__version__} lacks oneDNN prepacked linear weights "
                "(torch.ops.mkldnn._reorder_linear_weight / _linear_pointwise): batched CPU decoding "
                "uses plain matmuls, about 1.3-2x slower at 8 rows. Pass cpu_prepack=False to silence.",
            )
        if not usable:
            self._packer = None  # e.g. the model moved to a GPU: free the packed copies
            if self.cpu_prepack:
                raise RuntimeError(
                    "cpu_prepack=True needs a float32 model on a CPU and a PyTorch build with oneDNN "
                    f"(model: {self._dtype()} on {self.device}; oneDNN prepacking supported: "
                    f"{prepack_supported()})"
                )
            return None
        if self._packer is None or self._packer.model is not self.model:
            self._packer = PackedLinears(self.model, rows_hint=min(self.max_batch_size, 8))
        return self._packer

    def _sample(
        self, prompts: list[list[int]], params: SamplingParams, generator: torch.Generator | None
    ) -> list[Generation]:
        device = self.device
        batch = len(prompts)
        # Identical prompts (a group's first turn) are prefilled once and the cache is copied.
        unique: dict[tuple[int, ...], int] = {}
        row_to_unique = [unique.setdefault(tuple(p), len(unique)) for p in prompts]
        unique_prompts = [list(p) for p in unique]
        version = self._weights_version()
        if version != self._cached_version:  # the weights changed (e.g. an optimizer step): stale keys
            self._prefix_cache.clear()
            self._cached_version = version
        pasts = [self._lookup(p) for p in unique_prompts]
        for key in {key for key, _ in pasts if key is not None}:
            self._prefix_cache.pop(key, None)  # superseded by the longer sequence stored below
        cache, attention, new_ids, positions = self._prefill_inputs(
            unique_prompts, [e for _, e in pasts], reserve=params.max_new_tokens + 1
        )
        out = self.model(
            input_ids=new_ids, attention_mask=attention, position_ids=positions,
            **{self._cache_kw: cache}, use_cache=True, logits_to_keep=1,
        )
        cache = cache_of(out)
        logits = out.logits[:, -1, :].float()
        if len(unique_prompts) < batch:
            index = torch.tensor(row_to_unique, device=device)
            cache.reorder_cache(index)
            attention, positions, logits = attention[index], positions[index], logits[index]
        position = positions[:, -1:]
        tokens: list[list[int]] = [[] for _ in range(batch)]
        logprobs: list[list[float]] = [[] for _ in range(batch)]
        reasons: list[str | None] = [None] * batch
        live = list(range(batch))  # the original row of each batch row still being sampled
        stop_tail = max((len(s) for s in params.stop), default=0) + 4
        for step in range(params.max_new_tokens):
            chosen, chosen_logprobs = choose_tokens(logits, params, generator)
            chosen_list, lp_list = chosen.tolist(), chosen_logprobs.tolist()
            for slot, row in enumerate(live):
                token = chosen_list[slot]
                tokens[row].append(token)
                logprobs[row].append(lp_list[slot])
                if token in self.end_token_ids:
                    reasons[row] = "stop"
                elif params.stop and self._hits_stop(tokens[row], params.stop, stop_tail):
                    reasons[row] = "stop"
                elif step + 1 == params.max_new_tokens:
                    reasons[row] = "length"
            keep = [slot for slot, row in enumerate(live) if reasons[row] is None]
            if len(keep) < len(live):
                # Finished rows leave the batch (their keys/values are kept for the next turn first).
                done = [slot for slot in range(len(live)) if reasons[live[slot]] is not None]
                self._store(cache, attention, done, [prompts[live[s]] + tokens[live[s]] for s in done])
                if not keep:
                    break
                index = torch.tensor(keep, device=device)
                cache.reorder_cache(index)
                attention, position, chosen = attention[index], position[index], chosen[index]
                live = [live[slot] for slot in keep]
            attention = torch.cat([attention, attention.new_ones((len(live), 1))], dim=1)
            position = position + 1
            out = self.model(
                input_ids=chosen.view(len(live), 1), attention_mask=attention, position_ids=position,
                **{self._cache_kw: cache}, use_cache=True,
            )
            cache = cache_of(out)
            logits = out.logits[:, -1, :].float()
        decode = self.tokenizer.decode
        return [
            Generation(ids, lps, decode(ids, skip_special_tokens=False), reason or "length")  # type: ignore[arg-type]
            for ids, lps, reason in zip(tokens, logprobs, reasons)
        ]

    # ----- prefix cache: a turn's prompt extends the previous turn's sequence ---------------

    def clear_prefix_cache(self) -> None:
        """Forget all cached key/value prefixes (e.g. after the weights changed)."""
        self._prefix_cache.clear()

    def weights_changed(self, *, trainable_only: bool = False) -> None:
        """Drop everything derived from the current weights: cached prefixes and prepacked copies.

        Both are also refreshed automatically when torch's in-place write counters
        move, but some writers leave those counters alone (``torch.optim.AdamW(...,
        fused=True)`` does), so a training loop calls this after every optimiser step,
        with ``trainable_only=True`` so that frozen weights (a LoRA base) keep their
        packed copies.
        """
        self._prefix_cache.clear()
        if self._packer is not None:
            self._packer.clear(trainable_only=trainable_only)

    def _weights_version(self) -> int:
        """Changes whenever a parameter is modified in place (torch counts in-place writes)."""
        return sum(p._version for p in self.model.parameters()) + id(self.model)

    def _lookup(self, prompt: list[int]) -> tuple[int | None, _CachedPrefix | None]:
        best: tuple[int | None, _CachedPrefix | None] = (None, None)
        for key, entry in self._prefix_cache.items():
            n = len(entry.ids)
            if n < len(prompt) and (best[1] is None or n > len(best[1].ids)) and prompt[:n] == entry.ids:
                best = (key, entry)
        return best

    def _prefill_inputs(
        self, prompts: list[list[int]], pasts: list[_CachedPrefix | None], *, reserve: int
    ) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Left-padded cached prefixes plus left-padded new tokens, with a 2D mask and positions.

        The cache returned appends in place with room for ``reserve`` decoded tokens
        (:mod:`turngym.agents.kv_cache`).
        """
        device = self.device
        rows = len(prompts)
        past_lens = [len(e.ids) if e is not None else 0 for e in pasts]
        width_past = max(past_lens)
        rest = [p[n:] for p, n in zip(prompts, past_lens)]
        width_new = max(len(r) for r in rest)
        new_ids = torch.full((rows, width_new), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((rows, width_past + width_new), dtype=torch.long)
        for row, (tail, n) in enumerate(zip(rest, past_lens)):
            new_ids[row, width_new - len(tail):] = torch.tensor(tail)
            mask[row, width_past - n: width_past] = 1
            mask[row, width_past + width_new - len(tail):] = 1
        mask = mask.to(device)
        positions = ((mask.cumsum(-1) - 1).clamp(min=0))[:, width_past:]
        cache = append_cache(self.model.config, reserve=(width_new if width_past else 0) + reserve)
        if width_past:
            template = next(e for e in pasts if e is not None).layers
            for layer, (k0, v0) in enumerate(template):
                keys = k0.new_zeros((rows, k0.shape[0], width_past, k0.shape[2]))
                values = v0.new_zeros((rows, v0.shape[0], width_past, v0.shape[2]))
                for row, entry in enumerate(pasts):
                    if entry is not None:
                        n = len(entry.ids)
                        keys[row, :, width_past - n:] = entry.layers[layer][0]
                        values[row, :, width_past - n:] = entry.layers[layer][1]
                cache.update(keys, values, layer)
        return cache, mask, new_ids.to(device), positions

    def _store(
        self, cache: Any, attention: torch.Tensor, slots: list[int], sequences: list[list[int]]
    ) -> None:
        """Keep the keys/values of batch rows ``slots`` (holding ``sequences``) for later prompts."""
        if self.prefix_cache_tokens <= 0 or cache is None:
            return
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        for slot, sequence in zip(slots, sequences):
            valid = attention[slot].bool()
            count = int(valid.sum())
            if count > self.prefix_cache_tokens:
                continue
            kept = [(k[slot][:, valid].clone(), v[slot][:, valid].clone()) for k, v in layers]
            self._prefix_key += 1
            self._prefix_cache[self._prefix_key] = _CachedPrefix(sequence[:count], kept)
        total = sum(len(e.ids) for e in self._prefix_cache.values())
        while total > self.prefix_cache_tokens and self._prefix_cache:
            _, evicted = self._prefix_cache.popitem(last=False)
            total -= len(evicted.ids)

    def _hits_stop(self, tokens: list[int], stop: tuple[str, ...], tail: int) -> bool:
        text = self.tokenizer.decode(tokens[-tail:], skip_special_tokens=False)
        return any(s in text for s in stop)

    # ----- scoring -----------------------------------------------------------------------

    def token_logprobs(
        self,
        sequences: Sequence[Sequence[int]],
        *,
        temperature: float = 1.0,
        with_grad: bool = False,
        with_entropy: bool = False,
    ) -> TokenLogprobs:
        """Per-token log-probs (and entropy) of whole sequences in one batched forward pass.

        For training: pass ``record.token_ids()`` of each episode with
        ``with_grad=True``; multiply by ``record.loss_mask()`` (same alignment,
        see :class:`TokenLogprobs`). ``temperature`` divides the logits first
        (use the sampling temperature to get the sampling distribution's log-probs).
        """
        checked = check_prompts(sequences, self._vocab_size())
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0 for log-probs, got {temperature}")
        device = self.device
        batch, width = len(checked), max(len(s) for s in checked)
        input_ids = torch.full((batch, width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((batch, width), dtype=torch.long)
        for row, seq in enumerate(checked):
            input_ids[row, : len(seq)] = torch.tensor(seq)
            attention[row, : len(seq)] = 1
        input_ids, attention = input_ids.to(device), attention.to(device)
        with torch.set_grad_enabled(with_grad):
            logits = self.model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
            if temperature != 1.0:
                logits = logits / temperature
            log_probs = torch.log_softmax(logits, dim=-1)
            picked = log_probs.gather(-1, input_ids[:, 1:, None]).squeeze(-1)
            mask = attention[:, 1:].bool()
            zero = picked.new_zeros((batch, 1))
            result = TokenLogprobs(
                torch.cat([zero, picked * mask], dim=1),
                torch.cat([mask.new_zeros((batch, 1)), mask], dim=1),
            )
            if with_entropy:
                entropy = -(log_probs.exp() * log_probs).sum(-1) * mask
                result.entropy = torch.cat([zero, entropy], dim=1)
        return result

    @torch.no_grad()
    def score(
        self, prompts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]]
    ) -> list[list[float]]:
        """Log-prob of each continuation token given its prompt (temperature 1), one batched pass."""
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        prompts_l = check_prompts(prompts, self._vocab_size())
        conts = [list(c) for c in continuations]
        sequences = [p + c for p, c in zip(prompts_l, conts)]
        scored = self.token_logprobs(sequences)
        out = []
        for row, (p, c) in enumerate(zip(prompts_l, conts)):
            out.append(scored.logprobs[row, len(p): len(p) + len(c)].tolist())
        return out

    def _vocab_size(self) -> int | None:
        embeddings = self.model.get_input_embeddings()
        return int(embeddings.num_embeddings) if embeddings is not None else None


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None) if config is not None else None
    if eos is None:
        eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        return []
    return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])]
