"""The policy loss: PPO's clipped objective over the policy's own tokens.

All tensors are ``[episodes, tokens]`` with a 0/1 ``mask`` marking the tokens
the policy produced (from the trajectory records' spans, never from template
markers). Per-token clip ranges let ``a2tgpo`` widen the trust region on
informative turns.

    ratio  = exp(logp - logp_old)
    loss_t = max(-A * ratio, -A * clip(ratio, 1 - eps_lo, 1 + eps_hi))          (PPO)
    loss_t = min(loss_t, -A * c)   where A < 0                                 (dual clip, c > 1)
    kl_t   = exp(ref - logp) - (ref - logp) - 1                                 (k3, >= 0)

Aggregation over tokens (``token_mean`` weighs every token equally;
``seq_mean_token_mean`` every episode equally; ``seq_mean_token_sum_norm``
sums an episode's tokens and divides by a constant ``norm``, so that long
episodes are not down-weighted per token, as in Dr. GRPO). ``norm`` must be
given and fixed for the run (the trainer passes the generation budget, see
``loss.norm_tokens``): dividing by the padded width instead would make the
loss scale depend on how episodes happen to be batched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

AGGREGATIONS: tuple[str, ...] = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm")


def aggregate(values: torch.Tensor, mask: torch.Tensor, mode: str, norm: float | None = None) -> torch.Tensor:
    """Reduce per-token ``values`` to a scalar over ``mask`` (see the module docstring).

    ``norm`` is the constant divisor of ``seq_mean_token_sum_norm`` (required there, unused otherwise).
    """
    mask = mask.to(values.dtype)
    if mode == "token_mean":
        return (values * mask).sum() / mask.sum().clamp_min(1.0)
    per_sequence = (values * mask).sum(dim=-1)
    if mode == "seq_mean_token_mean":
        counts = mask.sum(dim=-1)
        keep = counts > 0
        return (per_sequence[keep] / counts[keep]).mean() if keep.any() else per_sequence.sum() * 0.0
    if mode == "seq_mean_token_sum_norm":
        if norm is None or not norm > 0:
            raise ValueError(
                f"seq_mean_token_sum_norm needs a constant norm > 0 (the generation budget in tokens), "
                f"got {norm!r}; the padded width would tie the loss scale to the batching"
            )
        return (per_sequence / float(norm)).mean()
    raise ValueError(f"unknown loss aggregation {mode!r}; accepted: {', '.join(AGGREGATIONS)}")


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(pi || ref) per token: unbiased and never negative."""
    delta = (ref_logprobs - logprobs).clamp(-20.0, 20.0)
    return torch.exp(delta) - delta - 1.0


@dataclass
class LossOutput:
    """The scalar to minimise and what to log about it."""

    loss: torch.Tensor
    policy_loss: float
    kl: float
    entropy: float
    clip_fraction: float
    ratio_mean: float


def ppo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_low: torch.Tensor | float = 0.2,
    clip_high: torch.Tensor | float | None = None,
    dual_clip: float | None = None,
    aggregation: str = "token_mean",
    ref_logprobs: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    entropy: torch.Tensor | None = None,
    entropy_coef: float = 0.0,
    norm: float | None = None,
) -> LossOutput:
    """PPO clipped policy loss with optional per-token clip ranges, dual clip, KL and entropy terms.

    ``clip_low``/``clip_high`` are scalars or ``[episodes, tokens]`` tensors (per-turn
    ranges broadcast to their tokens); ``clip_high`` defaults to ``clip_low``. ``norm`` is the
    constant divisor that ``seq_mean_token_sum_norm`` requires (see :func:`aggregate`).
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown loss aggregation {aggregation!r}; accepted: {', '.join(AGGREGATIONS)}")
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
    shapes = {t.shape for t in (logprobs, old_logprobs, advantages, mask)}
    if len(shapes) != 1:
        raise ValueError(f"logprobs, old_logprobs, advantages and mask must share a shape, got {shapes}")
    clip_high = clip_low if clip_high is None else clip_high
    ratio = torch.exp((logprobs - old_logprobs).clamp(-20.0, 20.0))
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    per_token = torch.maximum(unclipped, clipped)
    if dual_clip is not None:
        per_token = torch.where(advantages < 0, torch.minimum(per_token, -advantages * dual_clip), per_token)
    policy = aggregate(per_token, mask, aggregation, norm)
    total = policy
    kl_value = torch.zeros((), dtype=logprobs.dtype)
    if ref_logprobs is not None:
        kl_value = aggregate(kl_k3(logprobs, ref_logprobs), mask, aggregation, norm)
        total = total + kl_coef * kl_value
    entropy_value = torch.zeros((), dtype=logprobs.dtype)
    if entropy is not None:
        entropy_value = aggregate(entropy, mask, aggregation, norm)
        total = total - entropy_coef * entropy_value
    with torch.no_grad():
        m = mask.bool()
        clipped_tokens = (clipped > unclipped) & m
        count = m.sum().clamp_min(1)
        clip_fraction = float(clipped_tokens.sum() / count)
        ratio_mean = float((ratio * m).sum() / count)
    return LossOutput(
        loss=total,
        policy_loss=float(policy.detach()),
        kl=float(kl_value.detach()),
        entropy=float(entropy_value.detach()),
        clip_fraction=clip_fraction,
        ratio_mean=ratio_mean,
    )
