"""Implicit process reward models trained online from outcomes only (PRIME and OPRL).

An implicit PRM is a causal LM ``pi_phi``; the reward of a token is a log-ratio
against a reference ``pi_ref`` (PRIME, Cui et al. 2025, arXiv:2502.01456, Sec. 3.1,
the implicit process reward; OPRL, Liu et al. 2025, arXiv:2509.19199, Sec. 3, the
implicit step reward)::

    r_phi(y_t) = beta * log( pi_phi(y_t | y_<t) / pi_ref(y_t | y_<t) )

**A turn's reward is the sum of its action tokens' rewards** (the tokens the policy
sampled in that turn; prompt and environment tokens get none). The sum, not the mean,
keeps the turn rewards of an episode adding up to the episode's log-ratio
``r_phi(tau) = beta * log(pi_phi(tau) / pi_ref(tau))`` that the objective trains, so a
turn's reward is exactly its share of the trajectory-level score (OPRL's step reward
is this sum over the step's tokens, its Eq. for ``r_phi(o_{1:t}, a_t)``).

Two objectives, chosen by ``objective``:

* ``"prime"`` - PRIME's cross-entropy on the outcome label (arXiv:2502.01456, Sec. 3.2,
  the implicit-PRM update ``L_CE``)::

      L_CE(phi) = -E_tau[ r_o * log sigmoid(r_phi(tau)) + (1 - r_o) * log(1 - sigmoid(r_phi(tau))) ]

  with ``r_o`` the episode's outcome clipped to [0, 1] (a soft label when it is not 0 or 1)
  and ``pi_ref`` the PRM's initial weights, frozen (the base with the PRM's adapter
  disabled, or a frozen copy).

* ``"oprl"`` - OPRL's trajectory-level DPO objective (arXiv:2509.19199, Sec. 3, ``J_PRM``)::

      J_PRM(phi) = -E_{(tau+, tau-)}[ log sigmoid( beta * log pi_phi(tau+)/pi_old(tau+)
                                                   - beta * log pi_phi(tau-)/pi_old(tau-) ) ]

  over every pair of episodes of one group (one task) whose outcomes differ, the better
  one as ``tau+``; ``pi_old`` is the policy that played the episodes (the trainer's
  policy before this step's update), as in the paper.

Both are trained on each step's fresh episodes, then score them (OPRL's order: its step
rewards come from "the currently updated PRM"; the trainer's ``process_reward.score_before_update``
scores with the PRM of the previous step instead). Each episode is scored
in one forward pass of its whole token sequence (the action tokens are read in place; no
branches are needed, unlike belief gain's packed probes), micro-batched like the policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from turngym.core.trajectory import EpisodeRecord

OBJECTIVES = ("prime", "oprl")


def prime_loss(episode_logratio: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """PRIME's cross-entropy ``L_CE`` (mean over episodes).

    ``episode_logratio[i] = log pi_phi(tau_i) - log pi_ref(tau_i)`` (summed over the
    episode's action tokens); ``labels[i]`` in [0, 1].

    >>> round(float(prime_loss(torch.tensor([0.0]), torch.tensor([1.0]), beta=1.0)), 4)  # -log(0.5)
    0.6931
    """
    return F.binary_cross_entropy_with_logits(beta * episode_logratio, labels)


def dpo_loss(chosen_logratio: torch.Tensor, rejected_logratio: torch.Tensor, beta: float) -> torch.Tensor:
    """OPRL's trajectory DPO loss ``-log sigmoid(beta * (chosen - rejected))`` (mean over pairs).

    ``chosen_logratio`` / ``rejected_logratio`` are ``log pi_phi(tau) - log pi_old(tau)`` of
    the preferred and the dispreferred episode of each pair.

    >>> round(float(dpo_loss(torch.tensor([2.0]), torch.tensor([0.0]), beta=0.5)), 4)  # -log sigmoid(1)
    0.3133
    """
    return -F.logsigmoid(beta * (chosen_logratio - rejected_logratio)).mean()


def outcome_label(record: EpisodeRecord) -> float:
    """The episode's outcome, or (when its environment gave none) the sum of its turn rewards."""
    return float(record.outcome) if record.outcome is not None else record.total_reward


def preference_pairs(records: Sequence[EpisodeRecord]) -> list[tuple[int, int]]:
    """``(better, worse)`` indices of every pair of one group whose outcomes differ.

    A group with outcomes (1, 0, 1) gives the pairs (0, 1) and (2, 1); a tied group gives none.
    """
    by_group: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        by_group.setdefault(record.group_id or record.task_id, []).append(i)
    pairs = []
    for members in by_group.values():
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1:]:
                oa, ob = outcome_label(records[a]), outcome_label(records[b])
                if oa > ob:
                    pairs.append((a, b))
                elif ob > oa:
                    pairs.append((b, a))
    return pairs


