"""Verifiers compose with weights: on recorded episodes, and around a live environment without
subclassing it."""

from __future__ import annotations

import json

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


def test_rubric_from_plain_data(judge_server, monkeypatch):
    from tests.verifiers.conftest import completion
    from turngym.verifiers.checklist import Checklist as ChecklistType
    from turngym.verifiers.llm_judge import LLMJudge
    from turngym.verifiers.rubric_spec import build_rubric

    monkeypatch.setenv("JUDGE_KEY", "secret")
    endpoint = {"model": "judge", "base_url": judge_server.url, "api_key_env": "JUDGE_KEY", "max_retries": 0}
    rubric = build_rubric([
        [1.0, "outcome"],
        [0.5, "signal", {"signal": "closer", "scale": 2.0}],
        [0.2, "llm_judge", {"rubric": "good guess?", "high": 5, **endpoint}],
        [0.3, "checklist", {"criteria": {"0": ["tagged"]}, **endpoint}],
    ])
    assert rubric.names == [(1.0, "outcome"), (0.5, "closer"), (0.2, "llm_judge"), (0.3, "checklist")]
    assert isinstance(rubric.items[2][1], LLMJudge) and isinstance(rubric.items[3][1], ChecklistType)
    judge_server.default = (200, completion('{"score": 5, "satisfied": true}'), 0)
    records = guess_episodes()
    assert rubric.annotate(records) == [[0.25 + 0.2 + 0.3, 0.25 + 0.2, 1.0 + 0.25 + 0.2]]
    assert all(h["Authorization"] == "Bearer secret" for h in judge_server.headers)
    assert "secret" not in json.dumps(records[0].to_dict())  # the key is never kept in the records
    with pytest.raises(ValueError, match=r"rubric\[0\]: unknown verifier kind 'bleu'; accepted: outcome"):
        build_rubric([[1.0, "bleu", {}]])
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['sigal'\] for 'signal'"):
        build_rubric([[1.0, "signal", {"sigal": "closer"}]])
    with pytest.raises(ValueError, match="api_key_env names 'NO_SUCH_KEY'"):
        build_rubric([[1.0, "llm_judge", {**endpoint, "rubric": "x", "api_key_env": "NO_SUCH_KEY"}]])
