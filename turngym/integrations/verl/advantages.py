"""turngym's estimators in verl's advantage registry (``algorithm.adv_estimator=turngym_<name>``).

What reaches an estimator registered with ``verl.trainer.ppo.core_algos.register_adv_est``
in verl 0.9.1 (``verl.trainer.ppo.ray_trainer.compute_advantage``, which the v1 trainer
calls too) is ``token_level_rewards`` and ``response_mask`` (batch x response tokens),
``config`` (``algorithm``) and ``index`` (the ``uid`` of each row: rows of one prompt share
it). The batch's non-tensor data is *not* passed (verl does so only for its own ``gdpo``),
and verl puts the episode's scalar reward at the last response token. So the estimators
here read:

- the turns from ``response_mask``: each run of 1s is one turn's action tokens (the agent
  loop masks the environment's tokens with 0);
- the groups from ``index``;
- per-turn rewards from ``token_level_rewards`` summed over each turn (its action tokens and
  the environment tokens that follow), which with the scalar at the end gives the default
  turngym reward (the outcome on the last turn, 0 before);
- anchors and the environment's own per-turn rewards from the agent loop's turn data
  (``non_tensor_batch["turngym"]``) *when the caller passes it* as ``non_tensor_batch``:
  :func:`compute_turngym_advantage` does, for a trainer that overrides its advantage step.
  Estimators that need anchors (``gigpo``) or belief gain (``igpo``, ``a2tgpo``) raise,
  saying so, when it is missing.

Each turn's advantage is written on its action tokens; environment tokens get 0.
``returns`` equal the advantages (as in verl's GRPO).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

from turngym.trainers.advantages import TREE_ESTIMATORS, TurnBatch, estimate, list_estimators

TURN_DATA_KEY = "turngym"
"""Key of the agent loop's per-episode turn data in ``extra_fields`` / ``non_tensor_batch``."""

PREFIX = "turngym_"