def sequence_logprobs(model: Any, sequences: Sequence[Sequence[int]], pad_id: int) -> torch.Tensor:
    """``[batch, longest]`` log p(token j | tokens < j) of each sequence (0 at j = 0 and on padding).

    One batched forward pass; gradients flow when enabled by the caller.
    """
    device = next(model.parameters()).device
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        attention[row, : len(seq)] = 1
    ids, attention = ids.to(device), attention.to(device)
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
    picked = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    picked = picked * attention[:, 1:]
    return torch.cat([picked.new_zeros((len(sequences), 1)), picked], dim=1).cpu()


def _turn_sums(values: torch.Tensor, records: Sequence[EpisodeRecord]) -> list[torch.Tensor]:
    """Per episode, a ``[turns]`` tensor: the sum of ``values`` over each turn's action tokens."""
    out = []
    for row, record in enumerate(records):
        sums = [values[row, start:end].sum() for start, end in record.loss_spans()]
        out.append(torch.stack(sums) if sums else values.new_zeros(0))
    return out


@dataclass
class PRMUpdate:
    """What one online update of the PRM did (logged as ``prm_*`` metrics)."""

    loss: float
    accuracy: float
    """PRIME: share of episodes whose ``sigmoid(r_phi(tau))`` is on the label's side of 0.5;
    OPRL: share of pairs with ``r_phi(tau+) > r_phi(tau-)`` (both before the update)."""
    examples: int
    """Episodes (PRIME) or pairs (OPRL) trained on; 0 means nothing to learn from (no update)."""
    grad_norm: float


