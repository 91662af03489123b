"""PPO loss: hand-computed values for clipping, dual clip, KL and the aggregations."""

import math

import pytest
import torch

from turngym.trainers.loss import aggregate, kl_k3, ppo_loss


def test_clipping_by_hand():
    old = torch.zeros(1, 3)
    new = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))
    adv = torch.tensor([[1.0, -1.0, 2.0]])
    mask = torch.ones(1, 3)
    out = ppo_loss(new, old, adv, mask, clip_low=0.2)
    # token 1: ratio 1.5, A>0 -> min(1.5, 1.2)*1 = 1.2 -> loss -1.2
    # token 2: ratio 0.5, A<0 -> max(0.5, 0.8)... loss = max(0.5, 0.8) = 0.8
    # token 3: ratio 1.1 inside -> loss -2.2
    assert out.loss.item() == pytest.approx((-1.2 + 0.8 - 2.2) / 3, abs=1e-6)
    assert out.clip_fraction == pytest.approx(2 / 3)


def test_per_token_clip_ranges_and_asymmetric_high():
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[1.5, 1.5]]))
    adv = torch.ones(1, 2)
    out = ppo_loss(new, old, adv, torch.ones(1, 2), clip_low=torch.tensor([[0.1, 0.3]]))
    assert out.loss.item() == pytest.approx(-(1.1 + 1.3) / 2, abs=1e-6)
    out = ppo_loss(new, old, adv, torch.ones(1, 2), clip_low=0.2, clip_high=0.28)
    assert out.loss.item() == pytest.approx(-1.28, abs=1e-6)


def test_dual_clip_bounds_negative_advantages():
    old = torch.zeros(1, 1)
    new = torch.log(torch.tensor([[10.0]]))
    adv = torch.tensor([[-1.0]])
    plain = ppo_loss(new, old, adv, torch.ones(1, 1))
    dual = ppo_loss(new, old, adv, torch.ones(1, 1), dual_clip=3.0)
    assert plain.loss.item() == pytest.approx(10.0)
    assert dual.loss.item() == pytest.approx(3.0)


def test_mask_excludes_environment_tokens_from_loss_and_gradient():
    logits = torch.zeros(1, 4, requires_grad=True)
    new = logits * 1.0
    adv = torch.tensor([[1.0, 1.0, 5.0, 5.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    out = ppo_loss(new, torch.zeros(1, 4), adv, mask)
    out.loss.backward()
    assert logits.grad[0, 2:].abs().sum() == 0
    assert (logits.grad[0, :2] < 0).all()  # gradient raises log-probs of positive-advantage tokens


def test_aggregations_by_hand():
    values = torch.tensor([[1.0, 2.0, 0.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert aggregate(values, mask, "token_mean").item() == pytest.approx(7 / 3)
    assert aggregate(values, mask, "seq_mean_token_mean").item() == pytest.approx((1.5 + 4) / 2)
    assert aggregate(values, mask, "seq_mean_token_sum_norm", norm=10).item() == pytest.approx(0.35)
    for norm in (None, 0):  # no silent fallback to the padded width
        with pytest.raises(ValueError, match="needs a constant norm > 0"):
            aggregate(values, mask, "seq_mean_token_sum_norm", norm=norm)
    with pytest.raises(ValueError, match="accepted: token_mean"):
        aggregate(values, mask, "mean")


def test_kl_k3_is_zero_at_equality_and_positive_otherwise():
    a = torch.tensor([-1.0, -2.0])
    assert torch.allclose(kl_k3(a, a), torch.zeros(2))
    b = torch.tensor([-1.5, -1.0])
    expected = [math.exp(-0.5) + 0.5 - 1, math.exp(1.0) - 1.0 - 1]
    assert kl_k3(a, b).tolist() == pytest.approx(expected)
    out = ppo_loss(a[None], a[None], torch.zeros(1, 2), torch.ones(1, 2), ref_logprobs=b[None], kl_coef=0.5)
    assert out.kl == pytest.approx(sum(expected) / 2)
    assert out.loss.item() == pytest.approx(0.5 * sum(expected) / 2)


def test_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match="must share a shape"):
        ppo_loss(torch.zeros(1, 2), torch.zeros(1, 3), torch.zeros(1, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match="dual_clip must be > 1"):
        ppo_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2), dual_clip=1.0)


def test_sum_norm_loss_is_the_same_however_episodes_are_micro_batched():
    """The trainer weighs each micro-batch by its share of episodes; with a constant norm the sum
    equals the loss over all episodes at once, although each micro-batch is padded to its own width."""
    gen = torch.Generator().manual_seed(0)
    lengths = [3, 9, 5, 12, 7]
    n, width = len(lengths), max(lengths)
    mask = torch.zeros(n, width, dtype=torch.float64)
    for i, length in enumerate(lengths):
        mask[i, 1:length] = 1.0  # the first token is the prompt's
    logp = -torch.rand(n, width, generator=gen, dtype=torch.float64)
    old = logp + 0.2 * torch.randn(n, width, generator=gen, dtype=torch.float64)
    adv = torch.randn(n, width, generator=gen, dtype=torch.float64)
    ref = logp - 0.1 * torch.rand(n, width, generator=gen, dtype=torch.float64)
    entropy = torch.rand(n, width, generator=gen, dtype=torch.float64)

    def loss(rows, norm=None):
        rows = list(rows)
        cut = max(lengths[i] for i in rows)  # re-padded to this micro-batch's longest
        pick = [t[rows, :cut] for t in (logp, old, adv, mask, ref, entropy)]
        out = ppo_loss(*pick[:4], aggregation="seq_mean_token_sum_norm", ref_logprobs=pick[4], kl_coef=0.1,
                       entropy=pick[5], entropy_coef=0.01, norm=cut if norm is None else norm)
        return out.loss * len(rows) / n

    whole = loss(range(n), norm=24).item()
    for split in ([[0, 1], [2, 3, 4]], [[0], [1], [2], [3], [4]], [[3, 1], [0, 4, 2]]):
        assert sum(loss(rows, norm=24) for rows in split).item() == pytest.approx(whole, rel=1e-12, abs=0)
    padded = sum(loss(rows) for rows in ([0, 2], [1, 3, 4])).item()  # the old per-batch width
    assert padded != pytest.approx(loss(range(n)).item(), rel=1e-3)
