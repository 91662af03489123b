"""LLMJudge against a loopback OpenAI-compatible double: scores with reasoning kept, and every way the
endpoint or its reply can fail gives a missing signal and a warning, never a crashed batch."""

from __future__ import annotations

import json
import threading
import warnings

import pytest

from tests.verifiers.conftest import completion, guess_episodes
from turngym.agents.openai_agent import OpenAIAgent
from turngym.verifiers.llm_judge import JudgeClient, JudgeReplyError, JudgeWarning, LLMJudge, parse_verdict
from turngym.verifiers.rubric import OutcomeScore, Rubric

RUBRIC = "Does the guess halve the interval still possible?"


def client(url, **kw):
    kw.setdefault("timeout_s", 1.0)
    kw.setdefault("max_retries", 1)
    kw.setdefault("backoff_s", 0.01)
    return JudgeClient("judge-model", url, **kw)


def verdict(score, reasoning="because"):
    return (200, completion(json.dumps({"reasoning": reasoning, "score": score})), 0)


def test_judge_scores_every_turn_and_the_records_keep_its_reasoning(judge_server):
    records = guess_episodes()
    judge_server.replies = [verdict(8, "halves it"), verdict(5, "not quite"), verdict(10, "found it")]
    rubric = Rubric([(1.0, LLMJudge(RUBRIC, client=client(judge_server.url), seed=7))])
    rewards = rubric.annotate(records)
    assert rewards == [[0.8, 0.5, 1.0]]
    kept = [t.info["rubric"]["judgements"]["llm_judge"] for t in records[0].turns]
    assert [k["reasoning"] for k in kept] == ["halves it", "not quite", "found it"]
    assert json.loads(kept[0]["evidence"]["reply"]) == {"reasoning": "halves it", "score": 8}
    first, second = judge_server.requests[:2]
    assert RUBRIC in first["messages"][0]["content"]
    user = first["messages"][1]["content"]
    assert "TURN TO JUDGE (assistant):\n<guess>8</guess>" in user and "8 is wrong: go lower." in user
    assert "<guess>4</guess>" in second["messages"][1]["content"]  # turn 1 sees turn 0 in its history
    assert first["seed"] != second["seed"] and first["temperature"] == 0.0

    judge_server.replies = [verdict(8), verdict(5), verdict(10)]
    Rubric([(1.0, LLMJudge(RUBRIC, client=client(judge_server.url), seed=7))]).annotate(guess_episodes())
    assert [r["seed"] for r in judge_server.requests[3:]] == [r["seed"] for r in judge_server.requests[:3]]


def test_episode_level_judge_is_asked_once_on_the_last_turn(judge_server):
    records = guess_episodes(episodes=2)
    judge_server.default = verdict(6)
    judge = LLMJudge(RUBRIC, client=client(judge_server.url), level="episode", name="episode_judge")
    rewards = Rubric([(2.0, judge)]).annotate(records)
    assert rewards == [[0.0, 0.0, 1.2], [0.0, 0.0, 1.2]]
    assert len(judge_server.requests) == 2
    assert "Episode:" in judge_server.requests[0]["messages"][1]["content"]
    assert "episode_judge" not in records[0].turns[0].info["rubric"]["judgements"]


FAILURES = {
    "http_500": ((500, {"error": "boom"}, 0), "HTTP 500"),
    "garbage_json": ((200, b"{not json at all", 0), "not JSON"),
    "not_a_completion": ((200, {"hello": "world"}, 0), "without choices"),
    "timeout": ((200, completion('{"score": 5}'), 0.8), "no answer within"),
    "unparsable_score": ((200, completion("I think the guess was rather good."), 0), "no score"),
    "score_not_a_number": ((200, completion('{"score": "high"}'), 0), "not a number"),
    "score_out_of_range": ((200, completion('{"score": 42}'), 0), "outside [0, 10]"),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_failing_judge_is_a_missing_signal_and_a_warning(judge_server, failure):
    reply, why = FAILURES[failure]
    judge_server.default = reply
    records = guess_episodes()
    judge = LLMJudge(RUBRIC, client=client(judge_server.url, timeout_s=0.3 if failure == "timeout" else 2.0))
    rubric = Rubric([(1.0, OutcomeScore()), (0.5, judge)])
    with pytest.warns(JudgeWarning, match="llm_judge: no verdict") as caught:
        rewards = rubric.annotate(records)
    assert len(caught) == 3 and why in str(caught[0].message)
    assert rewards == [[0.0, 0.0, 1.0]]  # the outcome still counts; the judge adds nothing
    for turn in records[0].turns:
        kept = turn.info["rubric"]
        assert kept["missing"] == ["llm_judge"]
        assert kept["judgements"]["llm_judge"]["score"] is None
        assert why in kept["judgements"]["llm_judge"]["evidence"]["error"]
    if failure in ("http_500", "timeout"):
        assert len(judge_server.requests) == 3 * 2  # retried once per turn before giving up


def test_judges_run_concurrently_one_agent_per_thread(judge_server):
    records = guess_episodes(episodes=4)
    judge_server.default = lambda body: verdict(10 * ("<guess>5</guess>" in body["messages"][1]["content"]))
    built = []

    def one_agent():
        built.append(threading.get_ident())
        return OpenAIAgent("judge-model", judge_server.url, timeout_s=2.0, max_retries=0)

    judge = LLMJudge(RUBRIC, client=JudgeClient("judge-model", judge_server.url, agent_factory=one_agent))
    with warnings.catch_warnings():
        warnings.simplefilter("error", JudgeWarning)
        rewards = Rubric([(1.0, judge)], concurrency=4).annotate(records)
    assert rewards == [[0.0, 0.0, 1.0]] * 4
    assert len(judge_server.requests) == 12
    assert 1 <= len(built) <= 4 and len(set(built)) == len(built)  # one agent per worker thread


def test_parse_verdict_reads_json_or_prose_and_refuses_the_rest():
    assert parse_verdict('```json\n{"score": 2.5, "reasoning": "meh"}\n```', 0, 5) == (0.5, "meh")
    assert parse_verdict("SCORE = 4", 0, 4)[0] == 1.0
    with pytest.raises(JudgeReplyError, match="no score"):
        parse_verdict('{"grade": 3}', 0, 10)
    with pytest.raises(JudgeReplyError, match="not a number"):
        parse_verdict('{"score": true}', 0, 10)


def test_bad_judge_settings_are_refused(judge_server):
    with pytest.raises(ValueError, match="level must be one of"):
        LLMJudge(RUBRIC, client=None, level="step")
    with pytest.raises(ValueError, match="low < high"):
        LLMJudge(RUBRIC, client=None, low=5, high=5)
    with pytest.raises(ValueError, match="base_url must start with http"):
        JudgeClient("m", "localhost:8000")
