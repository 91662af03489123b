"""From trajectory records to what the estimators and the loss consume.

Two views of one step's episodes:

- :func:`turn_batch` - one row per turn (group, episode, turn index, reward,
  anchor, belief gain, entropy) for the advantage estimators;
- :func:`token_tensors` - one row per episode of padded per-token tensors
  (token ids, the policy-token mask from the records' spans, rollout
  log-probs, each token's turn advantage and clip range) for the loss.

Both come from the records' own bookkeeping; nothing is re-tokenised and no
template marker is searched for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from turngym.core.trajectory import EpisodeRecord
from turngym.rollout.branching import tree_node_ids
from turngym.trainers.advantages import TurnBatch


def trainable(records: Sequence[EpisodeRecord]) -> list[EpisodeRecord]:
    """Episodes a loss can use: finished normally, with at least one sampled token."""
    return [r for r in records if r.status == "ok" and any(t.action_ids for t in r.turns)]


def turn_batch(
    records: Sequence[EpisodeRecord],
    *,
    info_gain: Sequence[Sequence[float]] | None = None,
    entropy: Sequence[Sequence[float]] | None = None,
) -> TurnBatch:
    """One row per turn of ``records`` (episode-major, turns in order).

    ``info_gain[e][t]`` / ``entropy[e][t]``, when given, are per turn of episode ``e``. Records
    grown as trees (:func:`turngym.rollout.branching.grow_tree`: ``metadata["tree"]["node_ids"]``)
    give the batch its ``node_ids`` (what ``tempo`` and ``tree_step`` read); flat records give
    none, and a mix of the two raises ``ValueError``.
    """
    groups, episodes, turns, rewards, anchors = [], [], [], [], []
    for record in records:
        for turn in record.turns:
            groups.append(record.group_id or record.task_id)
            episodes.append(record.episode_id)
            turns.append(turn.index)
            rewards.append(turn.reward)
            anchors.append(turn.anchor)
    flat_ig = _flatten(info_gain, records, "info_gain")
    flat_entropy = _flatten(entropy, records, "entropy")
    return TurnBatch(
        group_ids=np.asarray(groups, dtype=object),
        episode_ids=np.asarray(episodes, dtype=object),
        turn_index=np.asarray(turns, dtype=np.int64),
        rewards=np.asarray(rewards, dtype=np.float64),
        anchors=np.asarray(anchors, dtype=object),
        info_gain=flat_ig,
        entropy=flat_entropy,
        node_ids=_node_ids(records),
    )


def _node_ids(records: Sequence[EpisodeRecord]) -> np.ndarray | None:
    """The tree node of every turn (node ids are paths from the root, unique within a group)."""
    per_record = [tree_node_ids(r) for r in records]
    if all(nodes is None for nodes in per_record):
        return None
    flat: list[str] = []
    for record, nodes in zip(records, per_record):
        if nodes is None:
            raise ValueError(
                f"episode {record.episode_id}: tree and flat records in one batch (it has no tree node "
                "ids, others have); a step's records are either all grown as trees or all flat"
            )
        flat.extend(str(n) for n in nodes)
    return np.asarray(flat, dtype=object)


def _flatten(
    values: Sequence[Sequence[float]] | None, records: Sequence[EpisodeRecord], name: str
) -> np.ndarray | None:
    if values is None:
        return None
    if len(values) != len(records):
        raise ValueError(f"{name}: {len(values)} episodes of values for {len(records)} records")
    flat: list[float] = []
    for record, per_turn in zip(records, values):
        if len(per_turn) != len(record.turns):
            raise ValueError(
                f"{name}: episode {record.episode_id} has {len(record.turns)} turns but "
                f"{len(per_turn)} values"
            )
        flat.extend(float(v) for v in per_turn)
    return np.asarray(flat, dtype=np.float64)


@dataclass
class TokenTensors:
    """Padded ``[episodes, longest]`` tensors for the loss (see the module docstring)."""

    sequences: list[list[int]]
    mask: torch.Tensor
    old_logprobs: torch.Tensor
    advantages: torch.Tensor
    clip: torch.Tensor | None
    turn_of_token: torch.Tensor

    def select(self, rows: Sequence[int]) -> TokenTensors:
        """The same tensors for a subset of episodes, re-padded to their own longest."""
        width = max(len(self.sequences[i]) for i in rows)
        index = torch.as_tensor(list(rows), dtype=torch.long)
        return TokenTensors(
            sequences=[self.sequences[i] for i in rows],
            mask=self.mask[index, :width],
            old_logprobs=self.old_logprobs[index, :width],
            advantages=self.advantages[index, :width],
            clip=None if self.clip is None else self.clip[index, :width],
            turn_of_token=self.turn_of_token[index, :width],
        )


def token_tensors(
    records: Sequence[EpisodeRecord],
    turn_advantages: np.ndarray,
    turn_clip: np.ndarray | None = None,
) -> TokenTensors:
    """Spread per-turn advantages (and clip ranges) over each turn's sampled tokens.

    ``turn_advantages`` is in :func:`turn_batch` row order. A token's log-prob at
    position ``j`` of an episode's sequence is aligned with
    :meth:`turngym.agents.hf_policy.HFPolicy.token_logprobs` (log p(token j | < j)).
    """
    sequences = [r.token_ids() for r in records]
    width = max(len(s) for s in sequences)
    shape = (len(records), width)
    mask = torch.zeros(shape)
    old = torch.zeros(shape)
    advantages = torch.zeros(shape)
    clip = torch.zeros(shape) if turn_clip is not None else None
    turn_of_token = torch.full(shape, -1, dtype=torch.long)
    row = 0
    for e, record in enumerate(records):
        for turn, (start, end) in zip(record.turns, record.loss_spans()):
            if end > start:
                if len(turn.action_logprobs) != end - start:
                    raise ValueError(
                        f"episode {record.episode_id} turn {turn.index}: {len(turn.action_logprobs)} "
                        f"rollout log-probs for {end - start} action tokens"
                    )
                mask[e, start:end] = 1.0
                old[e, start:end] = torch.tensor(turn.action_logprobs)
                advantages[e, start:end] = float(turn_advantages[row])
                if clip is not None and turn_clip is not None:
                    clip[e, start:end] = float(turn_clip[row])
                turn_of_token[e, start:end] = row
            row += 1
    if row != len(turn_advantages):
        raise ValueError(f"{len(turn_advantages)} turn advantages for {row} turns")
    return TokenTensors(sequences, mask, old, advantages, clip, turn_of_token)
