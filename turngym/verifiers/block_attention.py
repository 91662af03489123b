"""Attention for a causal context followed by short packed branches, without a dense mask over the context.

The packed belief-gain pass (:mod:`turngym.verifiers.info_gain`) lays out an
episode's tokens once and packs every probe branch after them. Its 4D mask is
causal over the context and block-structured over the branches; handed to
PyTorch's scaled-dot-product attention as one dense mask, the context's
queries are scored against every key including the masked upper triangle,
which made attention a fifth of the pass on a CPU (SmolLM2-135M, 8 turns).

:func:`block_layout_attention` computes the same attention in two calls of
``scaled_dot_product_attention``: the context rows with ``is_causal=True``
(the fused kernel skips the upper triangle), and the branch rows against all
keys with the branch part of the mask. It stands in for transformers' "sdpa"
attention function: :func:`install` wraps that entry of transformers'
attention registry, and the wrapper takes the block path only when a forward
pass carries the keyword ``turngym_block_layout`` (which transformers hands
through to attention functions); every other call goes to the original
function unchanged. A model that does not forward such keywords still gets
the dense mask, so the result is the same either way, only slower.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

LAYOUT_KEYWORD = "turngym_block_layout"
"""The forward-pass keyword: ``(context_length, branch_mask)``; see :func:`block_layout_attention`."""

_CHANGES_ATTENTION = ("is_causal", "position_bias", "softcap", "sinks", "s_aux", "cache")
"""Keywords of transformers' sdpa function that alter attention: when set, the original runs."""

_lock = threading.Lock()
_original: Callable[..., Any] | None = None


def block_layout_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    context_length: int,
    branch_mask: torch.Tensor,
    scaling: float | None = None,
) -> torch.Tensor:
    """Attention output ``[batch, heads, length, head_dim]`` for a causal context plus masked branch rows.

    ``query`` is ``[batch, heads, length, head_dim]``; ``key``/``value`` may have fewer
    heads (grouped-query attention: each key head serves ``heads / kv_heads`` query heads).
    Rows ``< context_length`` attend causally within the context; rows after it attend
    to the keys that ``branch_mask`` (additive, ``[..., length - context_length, length]``)
    allows.
    """
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    n = context_length
    context = F.scaled_dot_product_attention(
        query[:, :, :n], key[:, :, :n], value[:, :, :n], is_causal=True, scale=scaling
    )
    branches = F.scaled_dot_product_attention(
        query[:, :, n:], key, value, attn_mask=branch_mask, scale=scaling
    )
    return torch.cat([context, branches], dim=2)


def _wrapper(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    *args: Any,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    layout = kwargs.pop(LAYOUT_KEYWORD, None)
    assert _original is not None
    usable = (
        layout is not None
        and not args
        and not kwargs.get("dropout")
        and all(kwargs.get(name) is None for name in _CHANGES_ATTENTION)
        and query.shape[2] == key.shape[2]  # no cache: the whole layout is in this pass
        and query.shape[1] % key.shape[1] == 0
    )
    if not usable:
        return _original(module, query, key, value, attention_mask, *args, **kwargs)
    context_length, branch_mask = layout
    out = block_layout_attention(query, key, value, context_length, branch_mask, kwargs.get("scaling"))
    return out.transpose(1, 2).contiguous(), None


def install() -> bool:
    """Wrap transformers' "sdpa" attention function once. True when the wrapper is in place.

    False when transformers has no "sdpa" entry, or when something else replaced the
    entry after we wrapped it (we do not wrap a wrapper of ours; the scorer then
    uses the dense mask).
    """
    global _original
    from transformers.modeling_utils import AttentionInterface

    with _lock:
        current = AttentionInterface._global_mapping.get("sdpa")
        if current is _wrapper:
            return True
        if current is None or _original is not None:
            return False
        _original = current
        AttentionInterface.register("sdpa", _wrapper)
        return True
