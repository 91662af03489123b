"""Packed belief-gain scoring equals turn-by-turn scoring."""

from __future__ import annotations

import numpy as np
import pytest

from tests.toy_envs import GuessNumberEnv
from turngym.agents.policy import SamplingParams
from turngym.rollout import collect
from turngym.verifiers.info_gain import BeliefGainScorer


@pytest.fixture
def episode(tiny_policy):
    records = collect(
        lambda: GuessNumberEnv(max_turns=5, max_invalid_turns=10), tiny_policy,
        [{"options": {"task_id": "n-9"}}],
        sampling=SamplingParams(max_new_tokens=6, seed=1), progress=False,
    )
    return records[0]


def test_packed_equals_turn_by_turn(tiny_policy, episode):
    scorer = BeliefGainScorer(tiny_policy.model, tiny_policy.tokenizer)
    packed, reference = scorer.score(episode), scorer.score_per_turn(episode)
    assert len(packed.p) == len(episode.turns) + 1 == 6
    np.testing.assert_allclose(packed.p, reference.p, atol=1e-4, rtol=0)
    np.testing.assert_allclose(packed.logp, reference.logp, atol=1e-4, rtol=0)
    np.testing.assert_allclose(packed.gains, np.diff(packed.p), atol=1e-12)
    assert np.all((packed.p > 0) & (packed.p < 1)) and np.ptp(packed.p) > 0


def test_several_answers_take_the_max_and_logprob_variant(tiny_policy, episode):
    for turn in episode.turns:
        turn.probe = {**turn.probe, "answers": ["9", "nine"], "answer_suffix": "</guess>"}
    episode.metadata["opening_probe"] = episode.turns[0].probe
    both = BeliefGainScorer(tiny_policy.model, tiny_policy.tokenizer, variant="logprob", score_suffix=True)
    packed, reference = both.score(episode), both.score_per_turn(episode)
    np.testing.assert_allclose(packed.logp, reference.logp, atol=1e-4, rtol=0)
    np.testing.assert_allclose(packed.gains, np.diff(packed.logp), atol=1e-12)
    for turn in episode.turns:
        turn.probe = {**turn.probe, "answers": ["nine"]}
    episode.metadata["opening_probe"] = episode.turns[0].probe
    only = both.score(episode)
    assert np.all(packed.logp >= only.logp - 1e-6)


def test_smollm2_packed_matches(smollm2):
    records = collect(
        lambda: GuessNumberEnv(max_turns=3), smollm2, [{"options": {"task_id": "n-5"}}],
        sampling=SamplingParams(max_new_tokens=10, seed=0, stop=("</guess>",)), progress=False,
    )
    scorer = BeliefGainScorer(smollm2.model, smollm2.tokenizer)
    np.testing.assert_allclose(scorer.score(records[0]).p, scorer.score_per_turn(records[0]).p, atol=1e-4)


def test_missing_probe_and_tokens_are_clear_errors(tiny_policy, episode):
    scorer = BeliefGainScorer(tiny_policy.model, tiny_policy.tokenizer)
    episode.metadata.pop("opening_probe", None)
    for turn in episode.turns:
        turn.probe = None
    with pytest.raises(ValueError, match="no probe"):
        scorer.score(episode)
    episode.prompt_ids = []
    with pytest.raises(ValueError, match="no token ids"):
        scorer.score(episode)
