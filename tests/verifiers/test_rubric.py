"""Verifiers compose with weights: on recorded episodes, and around a live environment without
subclassing it."""

from __future__ import annotations

import pytest

from tests.toy_envs import GuessNumberEnv
from tests.verifiers.conftest import guess_episodes
from turngym.verifiers.checklist import Checklist, RuleCriterionJudge
from turngym.verifiers.rubric import Judgement, OutcomeScore, Rubric, RubricReward, SignalScore, turn_contexts


def test_weighted_sum_of_verifiers_per_turn():
    records = guess_episodes(guesses=(8, 4, 5))  # closer 1, 1, 1; outcome 1 on the last turn
    said_four = RuleCriterionJudge({"tag": lambda c: c.action.startswith("<guess>4")})
    tagged = Checklist(said_four, criteria=["tag"])
    rubric = Rubric([(1.0, OutcomeScore()), (0.25, SignalScore("closer")), (-0.5, tagged)])
    assert rubric.annotate(records) == [[0.25, 0.25 - 0.5, 1.25]]
    assert records[0].turns[2].info["rubric"]["judgements"]["outcome"]["score"] == 1.0
    assert "outcome" not in records[0].turns[0].info["rubric"]["judgements"]


def test_turn_contexts_rebuild_the_conversation():
    contexts = turn_contexts(guess_episodes(guesses=(8, 4, 5))[0])
    assert [c.action for c in contexts] == ["<guess>8</guess>", "<guess>4</guess>", "<guess>5</guess>"]
    assert [c.last for c in contexts] == [False, False, True] and contexts[2].outcome == 1.0
    assert contexts[1].history[-2] == {"role": "assistant", "content": "<guess>8</guess>"}
    assert contexts[2].transcript()[-1]["content"] == "Correct!"


def test_an_environment_gains_a_rubric_reward_without_subclassing():
    rubric = Rubric([(0.5, SignalScore("closer")), (1.0, OutcomeScore())])
    records = guess_episodes(guesses=(8, 4, 5), env=lambda: RubricReward(GuessNumberEnv(), rubric))
    turns = records[0].turns
    assert [t.reward for t in turns] == [0.5, 0.5, 1.0 + 0.5 + 1.0]  # env reward 1 on success, plus rubric
    assert turns[0].signals["rubric/closer"] == 1.0 and "rubric/outcome" in turns[2].signals
    assert turns[2].info["rubric"]["reward"] == 1.5
    replaced = guess_episodes(guesses=(8, 4, 5),
                              env=lambda: RubricReward(GuessNumberEnv(), rubric, replace=True))
    assert [t.reward for t in replaced[0].turns] == [0.5, 0.5, 1.5]


class Broken:
    name, level = "broken", "turn"

    def judge(self, context):
        return Judgement(None, "could not say")


def test_missing_scores_add_nothing_and_are_listed():
    result = Rubric([(1.0, Broken()), (1.0, SignalScore("closer"))]).score(guess_episodes())[0]
    assert [r.reward for r in result] == [1.0, 1.0, 1.0] and result[0].missing == ["broken"]
    assert SignalScore("nope").judge(turn_contexts(guess_episodes()[0])[0]).missing


def test_bad_rubrics_are_refused():
    with pytest.raises(ValueError, match="two verifiers are named 'closer'"):
        Rubric([(1.0, SignalScore("closer")), (2.0, SignalScore("closer"))])
    with pytest.raises(ValueError, match="weight must be a finite number"):
        Rubric([(float("nan"), OutcomeScore())])
    with pytest.raises(TypeError, match="has no name, level and judge"):
        Rubric([(1.0, "outcome")])
    with pytest.raises(ValueError, match="at least one"):
        Rubric([])