class ImplicitPRM:
    """An implicit PRM trained online next to the policy (see the module docstring).

    Args:
        model: the PRM, a transformers causal LM over the policy's tokenizer (by default the
            trainer passes a copy of the policy's model: with LoRA, the base plus its own
            adapter). Its parameters that require grad are trained.
        pad_token_id: used to pad micro-batches (never scored).
        objective: ``"prime"`` or ``"oprl"``.
        reference: the model giving ``pi_ref``: PRIME's frozen initial PRM, OPRL's old policy.
            ``None`` with a peft ``model``: the model itself with its adapter disabled.
        beta: the log-ratio's scale.
        lr, betas, weight_decay, grad_clip: AdamW over the PRM's trainable parameters.
        epochs: passes over each step's episodes (one optimiser step per pass).
        micro_batch_episodes: episodes per forward pass.
    """

    def __init__(
        self,
        model: Any,
        pad_token_id: int,
        *,
        objective: str,
        reference: Any | None = None,
        beta: float = 0.05,
        lr: float = 1e-6,
        betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
        grad_clip: float = 1.0,
        epochs: int = 1,
        micro_batch_episodes: int = 4,
    ) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not (beta > 0 and math.isfinite(beta)):
            raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
        if reference is None and not hasattr(model, "disable_adapter"):
            raise ValueError("reference: give the reference model (the PRM has no adapter to disable)")
        self.model = model
        self.pad_token_id = pad_token_id
        self.objective = objective
        self.reference = reference
        self.beta = float(beta)
        self.grad_clip = grad_clip
        self.epochs = epochs
        self.micro_batch_episodes = micro_batch_episodes
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        if not self.trainable:
            raise ValueError("the PRM has no trainable parameters")
        self.optimizer = torch.optim.AdamW(self.trainable, lr=lr, betas=betas, weight_decay=weight_decay)

    # ----- scoring --------------------------------------------------------------------------

    def _chunks(self, n: int) -> Iterator[list[int]]:
        for start in range(0, n, self.micro_batch_episodes):
            yield list(range(start, min(n, start + self.micro_batch_episodes)))

    def _reference_context(self) -> AbstractContextManager[Any]:
        return self.model.disable_adapter() if self.reference is None else nullcontext()

    @torch.no_grad()
    def _reference_turns(self, records: Sequence[EpisodeRecord]) -> list[torch.Tensor]:
        model = self.model if self.reference is None else self.reference
        was_training = model.training
        model.eval()
        out: list[torch.Tensor] = []
        try:
            with self._reference_context():
                for rows in self._chunks(len(records)):
                    chunk = [records[i] for i in rows]
                    values = sequence_logprobs(model, [r.token_ids() for r in chunk], self.pad_token_id)
                    out.extend(_turn_sums(values, chunk))
        finally:
            model.train(was_training)
        return out

    def _prm_turns(self, records: Sequence[EpisodeRecord]) -> list[torch.Tensor]:
        values = sequence_logprobs(self.model, [r.token_ids() for r in records], self.pad_token_id)
        return _turn_sums(values, records)

    def turn_logratios(self, records: Sequence[EpisodeRecord]) -> list[np.ndarray]:
        """Per episode, ``log pi_phi - log pi_ref`` summed over each turn's action tokens."""
        _check_tokens(records)
        reference = self._reference_turns(records)
        out = []
        self.model.eval()
        with torch.no_grad():
            for rows in self._chunks(len(records)):
                chunk = [records[i] for i in rows]
                for i, turns in zip(rows, self._prm_turns(chunk)):
                    out.append((turns - reference[i]).double().numpy())
        return out

    def turn_rewards(self, records: Sequence[EpisodeRecord]) -> list[list[float]]:
        """Per episode, each turn's implicit process reward ``beta * sum log-ratio`` (no grad)."""
        return [(self.beta * ratios).tolist() for ratios in self.turn_logratios(records)]

    # ----- the online update --------------------------------------------------------------------

    def update(self, records: Sequence[EpisodeRecord]) -> PRMUpdate:
        """Train on one step's episodes with the objective: ``epochs`` optimiser steps."""
        _check_tokens(records)
        reference = [t.sum() for t in self._reference_turns(records)]
        result = PRMUpdate(loss=0.0, accuracy=0.0, examples=0, grad_norm=0.0)
        if self.objective == "prime":
            labels = torch.tensor([min(1.0, max(0.0, outcome_label(r))) for r in records])
            units: list[list[int]] = list(self._chunks(len(records)))
            examples = len(records)
        else:
            pairs = preference_pairs(records)
            if not pairs:
                return result  # every group tied: no preference to learn from
            units = self._pair_units(records, pairs)
            examples = len(pairs)
        self.model.train()
        for epoch in range(self.epochs):
            self.optimizer.zero_grad(set_to_none=True)
            losses, right = 0.0, 0.0
            for rows in units:
                chunk = [records[i] for i in rows]
                ratio = {i: turns.sum() - reference[i] for i, turns in zip(rows, self._prm_turns(chunk))}
                if self.objective == "prime":
                    logits = torch.stack([ratio[i] for i in rows])
                    target = labels[rows]
                    loss = prime_loss(logits, target, self.beta)
                    weight = len(rows) / examples
                    right += float(((logits > 0).float() == (target > 0.5).float()).sum())
                else:
                    mine = [(a, b) for a, b in pairs if a in ratio and b in ratio]
                    chosen = torch.stack([ratio[a] for a, _ in mine])
                    rejected = torch.stack([ratio[b] for _, b in mine])
                    loss = dpo_loss(chosen, rejected, self.beta)
                    weight = len(mine) / examples
                    right += float((chosen > rejected).float().sum())
                (loss * weight).backward()
                losses += float(loss.detach()) * weight
            max_norm = self.grad_clip if self.grad_clip > 0 else float("inf")
            norm = torch.nn.utils.clip_grad_norm_(self.trainable, max_norm)
            if torch.isfinite(norm):
                self.optimizer.step()
            else:
                self.optimizer.zero_grad(set_to_none=True)
            if epoch == 0:
                result = PRMUpdate(loss=losses, accuracy=right / examples, examples=examples,
                                   grad_norm=float(norm))
        self.model.eval()
        return result

    def _pair_units(self, records: Sequence[EpisodeRecord], pairs: list[tuple[int, int]]) -> list[list[int]]:
        """Whole groups per forward pass (a pair never spans two micro-batches)."""
        groups: dict[str, list[int]] = {}
        paired = {i for pair in pairs for i in pair}
        for i, record in enumerate(records):
            if i in paired:
                groups.setdefault(record.group_id or record.task_id, []).append(i)
        units: list[list[int]] = []
        for members in groups.values():
            if units and len(units[-1]) + len(members) <= self.micro_batch_episodes:
                units[-1].extend(members)
            else:
                units.append(list(members))
        return units

    # ----- checkpoints --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The PRM's trainable weights and its optimiser (what a checkpoint keeps)."""
        weights = {n: p.detach().cpu().clone() for n, p in self.model.named_parameters() if p.requires_grad}
        return {"weights": weights, "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`; a weight this PRM lacks raises ``CheckpointError``."""
        from turngym.trainers.checkpoint import load_weights

        load_weights(self.model, state["weights"], "(process reward model)")
        self.optimizer.load_state_dict(state["optimizer"])


def _check_tokens(records: Sequence[EpisodeRecord]) -> None:
    for record in records:
        if not record.prompt_ids:
            raise ValueError(
                f"episode {record.episode_id!r} has no token ids; an implicit PRM scores records from the "
                "token-level rollout collector (turngym.rollout.collect)"
            )


def with_process_rewards(
    batch: Any, process: Sequence[Sequence[float]], *, weight: float, combine: str
) -> Any:
    """A copy of ``batch`` (a :class:`~turngym.trainers.advantages.TurnBatch` from
    :func:`~turngym.trainers.batching.turn_batch`) with process rewards added to its turn rewards.

    ``process[e][t]`` follows the batch's episode-major row order. ``combine="add"``:
    ``r_t + weight * p_t`` on every turn; ``"nonfinal"``: the same except on each episode's
    last turn, which keeps the environment's reward alone, so an estimator that reads the
    outcome off the last turn (``mt_grpo`` with ``episode_term: outcome``) sees it unmixed and
    the process rewards reach only its turn-level term (OPRL's A = A^E(outcome) + A^S(step)).
    """
    from turngym.trainers.advantages import TurnBatch

    if combine not in ("add", "nonfinal"):
        raise ValueError(f"combine must be 'add' or 'nonfinal', got {combine!r}")
    flat = np.asarray([float(v) for per in process for v in per], dtype=np.float64)
    if flat.size != batch.rewards.size:
        raise ValueError(f"{flat.size} process rewards for {batch.rewards.size} turns")
    extra = weight * flat
    if combine == "nonfinal":
        last = np.zeros(flat.size, dtype=bool)
        position = 0
        for per in process:
            position += len(per)
            if per:
                last[position - 1] = True
        extra[last] = 0.0
    return TurnBatch(
        batch.group_ids, batch.episode_ids, batch.turn_index, batch.rewards + extra,
        anchors=batch.anchors, info_gain=batch.info_gain, entropy=batch.entropy,
    )


def build_prm(
    policy_model: Any, pad_token_id: int, *, objective: str, beta: float, lr: float, epochs: int,
    grad_clip: float, micro_batch_episodes: int, prm_model: Any | None = None,
) -> ImplicitPRM:
    """The PRM: ``prm_model`` (any causal LM over the policy's tokenizer) or, by default, a copy of
    the policy's model (its own adapter when the policy has LoRA).

    PRIME's reference is the PRM's initial state (the base with the PRM's adapter disabled, or a
    frozen copy); OPRL's is the live policy (``pi_theta_old`` while the PRM trains).
    """
    import copy

    make: Callable[[Any], Any] = copy.deepcopy
    model = make(policy_model) if prm_model is None else prm_model
    model.eval()
    peft = hasattr(model, "disable_adapter") and hasattr(model, "peft_config")
    if objective == "oprl":
        reference = policy_model
    elif peft:
        reference = None
    else:
        reference = make(model).eval().requires_grad_(False)
    return ImplicitPRM(
        model, pad_token_id, objective=objective, reference=reference, beta=beta, lr=lr,
        grad_clip=grad_clip, epochs=epochs, micro_batch_episodes=micro_batch_episodes,
    )
