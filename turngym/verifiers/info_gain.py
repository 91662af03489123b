"""Belief gain (IGPO): how much each turn raised the policy's belief in the reference answer.

For an episode of T turns, ``p_t`` (t = 0..T) is the policy's probability of
the reference answer given the conversation after turn t: the token stream up
to the end of turn t's environment reply (for t = 0, the opening prompt) — the
prompt the policy would see at turn t+1, ending with the generation prompt —
followed by the probe's ``forcing_prefix`` and the answer. ``p_t =
exp(mean log-prob of the answer's tokens)``; with several reference answers the
**max** over answers is taken (the policy believes the answer if it believes
any accepted form of it). The turn's gain is ``IG_t = p_t - p_{t-1}`` (t =
1..T), or with ``variant="logprob"`` the difference of the mean log-probs.

All T+1 probes are scored in ONE forward pass: the episode's token stream is
laid out once, and every (turn, answer) branch is packed after it. A 4D
attention mask lets each branch attend only to its own context prefix and to
itself (causally), and its position ids continue from its cut point, so each
branch computes exactly what a separate forward pass over ``context[:cut] +
branch`` would. :meth:`BeliefGainScorer.score_per_turn` is that turn-by-turn
reference (one pass per turn), kept for tests and benchmarks.

The scorer takes a transformers causal LM and its tokenizer (e.g.
``policy.model`` and ``policy.tokenizer`` of an ``HFPolicy``); it never
imports an agent. The episode is a :class:`~turngym.core.trajectory.EpisodeRecord`
with token ids (from the rollout collector); probes come from its turns
(``turn.probe``) and, for t = 0, ``metadata["opening_probe"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from turngym.core.fallbacks import warn_once
from turngym.core.trajectory import EpisodeRecord
from turngym.verifiers import block_attention
from turngym.verifiers.block_attention import LAYOUT_KEYWORD


@dataclass
class BeliefScores:
    """``p[t]`` and ``logp[t]`` for t = 0..T (after reducing over answers); ``gains[t-1]`` = IG_t."""

    p: np.ndarray
    logp: np.ndarray
    gains: np.ndarray


@dataclass(frozen=True)
class _Branch:
    cut: int  # context tokens the branch sees
    turn: int
    ids: list[int]  # forcing prefix + answer (+ suffix)
    scored: tuple[int, int]  # [start, end) of the scored tokens within ids


class BeliefGainScorer:
    """Scores belief gain for episodes (see the module docstring).

    Args:
        model: a transformers causal LM (sdpa or eager attention: they accept a 4D mask).
        tokenizer: its tokenizer.
        variant: ``"prob"`` (IG = p_t - p_{t-1}) or ``"logprob"`` (difference of mean log-probs).
        score_suffix: also score the probe's ``answer_suffix`` tokens (which tells "7" from "7..."
            apart); by default only the answer's tokens are scored.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        variant: Literal["prob", "logprob"] = "prob",
        score_suffix: bool = False,
    ) -> None:
        if variant not in ("prob", "logprob"):
            raise ValueError(f"variant must be 'prob' or 'logprob', got {variant!r}")
        attention = str(getattr(model.config, "_attn_implementation", "sdpa"))
        if attention.startswith("flash"):
            raise ValueError(
                f"attention implementation {attention!r} takes no 4D mask; load the model with "
                "attn_implementation='sdpa' or 'eager' for packed belief scoring"
            )
        self.model = model
        self.tokenizer = tokenizer
        # sdpa models take the packed pass's context causally instead of through the dense mask
        self._block_attention = attention == "sdpa" and block_attention.install()
        if attention == "sdpa" and not self._block_attention:
            import transformers

            warn_once(
                "block_attention",
                f"transformers {transformers.__version__}: the 'sdpa' entry of "
                "AttentionInterface._global_mapping is missing or replaced by someone else, so packed "
                "belief scoring attends through the dense 4D mask (same result, slower on long contexts).",
            )
        self.variant = variant
        self.score_suffix = score_suffix

    # ----- the packed pass -------------------------------------------------------------------

    @torch.no_grad()
    def score(self, episode: EpisodeRecord) -> BeliefScores:
        """p_0..p_T and IG_1..IG_T of one episode, in one forward pass."""
        context, branches = self._layout(episode)
        device = next(self.model.parameters()).device
        length = len(context)
        total = length + sum(len(b.ids) for b in branches)
        ids = torch.empty(total, dtype=torch.long)
        ids[:length] = torch.tensor(context)
        positions = torch.arange(total)
        allowed = torch.zeros((total, total), dtype=torch.bool)
        allowed[:length, :length] = torch.ones((length, length), dtype=torch.bool).tril()
        targets: list[tuple[int, int, int]] = []  # (branch index, row predicting it, token id)
        start = length
        for index, branch in enumerate(branches):
            n = len(branch.ids)
            end = start + n
            ids[start:end] = torch.tensor(branch.ids)
            positions[start:end] = torch.arange(branch.cut, branch.cut + n)
            allowed[start:end, : branch.cut] = True
            allowed[start:end, start:end] = torch.ones((n, n), dtype=torch.bool).tril()
            for k in range(*branch.scored):
                targets.append((index, start + k - 1 if k > 0 else branch.cut - 1, branch.ids[k]))
            start = end
        dtype = next(self.model.parameters()).dtype
        mask = torch.zeros((total, total), dtype=dtype)
        mask.masked_fill_(~allowed, torch.finfo(dtype).min)
        rows = sorted({row for _, row, _ in targets})
        mask = mask[None, None].to(device)
        out = self.model(
            input_ids=ids[None].to(device),
            attention_mask=mask,
            position_ids=positions[None].to(device),
            logits_to_keep=torch.tensor(rows, device=device),
            **({LAYOUT_KEYWORD: (length, mask[:, :, length:])} if self._block_attention else {}),
        )
        log_probs = torch.log_softmax(out.logits[0].float(), dim=-1)
        where = {row: i for i, row in enumerate(rows)}
        sums = [0.0] * len(branches)
        for index, row, token in targets:
            sums[index] += float(log_probs[where[row], token])
        means = [s / (b.scored[1] - b.scored[0]) for s, b in zip(sums, branches)]
        return self._reduce(branches, means, len(episode.turns))

    # ----- the reference: one pass per turn ----------------------------------------------

    @torch.no_grad()
    def score_per_turn(self, episode: EpisodeRecord) -> BeliefScores:
        """The same scores with one forward pass per (turn, answer): the way peers do it."""
        context, branches = self._layout(episode)
        device = next(self.model.parameters()).device
        means = []
        for branch in branches:
            sequence = context[: branch.cut] + branch.ids
            first, last = branch.scored
            keep = len(branch.ids) - first + 1  # logits for the rows predicting the scored tokens
            out = self.model(input_ids=torch.tensor([sequence], device=device), logits_to_keep=keep)
            log_probs = torch.log_softmax(out.logits[0].float(), dim=-1)
            offset = len(sequence) - keep  # row r of log_probs is position offset + r
            total = 0.0
            for k in range(first, last):
                total += float(log_probs[branch.cut + k - 1 - offset, branch.ids[k]])
            means.append(total / (last - first))
        return self._reduce(branches, means, len(episode.turns))

    # ----- shared bookkeeping ------------------------------------------------------------

    def _layout(self, episode: EpisodeRecord) -> tuple[list[int], list[_Branch]]:
        if not episode.prompt_ids:
            raise ValueError(
                f"episode {episode.episode_id!r} has no token ids; belief gain needs a record from the "
                "token-level rollout collector (turngym.rollout.collect)"
            )
        context = episode.token_ids()
        cuts = [len(episode.prompt_ids)]
        for turn in episode.turns:
            cuts.append(cuts[-1] + len(turn.action_ids) + len(turn.observation_ids))
        probes = [episode.metadata.get("opening_probe")] + [t.probe for t in episode.turns]
        branches: list[_Branch] = []
        for t, cut in enumerate(cuts):
            probe = probes[t] or next((p for p in probes if p), None)
            if not probe:
                raise ValueError(
                    f"episode {episode.episode_id!r} has no probe (info['probe']); its environment does "
                    "not support belief-gain scoring"
                )
            answers = probe.get("answers")
            if not isinstance(answers, Sequence) or isinstance(answers, str) or not answers:
                raise ValueError(f"episode {episode.episode_id!r}: probe answers must be a non-empty list")
            prefix = self._encode(str(probe.get("forcing_prefix", "")))
            suffix = self._encode(str(probe.get("answer_suffix") or "")) if self.score_suffix else []
            for answer in answers:
                answer_ids = self._encode(str(answer))
                if not answer_ids:
                    raise ValueError(
                        f"episode {episode.episode_id!r}: an empty reference answer cannot be scored"
                    )
                ids = prefix + answer_ids + suffix
                if cut == 0 and not prefix:
                    raise ValueError("an empty context needs a forcing prefix to score the answer after")
                branches.append(_Branch(cut, t, ids, (len(prefix), len(ids))))
        return context, branches

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    def _reduce(self, branches: list[_Branch], means: list[float], turns: int) -> BeliefScores:
        best = np.full(turns + 1, -np.inf)
        for branch, mean in zip(branches, means):
            best[branch.turn] = max(best[branch.turn], mean)
        p = np.exp(best)
        gains = np.diff(p) if self.variant == "prob" else np.diff(best)
        return BeliefScores(p=p, logp=best, gains=gains)


def belief_gains(scorer: BeliefGainScorer, episodes: Sequence[EpisodeRecord]) -> list[np.ndarray]:
    """IG_1..IG_T of each episode (one packed forward pass per episode)."""
    return [scorer.score(episode).gains for episode in episodes]
