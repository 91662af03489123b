"""SearchQAEnv: registration, Gymnasium's checker, oracle and random agents, signals, state."""

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import turngym  # registers the ids; turngym.make is used below
from turngym.agents.scripted import OracleAgent, RandomAgent
from turngym.core.messages import tool_call
from turngym.rollout import play_episode

LEVEL_IDS = {"easy": "turngym/SearchQA-Easy-v0", "medium": "turngym/SearchQA-Medium-v0",
             "hard": "turngym/SearchQA-Hard-v0"}


@pytest.mark.parametrize("env_id", ["turngym/SearchQA-v0", *LEVEL_IDS.values()])
def test_registered_ids_pass_gymnasium_check_env(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped)
    assert turngym.make(env_id).unwrapped.tasks == env.unwrapped.tasks


@pytest.mark.parametrize("level", LEVEL_IDS)
def test_oracle_solves_200_tasks_and_random_agent_does_not(level):
    env = gym.make(LEVEL_IDS[level])
    oracle = [play_episode(env, OracleAgent(), seed=s) for s in range(200)]
    assert all(r.status == "ok" for r in oracle)
    assert np.mean([r.outcome for r in oracle]) >= 0.95
    # the oracle really follows the hop chain: it retrieves every gold passage
    evidence = [sum(t.signals["evidence_gain"] for t in r.turns) for r in oracle]
    assert np.mean(evidence) >= 0.95
    random_f1 = [play_episode(env, RandomAgent(seed=s), seed=s).outcome or 0.0 for s in range(200)]
    assert np.mean(random_f1) < 0.1


def test_easy_questions_retrieve_their_answer_page_first():
    inner = gym.make(LEVEL_IDS["easy"]).unwrapped
    for task in inner.tasks[:300]:
        assert task.hops == 1
        assert inner.retriever.search(task.question, 1)[0].passage.id == task.gold_ids[0]
        assert len(task.answers[0].split()) <= 2  # a short name


def _step(env, action):
    obs, reward, terminated, truncated, info = env.step(action)
    assert isinstance(obs, list) and obs and all(isinstance(m["content"], str) for m in obs)
    return obs, reward, terminated, truncated, info


def test_search_returns_numbered_titles_and_passages_and_signals():
    env = gym.make("turngym/SearchQA-v0")
    obs, info = env.reset(seed=3)
    inner = env.unwrapped
    assert info["probe"] == {"answers": list(inner.task.answers), "forcing_prefix": "<answer>",
                             "answer_suffix": "</answer>"}
    assert inner.task.question in obs[-1]["content"]
    query = inner.task.chain[0]
    obs, reward, terminated, truncated, info = _step(env, f"<think>first hop</think><search>{query}</search>")
    text = obs[0]["content"]
    assert obs[0]["role"] == "user" and "[1] " in text and "[5] " in text
    first_gold = inner.corpus.get(inner.task.gold_ids[0])
    assert first_gold.title in text and first_gold.text[:40] in text
    assert info["signals"]["evidence_gain"] > 0 and info["signals"]["repeated_query"] == 0.0
    assert (reward, terminated, truncated) == (0.0, False, False)
    _, _, _, _, again = _step(env, f"<search>  {query.upper()} </search>")
    assert again["signals"]["repeated_query"] == 1.0 and again["signals"]["evidence_gain"] == 0.0
    assert again["anchor"] == info["anchor"]  # nothing new retrieved: same state


def test_answer_scores_f1_and_exact_match_and_ends_the_episode():
    env = gym.make("turngym/SearchQA-v0")
    env.reset(seed=0)
    answer = env.unwrapped.task.answers[0]
    _, reward, terminated, truncated, info = _step(env, f"<answer>the {answer.upper()}</answer>")
    assert terminated and not truncated and reward == info["outcome"] == 1.0
    assert info["signals"]["exact_match"] == 1.0
    env.reset(seed=0)
    _, reward, terminated, _, info = _step(env, f"<answer>{answer} and more words</answer>")
    assert terminated and 0.0 < info["outcome"] < 1.0 and info["signals"]["exact_match"] == 0.0


def test_tool_calls_work_and_are_answered_with_tool_messages():
    env = gym.make("turngym/SearchQA-v0")
    env.reset(seed=1)
    inner = env.unwrapped
    call = tool_call("search", {"query": inner.task.chain[0]}, "call_7")
    obs, *_, info = _step(env, {"role": "assistant", "content": None, "tool_calls": [call]})
    assert obs[0]["role"] == "tool" and obs[0]["tool_call_id"] == "call_7"
    assert info["signals"]["valid_action"] == 1.0 and "[1] " in obs[0]["content"]
    call = tool_call("answer", {"answer": inner.task.answers[0]}, "call_8")
    obs, _, terminated, _, info = _step(env, {"role": "assistant", "content": None, "tool_calls": [call]})
    assert terminated and info["outcome"] == 1.0 and obs[0]["tool_call_id"] == "call_8"


def _search_call(query):
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "type": "function",
                            "function": {"name": "search", "arguments": json.dumps({"query": query})}}]}


