"""oneDNN-prepacked weights for the linear layers of a model decoding on a CPU without gradients.

A decode step multiplies a few rows (one per active episode) by every weight
matrix of the model. PyTorch's default CPU path (MKL ``sgemm`` via
``F.linear``) repacks the weight matrix into its blocked layout on every call,
which for a handful of rows costs about as much as the product itself: on this
project's 2-core reference machine an 8-row decode step of SmolLM2-135M took
2.2x a 1-row step, so batching episodes paid back far less than it should.
oneDNN can pack a weight once (``torch.ops.mkldnn._reorder_linear_weight``,
what PyTorch's own compiler uses for frozen CPU models) and multiply packed
weights directly (``torch.ops.mkldnn._linear_pointwise``).

:class:`PackedLinears` keeps a packed copy of each ``nn.Linear`` weight and, inside
:meth:`PackedLinears.active`, routes the calls where it measured faster through
it: a few rows (decoding), but not many rows (a prefill, where MKL's own packing
is amortised) and not a single row on a single thread (MKL's matrix-vector path
does not repack at all). SmolLM2-135M full forward passes, milliseconds, plain
vs packed: 1 thread: 8 rows x 1 token 113-119 vs 100-102, 1 x 1 62-66 vs 72,
1 x 150 499-522 vs 553-565; 2 threads: 8 x 1 82-85 vs 66-69, 1 x 1 55-56 vs
49-51, 1 x 150 270-277 vs 271.

The packed copy is refreshed whenever the weight changes in place (an optimizer
step; torch counts in-place writes) or is replaced. Writes that torch does not
count (through ``.data``, a fused AdamW step) need :meth:`PackedLinears.clear`
(``HFPolicy.weights_changed``); the base layers of merged peft adapters, which
peft writes through ``.data``, are never packed. Only plain ``nn.Linear``
layers are packed: subclasses may compute more than ``x @ W.T + b``. Results equal ``F.linear`` up
to float32 rounding (a different summation order). The cost is memory: one
more copy of every packed weight (about 540 MB for SmolLM2-135M in float32).

The two operators are private PyTorch API; :func:`prepack_supported` checks that
they exist and work, and callers fall back to ``F.linear`` when they do not.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn


@functools.cache
def prepack_supported() -> bool:
    """Whether this PyTorch build can prepack and multiply float32 linear weights with oneDNN."""
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        weight, rows = torch.randn(3, 4), torch.randn(2, 4)
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, 2)
        out = torch.ops.mkldnn._linear_pointwise(rows, packed, None, "none", [], "")
        return bool(torch.allclose(out, rows @ weight.t(), atol=1e-5))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


class PackedLinears:
    """Packed copies of a model's float32 CPU ``nn.Linear`` weights (see the module docstring).

    Args:
        model: the module whose ``nn.Linear`` sub-modules are packed (a peft model's
            base layers and adapters included).
        rows_hint: the typical number of rows per call; oneDNN picks its blocking
            for it (any row count still works).
        max_rows: calls with more rows than this (prefills) take ``F.linear``.
    """

    def __init__(self, model: nn.Module, *, rows_hint: int = 8, max_rows: int = 64) -> None:
        self.model = model
        self.rows_hint = rows_hint
        self.max_rows = max_rows
        # module id -> (the weight tensor packed, its version then, the packed copy); holding the
        # weight keeps its storage alive, so a new tensor at a recycled address is never mistaken for it
        self._packed: dict[int, tuple[torch.Tensor, int, torch.Tensor]] = {}

    def _eligible(self) -> Iterator[nn.Linear]:
        merged_bases = {
            id(base)
            for module in self.model.modules()
            if getattr(module, "merged", False) and (base := getattr(module, "base_layer", None)) is not None
        }
        for module in self.model.modules():
            weight = getattr(module, "weight", None)
            if (
                type(module).forward is nn.Linear.forward  # subclasses may compute more than x @ W.T + b
                and "forward" not in module.__dict__  # already wrapped (e.g. by accelerate hooks): leave it
                and id(module) not in merged_bases  # peft merges through .data, which torch does not count
                and isinstance(weight, torch.Tensor)
                and weight.device.type == "cpu"
                and weight.dtype == torch.float32
                and weight.layout == torch.strided
            ):
                yield module

    def _packed_weight(self, module: nn.Linear) -> torch.Tensor:
        weight = module.weight.detach()
        cached = self._packed.get(id(module))
        fresh = (
            cached is not None
            and cached[0].data_ptr() == weight.data_ptr()
            and cached[0].shape == weight.shape
            and cached[1] == module.weight._version
        )
        if not fresh:
            packed = torch.ops.mkldnn._reorder_linear_weight(weight, self.rows_hint)
            cached = (weight, module.weight._version, packed)
            self._packed[id(module)] = cached
        assert cached is not None
        return cached[2]

    @contextmanager
    def active(self) -> Iterator[PackedLinears]:
        """Route eligible ``nn.Linear`` layers through their packed weights until the block ends.

        Only for inference: a forward pass with gradients enabled inside the block
        takes the ordinary ``F.linear`` path, so gradients are never lost.
        """
        modules = list(self._eligible())
        live = {id(m) for m in modules}
        for stale in [key for key in self._packed if key not in live]:
            del self._packed[stale]
        min_rows = 1 if torch.get_num_threads() > 1 else 2
        try:
            for module in modules:
                module.forward = functools.partial(
                    _packed_forward, module, self._packed_weight(module), min_rows, self.max_rows
                )
            yield self
        finally:
            for module in modules:
                module.__dict__.pop("forward", None)

    def clear(self, *, trainable_only: bool = False) -> None:
        """Drop the packed copies (their memory is freed); with ``trainable_only``, only those of
        weights that require gradients (what an optimiser step can have changed)."""
        if not trainable_only:
            self._packed.clear()
            return
        for module in self.model.modules():
            weight = getattr(module, "weight", None)
            if isinstance(module, nn.Linear) and isinstance(weight, torch.Tensor) and weight.requires_grad:
                self._packed.pop(id(module), None)


def _packed_forward(
    module: nn.Linear, weight: torch.Tensor, min_rows: int, max_rows: int, x: torch.Tensor
) -> torch.Tensor:
    in_features = x.shape[-1]
    rows = x.numel() // in_features if in_features else 0
    if torch.is_grad_enabled() or x.dtype != torch.float32 or not min_rows <= rows <= max_rows:
        return nn.functional.linear(x, module.weight, module.bias)  # gradients need the real weight
    flat = x.reshape(rows, in_features)
    out = torch.ops.mkldnn._linear_pointwise(flat, weight, module.bias, "none", [], "")
    return out.view(*x.shape[:-1], out.shape[-1])


def maybe_packed(packer: PackedLinears | None) -> Any:
    """``packer.active()`` when there is a packer, else a context that does nothing."""
    return packer.active() if packer is not None else nullcontext()
