"""Checklist rewards (CM2): the share of a turn's binary criteria satisfied, each judged on its own,
with every criterion's verdict and evidence kept in the records."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

from tests.toy_envs import GuessNumberEnv
from tests.verifiers.conftest import completion, guess_episodes
from turngym.verifiers.checklist import Checklist, LLMCriterionJudge, RuleCriterionJudge, parse_criterion
from turngym.verifiers.llm_judge import JudgeClient, JudgeReplyError, JudgeWarning
from turngym.verifiers.rubric import Rubric

TAGGED = "the action is a <guess> tag"
IN_RANGE = "the guess is between 1 and 16"
MIDDLE = "the guess is the middle of the interval still possible"


def guessed(context):
    return int(context.action.removeprefix("<guess>").removesuffix("</guess>"))


RULES = RuleCriterionJudge({
    TAGGED: lambda c: (c.action.startswith("<guess>"), c.action),
    IN_RANGE: lambda c: 1 <= guessed(c) <= 16,
    MIDDLE: lambda c: (guessed(c) == 8, f"guessed {guessed(c)}, the middle is 8"),
})


def test_turn_reward_is_the_share_of_criteria_satisfied_with_evidence_kept():
    records = guess_episodes(guesses=(8, 4, 5))
    checklist = Checklist(RULES, criteria={0: [TAGGED, IN_RANGE, MIDDLE], 1: [TAGGED, MIDDLE], 2: [TAGGED]})
    rewards = Rubric([(1.0, checklist)]).annotate(records)
    assert rewards == [[1.0, 0.5, 1.0]]  # 3/3, then 1/2 (4 is not the middle), then 1/1
    kept = records[0].turns[1].info["rubric"]["judgements"]["checklist"]
    assert kept["reasoning"] == "1 of 2 criteria satisfied"
    assert kept["evidence"]["criteria"] == [
        {"criterion": TAGGED, "satisfied": True, "evidence": "<guess>4</guess>"},
        {"criterion": MIDDLE, "satisfied": False, "evidence": "guessed 4, the middle is 8"},
    ]
    json.dumps(records[0].to_dict(), allow_nan=False)  # the records still serialise


class ChecklistInInfo(gym.Wrapper):
    """An environment that states each turn's intended behaviour in ``info["checklist"]``."""

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return observation, reward, terminated, truncated, {**info, "checklist": [TAGGED, MIDDLE]}


def test_criteria_come_from_the_environment_by_default():
    records = guess_episodes(guesses=(8, 4, 5), env=lambda: ChecklistInInfo(GuessNumberEnv()))
    assert records[0].turns[0].info["checklist"] == [TAGGED, MIDDLE]
    assert Rubric([(2.0, Checklist(RULES))]).annotate(records) == [[2.0, 1.0, 1.0]]


def test_a_turn_without_criteria_is_missing_not_zero():
    records = guess_episodes(guesses=(8, 4, 5))
    result = Rubric([(1.0, Checklist(RULES, criteria={0: [TAGGED]}))]).score(records)[0]
    assert [r.reward for r in result] == [1.0, 0.0, 0.0]
    assert result[1].missing == ["checklist"] and result[1].judgements["checklist"].reasoning == (
        "no criteria for this turn")


def test_llm_checklist_asks_once_per_criterion_and_skips_criteria_it_could_not_judge(judge_server):
    records = guess_episodes(guesses=(8, 4, 5))

    def answer(body):
        criterion = body["messages"][1]["content"].rsplit("CRITERION: ", 1)[1]
        if criterion == MIDDLE:
            return (200, completion("it looks fine to me"), 0)  # no verdict: not judged
        return (200, completion(json.dumps({"evidence": "quoted", "satisfied": criterion == TAGGED})), 0)

    judge_server.default = answer
    client = JudgeClient("judge", judge_server.url, timeout_s=2.0, max_retries=0)
    checklist = Checklist(LLMCriterionJudge(client), criteria=[TAGGED, IN_RANGE, MIDDLE])
    with pytest.warns(JudgeWarning, match="not judged"):
        rewards = Rubric([(1.0, checklist)]).annotate(records)
    assert rewards == [[0.5, 0.5, 0.5]]  # TAGGED yes, IN_RANGE no, MIDDLE unjudged
    assert len(judge_server.requests) == 9  # one request per criterion per turn
    rows = records[0].turns[0].info["rubric"]["judgements"]["checklist"]["evidence"]["criteria"]
    assert [r["satisfied"] for r in rows] == [True, False, None]
    assert "no 'satisfied' verdict" in rows[2]["evidence"]
    seeds = [r["seed"] for r in judge_server.requests[:3]]
    assert len(set(seeds)) == 3  # each criterion has its own stable seed


def test_a_checklist_whose_judge_is_down_is_missing_with_a_warning(judge_server):
    judge_server.default = (503, {"error": "overloaded"}, 0)
    records = guess_episodes(guesses=(8, 4, 5))
    client = JudgeClient("judge", judge_server.url, timeout_s=2.0, max_retries=0)
    with pytest.warns(JudgeWarning):
        result = Rubric([(1.0, Checklist(LLMCriterionJudge(client), criteria=[TAGGED]))]).score(records)
    assert [r.reward for r in result[0]] == [0.0, 0.0, 0.0]
    assert all(r.missing == ["checklist"] for r in result[0])


def test_parse_criterion_accepts_yes_no_and_refuses_the_rest():
    assert parse_criterion('{"satisfied": "yes", "evidence": "e"}').satisfied is True
    assert parse_criterion('ok: {"satisfied": false}').satisfied is False
    with pytest.raises(JudgeReplyError, match="true or false"):
        parse_criterion('{"satisfied": 0.7}')
    with pytest.raises(JudgeReplyError, match="no 'satisfied'"):
        parse_criterion("satisfied")