BAD_ACTIONS = {
    "empty query": ("<search>   </search>", "empty"),
    "empty query tool call": (_search_call("  "), "empty"),
    "huge query": (_search_call("word " * 400), "characters"),
    "huge action": ("<search>" + "x" * 250_000 + "</search>", "characters"),
    "non-text query": ({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "search", "arguments": {"query": 42}}}]},
        "type string"),
    "punctuation-only query": ("<search>?!?! ...</search>", "no words"),
    "unbalanced tag": ("<search>capital of Foo", "never closed"),
    "stray closing tag": ("capital</search>", "never opened"),
    "nested tags": ("<search>a <answer>b</answer></search>", "nested"),
    "empty answer tag": ("<answer></answer>", "empty"),
    "empty answer tool call": ({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c2", "type": "function", "function": {"name": "answer", "arguments": '{"answer": ""}'}}]},
        "empty"),
    "unknown tool": ({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c3", "type": "function", "function": {"name": "browse", "arguments": "{}"}}]},
        "Unknown tool"),
    "unknown tag": ("<browse>x</browse>", "not an action"),
    "bad JSON arguments": ({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c4", "type": "function", "function": {"name": "search", "arguments": "{query"}}]},
        "not valid JSON"),
    "no action": ("I think the answer is Paris", "No action"),
    "not text": (12345, "An action is text"),
}


@pytest.mark.parametrize("name", BAD_ACTIONS)
def test_bad_actions_get_an_observation_saying_what_was_wrong(name):
    action, expected = BAD_ACTIONS[name]
    env = gym.make("turngym/SearchQA-v0")
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = _step(env, action)
    assert info["signals"]["valid_action"] == 0.0
    assert not terminated and not truncated and reward == 0.0
    assert expected.lower() in obs[0]["content"].lower(), obs
    assert obs[0]["content"].startswith("Invalid action")
    # the episode goes on, and a good action still works
    answer = env.unwrapped.task.answers[0]
    *_, info = _step(env, f"<answer>{answer}</answer>")
    assert info["outcome"] == 1.0


def test_repeated_invalid_actions_truncate():
    env = gym.make("turngym/SearchQA-Hard-v0", max_invalid_turns=2)
    env.reset(seed=0)
    results = [env.step(_search_call(""))[3] for _ in range(3)]
    assert results == [False, False, True]


def test_anchor_is_the_retrieved_set_whatever_the_order():
    env = gym.make("turngym/SearchQA-Hard-v0")
    env.reset(seed=4)
    inner = env.unwrapped
    q1, q2 = inner.task.chain[:2]
    env.step(f"<search>{q1}</search>")
    *_, info_a = env.step(f"<search>{q2}</search>")
    env.reset(seed=4)
    env.step(f"<search>{q2}</search>")
    *_, info_b = env.step(f"<search>{q1}</search>")
    assert info_a["anchor"] == info_b["anchor"]
    env.reset(seed=4)
    *_, info_c = env.step(f"<search>{q1}</search>")
    assert info_c["anchor"] != info_a["anchor"] and info_c["anchor"].startswith(info_a["task_id"])


def test_get_state_set_state_branches_identically():
    env = gym.make("turngym/SearchQA-Hard-v0")
    env.reset(seed=9)
    inner = env.unwrapped
    env.step(inner.oracle_action())
    state = inner.get_state()
    branch_a = [env.step(a) for a in ("<search>some other words</search>", inner.oracle_action())]
    inner.set_state(state)
    branch_b = [env.step(a) for a in ("<search>some other words</search>", inner.oracle_action())]
    assert branch_a == branch_b
    env.reset(seed=10)  # a different task; restoring brings the first one back
    inner.set_state(state)
    assert inner.task_id == state["task_id"] and inner.turn == 1 and inner.get_state() == state


def test_same_seed_same_task_and_task_id_option():
    env = gym.make("turngym/SearchQA-v0")
    obs_a, info_a = env.reset(seed=123)
    obs_b, info_b = env.reset(seed=123)
    assert obs_a == obs_b and info_a["task_id"] == info_b["task_id"]
    task = env.unwrapped.tasks[17]
    obs, info = env.reset(options={"task_id": task.task_id})
    assert info["task_id"] == task.task_id and task.question in obs[-1]["content"]
    with pytest.raises(ValueError, match="unknown task_id"):
        env.reset(options={"task_id": "nope"})


def test_bad_constructor_arguments_are_named():
    with pytest.raises(ValueError, match="unknown level"):
        gym.make("turngym/SearchQA-v0", level="impossible")
    with pytest.raises(ValueError, match="retriever must be one of"):
        gym.make("turngym/SearchQA-v0", retriever="magic")
    with pytest.raises(ValueError, match="top_k"):
        gym.make("turngym/SearchQA-v0", top_k=0)
    with pytest.raises(ValueError, match="retriever_url"):
        gym.make("turngym/SearchQA-v0", retriever="http")


@pytest.mark.slow
def test_huge_level_oracle_and_check_env(tmp_path):
    env = gym.make("turngym/SearchQA-Huge-v0", cache_dir=tmp_path)
    assert len(env.unwrapped.corpus) == 100_000
    check_env(env.unwrapped)
    oracle = [play_episode(env, OracleAgent(), seed=s) for s in range(200)]
    assert np.mean([r.outcome for r in oracle]) >= 0.95
    assert np.mean([sum(t.signals["evidence_gain"] for t in r.turns) for r in oracle]) >= 0.95
    assert np.mean([play_episode(env, RandomAgent(seed=s), seed=s).outcome or 0.0 for s in range(200)]) < 0.1