def turn_spans(response_mask: Sequence[int] | torch.Tensor) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` of each run of 1s in one row's response mask (one per turn)."""
    mask = np.asarray(response_mask.tolist() if isinstance(response_mask, torch.Tensor) else response_mask)
    flags = np.concatenate([[0], (mask > 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(flags))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def turngym_advantages(
    estimator: str,
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Sequence[Any] | np.ndarray | None,
    turn_data: Sequence[Any] | None = None,
    **params: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token advantages and returns from turngym's ``estimator`` (see the module docstring).

    Args:
        estimator: a turngym estimator name (``turngym.trainers.advantages.list_estimators()``).
        token_level_rewards: ``(batch, response_length)`` rewards.
        response_mask: ``(batch, response_length)``, 1 on the policy's tokens.
        index: one group id per row (verl's ``uid``).
        turn_data: one entry per row, the agent loop's ``non_tensor_batch["turngym"]``
            (anchors, per-turn rewards), or ``None``.
        params: the estimator's parameters.
    """
    if index is None:
        raise ValueError(f"{PREFIX}{estimator}: verl passed no index (uid); turngym's estimators compare "
                         "the episodes of one prompt and need it")
    rows, _ = response_mask.shape
    if len(index) != rows or (turn_data is not None and len(turn_data) != rows):
        raise ValueError(f"{PREFIX}{estimator}: {rows} rows but {len(index)} index entries"
                         + (f" and {len(turn_data)} turn-data entries" if turn_data is not None else ""))
    rewards_np = token_level_rewards.detach().to(torch.float64).cpu().numpy()
    groups, episodes, turns, rewards, anchors = [], [], [], [], []
    spans_per_row: list[list[tuple[int, int]]] = []
    for row in range(rows):
        spans = turn_spans(response_mask[row])
        spans_per_row.append(spans)
        data = _row_data(turn_data, row)
        if data is not None and len(data["turns"]) != len(spans):
            raise ValueError(
                f"row {row}: the response mask has {len(spans)} turns but the agent loop recorded "
                f"{len(data['turns'])}; the turn data does not belong to this row"
            )
        ends = [s for s, _ in spans[1:]] + [rewards_np.shape[1]]
        row_rewards = [float(rewards_np[row, start:end].sum()) for (start, _), end in zip(spans, ends)]
        if data is not None and spans:
            # The environment's own per-turn rewards; whatever verl added (a KL penalty, a reward
            # model) stays on the last turn, where verl put it.
            own = [float(t["reward"]) for t in data["turns"]]
            row_rewards = [*own[:-1], float(rewards_np[row].sum()) - sum(own[:-1])]
        for t, reward in enumerate(row_rewards):
            groups.append(str(index[row]))
            episodes.append(row)
            turns.append(t)
            rewards.append(reward)
            anchors.append(str(data["turns"][t].get("anchor", "")) if data is not None else None)
    advantages = torch.zeros_like(token_level_rewards, dtype=torch.float32)
    if turns:
        batch = TurnBatch(
            np.asarray(groups, dtype=object), np.asarray(episodes), np.asarray(turns), np.asarray(rewards),
            anchors=np.asarray(anchors, dtype=object) if turn_data is not None else None,
        )
        per_turn = np.asarray(estimate(estimator, batch, **params).advantages, dtype=np.float64)
        k = 0
        for row, spans in enumerate(spans_per_row):
            for start, end in spans:
                advantages[row, start:end] = float(per_turn[k])
                k += 1
    advantages = advantages * response_mask.to(advantages.dtype)
    return advantages, advantages.clone()


def _row_data(turn_data: Sequence[Any] | None, row: int) -> Mapping[str, Any] | None:
    if turn_data is None:
        return None
    data = turn_data[row]
    if not isinstance(data, Mapping) or not isinstance(data.get("turns"), list):
        raise ValueError(f"row {row}: turn data must be the agent loop's {{'turns': [...]}}, "
                         f"got {data!r:.80}")
    return data


def register_turngym_estimator(verl_name: str, estimator: str, **params: Any) -> Any:
    """Register turngym's ``estimator`` (with fixed ``params``) in verl under ``verl_name``.

    ``register_turngym_estimator("gigpo_w05", "gigpo", omega=0.5)`` then
    ``algorithm.adv_estimator=gigpo_w05``. The function verl calls reads turn data from a
    ``non_tensor_batch`` keyword when given (see the module docstring).
    """
    if estimator not in list_estimators():
        raise ValueError(f"unknown turngym estimator {estimator!r}; accepted: {', '.join(list_estimators())}")

    def verl_estimator(
        token_level_rewards: torch.Tensor,
        response_mask: torch.Tensor,
        config: Any = None,
        index: Any = None,
        non_tensor_batch: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        turn_data = None if non_tensor_batch is None else non_tensor_batch.get(TURN_DATA_KEY)
        return turngym_advantages(estimator, token_level_rewards, response_mask, index, turn_data, **params)

    verl_estimator.__name__ = verl_estimator.__qualname__ = f"turngym_{estimator}_estimator"
    if verl_name in ADV_ESTIMATOR_REGISTRY:  # re-registration (a module imported twice) replaces it
        del ADV_ESTIMATOR_REGISTRY[verl_name]
    return register_adv_est(verl_name)(verl_estimator)


def compute_turngym_advantage(data: Any, estimator: str, **params: Any) -> Any:
    """Fill ``data.batch["advantages"]``/``["returns"]`` of a verl ``DataProto`` with turngym's
    ``estimator``, reading the agent loop's turn data (anchors, per-turn rewards) from
    ``data.non_tensor_batch`` (for a trainer that overrides its advantage step)."""
    advantages, returns = turngym_advantages(
        estimator, data.batch["token_level_rewards"], data.batch["response_mask"],
        data.non_tensor_batch["uid"], data.non_tensor_batch.get(TURN_DATA_KEY), **params,
    )
    data.batch["advantages"] = advantages
    data.batch["returns"] = returns
    return data


for _name in list_estimators():
    if _name not in TREE_ESTIMATORS:  # they need node ids of tree rollouts, which verl's batches lack
        register_turngym_estimator(PREFIX + _name, _name)
