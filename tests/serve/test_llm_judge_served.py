"""#16 Done-when: LLMJudge and the LLM checklist against the real local ``transformers serve``."""

import warnings

from tests.toy_envs import GuessNumberEnv
from turngym.rollout import play_episodes
from turngym.verifiers.checklist import Checklist, LLMCriterionJudge
from turngym.verifiers.llm_judge import JudgeClient, JudgeWarning, LLMJudge
from turngym.verifiers.rubric import OutcomeScore, Rubric


class GuessAgent:
    name = "scripted"

    def reset(self, seed=None):
        self.left = [8, 4, 5]

    def act(self, history, env):
        return f"<guess>{self.left.pop(0)}</guess>"


def test_llm_judge_and_checklist_against_a_real_server(openai_server):
    records = play_episodes(GuessNumberEnv, GuessAgent(), [{"options": {"task_id": "n-5"}}], progress=False)
    client = JudgeClient(openai_server.model, openai_server.base_url, max_tokens=64, timeout_s=120)
    judge = LLMJudge("Score 10 if the guess narrows the interval, 0 if not.", client=client, level="episode")
    checklist = Checklist(LLMCriterionJudge(client), criteria=["The assistant's turn is a <guess> tag."],
                          level="episode")
    rubric = Rubric([(1.0, OutcomeScore()), (0.5, judge), (0.5, checklist)])
    with warnings.catch_warnings(record=True) as caught:  # a 135M judge may not keep to the JSON form
        warnings.simplefilter("always", JudgeWarning)
        rewards = rubric.annotate(records)
    last = records[0].turns[-1].info["rubric"]["judgements"]
    for name in ("llm_judge", "checklist"):
        kept = last[name]
        if kept["score"] is None:  # a missing signal with the reason and, for the judge, the raw reply
            assert any(name in str(w.message) or "criterion" in str(w.message) for w in caught)
            assert kept["reasoning"]
        else:
            assert 0.0 <= kept["score"] <= 1.0 and kept["reasoning"]
    reply = last["llm_judge"]["evidence"].get("reply")
    assert isinstance(reply, str) and reply.strip()  # the server answered with text
    assert rewards[0][:2] == [0.0, 0.0] and rewards[0][2] >= 1.0  # outcome 1 plus whatever was judged
    print(f"judge: {last['llm_judge']['score']!r} ({last['llm_judge']['reasoning'][:80]!r}); "
          f"checklist: {last['checklist']['score']!r}; judge's reply: {reply[:160]!r}")
