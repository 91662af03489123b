"""A key/value cache that appends in place, for :class:`~turngym.agents.hf_policy.HFPolicy`'s decode loop.

transformers' ``DynamicLayer`` appends each decoded token with ``torch.cat``,
which allocates and copies the whole cache of every layer at every step. On a
CPU that copy (and the page faults of the fresh allocation) costs more than the
attention itself once a batch of episodes carries a few hundred tokens of
context: measured on SmolLM2-135M with 8 rows and 160 cached tokens, ``cat`` was
27% of a decode step. :class:`AppendKVLayer` keeps each layer's keys and values
in a buffer with spare room along the sequence axis and writes new tokens into
it, growing geometrically when full, so a decode step copies only the new
token's keys and values. The tensors it returns are views of the buffer, so the
attention sees exactly what a ``DynamicLayer`` would hold. Writing into a buffer
that earlier steps' views share is only safe without autograd: the cache is for
no-grad decoding (training forward passes use no cache).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer


class AppendKVLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys/values live in a buffer with room for ``reserve`` more tokens.

    Args:
        reserve: spare token slots allocated beyond what the first update needs
            (use the number of tokens about to be decoded, so that decoding never
            reallocates). When the buffer fills up it doubles.
    """

    def __init__(self, reserve: int = 64, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if reserve < 0:
            raise ValueError(f"reserve must be >= 0, got {reserve}")
        self.reserve = reserve
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None
        self._length = 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new tokens' keys/values after the cached ones; return views of all of them."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        start, added = self._length, key_states.shape[-2]
        end = start + added
        buffer = self._key_buffer
        if buffer is not None and buffer.shape[0] != key_states.shape[0]:
            raise ValueError(
                f"cache holds {buffer.shape[0]} rows but the update has {key_states.shape[0]}; "
                "change the batch with reorder_cache or batch_select_indices"
            )
        if buffer is None or end > buffer.shape[-2]:
            capacity = end + self.reserve if buffer is None else max(2 * buffer.shape[-2], end + self.reserve)
            self._key_buffer = self._grow(self._key_buffer, key_states, capacity)
            self._value_buffer = self._grow(self._value_buffer, value_states, capacity)
        assert self._key_buffer is not None and self._value_buffer is not None
        self._key_buffer[..., start:end, :] = key_states
        self._value_buffer[..., start:end, :] = value_states
        self._length = end
        self._publish()
        return self.keys, self.values

    def _grow(self, old: torch.Tensor | None, new: torch.Tensor, capacity: int) -> torch.Tensor:
        buffer = new.new_empty((*new.shape[:-2], capacity, new.shape[-1]))
        if old is not None and self._length:
            buffer[..., : self._length, :] = old[..., : self._length, :]
        return buffer

    def _publish(self) -> None:
        assert self._key_buffer is not None and self._value_buffer is not None
        self.keys = self._key_buffer[..., : self._length, :]
        self.values = self._value_buffer[..., : self._length, :]

    def get_seq_length(self) -> int:
        """How many tokens are cached."""
        return self._length if self.is_initialized else 0

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Keep/reorder batch rows (``beam_idx`` indexes the batch axis), spare room included."""
        if self._key_buffer is None or self._value_buffer is None:
            return
        index = beam_idx.to(self._key_buffer.device)
        self._key_buffer = self._select(self._key_buffer, index)
        self._value_buffer = self._select(self._value_buffer, index)
        self._publish()

    def _select(self, buffer: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        # copy only the cached tokens: the spare room stays untouched (uncommitted) memory
        out = buffer.new_empty((len(index), *buffer.shape[1:]))
        torch.index_select(buffer[..., : self._length, :], 0, index, out=out[..., : self._length, :])
        return out

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep the batch rows ``indices``."""
        if indices.dtype == torch.bool:
            indices = indices.nonzero().squeeze(-1)
        self.reorder_cache(indices)  # type: ignore[arg-type]

    def batch_repeat_interleave(self, repeats: int) -> None:
        """Repeat every batch row ``repeats`` times."""
        if self._key_buffer is None:
            return
        rows = torch.arange(self._key_buffer.shape[0], device=self._key_buffer.device)
        self.reorder_cache(rows.repeat_interleave(repeats))  # type: ignore[arg-type]

    def crop(self, tokens_to_remove: int) -> None:
        """Drop the last ``-tokens_to_remove`` tokens (transformers' convention: a negative count)."""
        if tokens_to_remove > 0:
            raise ValueError(f"crop takes a negative count of tokens to remove, got {tokens_to_remove}")
        if tokens_to_remove and self._key_buffer is not None:
            self._length = max(0, self._length + tokens_to_remove)
            self._publish()

    def reset(self) -> None:
        """Forget the cached tokens and the buffer."""
        self._key_buffer = self._value_buffer = None
        self._length = 0
        super().reset()


def append_cache(config: Any, *, reserve: int = 64) -> DynamicCache:
    """A ``DynamicCache`` for ``config`` whose full-attention layers are :class:`AppendKVLayer` s.

    Layers of other kinds (sliding-window, linear attention) keep transformers' own classes.
    """
    cache = DynamicCache(config=config)
    cache.layers = [
        AppendKVLayer(reserve=reserve) if type(layer) is DynamicLayer else layer for layer in cache.layers
    ]
    return cache


def cache_keyword(model: Any) -> str:
    """The name ``model.forward`` takes its key/value cache under.

    transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name still works until 5.40
    but warns on every run); earlier releases in the supported range only know the old name. A
    PEFT wrapper forwards ``**kwargs``, so the base model's signature decides.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def cache_of(out: Any) -> Any:
    """The cache a forward returned, under either name (see :func:`cache_keyword`)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values
