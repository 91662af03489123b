"""WebShopEnv: registration, Gymnasium's checker, oracle and random agents, pages, actions, signals, state."""

import io
import json
import re
from html.parser import HTMLParser

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import turngym
from turngym.agents.scripted import OracleAgent, RandomAgent
from turngym.core.messages import tool_call
from turngym.envs.webshop.env import parse_webshop_action
from turngym.rollout import play_episode

from .conftest import SMALL

IDS = [e.id for e in turngym.list_envs() if e.id.startswith("turngym/WebShop")]


def make(**kwargs):
    kwargs.setdefault("num_products", SMALL)
    return gym.make("turngym/WebShop-v0", **kwargs)


def run_oracle(env, task_id):
    inner = env.unwrapped
    env.reset(options={"task_id": task_id})
    for _ in range(inner.max_turns):
        _, reward, terminated, truncated, info = env.step(inner.oracle_action())
        if terminated or truncated:
            return reward, terminated, info
    raise AssertionError("the oracle did not finish")


def test_ids_are_registered():
    assert set(IDS) == {"turngym/WebShop-v0", "turngym/WebShop-Small-v0"}
    assert gym.spec("turngym/WebShop-Small-v0").kwargs["num_products"] == SMALL


@pytest.mark.parametrize("env_id", IDS)
def test_every_id_passes_gymnasium_check_env(env_id):
    # the full 100,000-product catalogue is checked in the slow test below
    env = gym.make(env_id, num_products=SMALL)
    check_env(env.unwrapped)


def test_same_seed_same_goal_and_splits():
    env = make(split="test")
    obs_a, info_a = env.reset(seed=7)
    obs_b, info_b = env.reset(seed=7)
    assert obs_a == obs_b and info_a["task_id"] == info_b["task_id"]
    seen = {env.reset(seed=s)[1]["task_id"] for s in range(60)}
    assert len(seen) > 30 and all(0 <= int(t) < 500 for t in seen)
    assert {int(make(split="eval").reset(seed=s)[1]["task_id"]) for s in range(30)} <= set(range(500, 1500))
    assert all(int(make(split="train").reset(seed=s)[1]["task_id"]) >= 1500 for s in range(30))
    inner = env.unwrapped
    assert len(inner.goals) == SMALL and len(make(split="all").unwrapped.split_indices) == SMALL


def test_task_id_selects_the_goal_and_bad_ids_are_refused():
    env = make(split="test")
    _, info = env.reset(options={"task_id": "1234"})            # any goal may be chosen exactly
    assert info["task_id"] == "1234" and env.unwrapped.goal == env.unwrapped.goals[1234]
    with pytest.raises(ValueError, match="task ids are goal indices 0-1999"):
        env.reset(options={"task_id": "nope"})
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        make(split="dev")
    with pytest.raises(ValueError, match="split 'train' has no goals"):
        make(num_products=800)
    with pytest.raises(ValueError, match="observation_mode 'pixels' not supported"):
        make(observation_mode="pixels")


def test_oracle_scores_one_on_a_sample_of_the_test_split_and_signals_components():
    env = make(split="test")
    for task in range(0, 500, 5):
        reward, terminated, info = run_oracle(env, task)
        assert terminated and reward == 1.0 and info["outcome"] == 1.0, task
        signals = info["signals"]
        assert signals["success"] == 1.0 and signals["r_type"] == 1.0 and signals["r_att"] == 1.0
        assert signals["r_option"] == 1.0 and signals["r_price"] == 1.0
        assert info["reward_info"]["r_type"] == 1.0 and info["purchased"]["asin"] == env.unwrapped.goal.asin


def test_oracle_through_the_shared_episode_runner_and_random_agents_far_below():
    env = make(split="test")
    oracle = [play_episode(env, OracleAgent(), seed=s) for s in range(40)]
    assert all(r.status == "ok" and r.outcome == 1.0 for r in oracle)
    shared_random = [play_episode(env, RandomAgent(seed=s), seed=s).outcome or 0.0 for s in range(40)]
    clicker = [_random_clicker(env, seed) for seed in range(150)]
    assert np.mean(shared_random) < 0.05
    assert np.mean(clicker) < 0.3 and np.mean([c == 1.0 for c in clicker]) < 0.05


def _random_clicker(env, seed):
    """A stronger random baseline: a random available action each turn (search with instruction words)."""
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    words = env.unwrapped.goal.instruction_text.split()
    while True:
        actions = info["available_actions"]
        clickable = [c for c in actions["clickables"] if c != "search"]
        if actions["has_search_bar"]:
            action = "search[" + " ".join(rng.choice(words, size=3)) + "]"
        else:
            action = f"click[{clickable[rng.integers(len(clickable))]}]"
        _obs, _reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info.get("outcome", 0.0)


# ----- pages and actions ---------------------------------------------------------------


def test_search_results_item_and_sub_pages_in_webshop_text():
    env = make(split="test")
    obs, info = env.reset(options={"task_id": 3})
    inner = env.unwrapped
    goal = inner.goal
    assert obs[0]["role"] == "system" and "search[" in obs[0]["content"]
    assert obs[1]["content"] == f"WebShop [SEP] Instruction: [SEP] {goal.instruction_text} [SEP] Search"
    assert info["available_actions"] == {"has_search_bar": True, "clickables": ["search"]}
    obs, *_, info = env.step(f"search[{goal.name}]")
    text = obs[0]["content"]
    assert text.startswith(f"Instruction: [SEP] {goal.instruction_text} [SEP] Back to Search [SEP] "
                           "Page 1 (Total results: 50) [SEP] Next > [SEP] ")
    assert "< Prev" not in text
    first = inner.page.results[0]
    assert first == goal.asin
    product = inner.catalogue.product(first)
    assert f"[SEP] {first} [SEP] {product.title} [SEP] {product.price_tag}" in text
    clickables = info["available_actions"]["clickables"]
    assert clickables[:2] == ["back to search", "next >"] and first.lower() in clickables
    assert len(clickables) == 12 and info["available_actions"]["has_search_bar"] is False
    obs, *_, info = env.step("click[Next >]")
    assert "Page 2 (Total results: 50) [SEP] < Prev [SEP] Next >" in obs[0]["content"]
    obs, *_ = env.step("click[< Prev]")
    assert "Page 1 (Total results: 50)" in obs[0]["content"]
    obs, *_, info = env.step(f"click[{first.lower()}]")   # case does not matter
    text = obs[0]["content"]
    assert text.startswith(f"Instruction: [SEP] {goal.instruction_text} [SEP] Back to Search [SEP] "
                           "< Prev [SEP] ")
    assert text.endswith(f"{product.title} [SEP] Price: {product.price_tag} [SEP] Rating: N.A. [SEP] "
                         "Description [SEP] Features [SEP] Reviews [SEP] Buy Now")
    for name, values in product.options.items():
        assert f"[SEP] {name} [SEP] " + " [SEP] ".join(values) in text
        assert set(values) <= set(info["available_actions"]["clickables"])
    obs, *_ = env.step("click[Description]")
    assert obs[0]["content"].endswith(f"< Prev [SEP] {product.description}")
    obs, *_ = env.step("click[< Prev]")
    obs, *_ = env.step("click[Features]")
    assert obs[0]["content"].endswith(" [SEP] ".join(product.bullet_points))
    obs, *_ = env.step("click[< Prev]")
    assert obs[0]["content"] == text
    obs, *_ = env.step("click[< Prev]")
    assert "Page 1 (Total results: 50)" in obs[0]["content"]
    obs, *_, info = env.step("click[Back to Search]")
    assert obs[0]["content"].startswith("WebShop [SEP] Instruction:") and info["anchor"] == "3|search"


def test_text_rich_marks_buttons_clicked_options_and_visited_products():
    env = make(split="test", observation_mode="text_rich")
    inner = env.unwrapped
    env.reset(options={"task_id": 3})
    obs, *_ = env.step(f"search[{inner.goal.name}]")
    rich = obs[0]["content"]
    assert "[button] Back to Search [button_]\n" in rich and "[button] Next > [button_]\n" in rich
    assert f"\n[button] {inner.goal.asin} [button_]\n" in rich
    env.step(f"click[{inner.goal.asin}]")
    value = inner.goal.goal_options[0]
    obs, *_ = env.step(f"click[{value}]")
    rich = obs[0]["content"]
    assert rich.startswith(f"You have clicked {value}.\n")
    assert f"  [clicked button] {value} [clicked button_]\n" in rich
    assert "[button] Buy Now [button_]\n" in rich
    obs, *_ = env.step("click[< Prev]")
    assert f"\n[clicked button] {inner.goal.asin} [clicked button_]\n" in obs[0]["content"]


class _Visible(HTMLParser):
    def __init__(self):
        super().__init__()
        self.texts, self.hidden, self.tags = [], 0, []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "script", "head", "title"):
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script", "head", "title"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.texts.append(data.strip())


def test_html_is_a_whole_page_whose_visible_text_is_the_text_observation():
    env = make(split="test", observation_mode="html")
    inner = env.unwrapped
    env.reset(options={"task_id": 8})
    actions = [f"search[{inner.goal.name}]", f"click[{inner.goal.asin}]",
               *(f"click[{v}]" for v in inner.goal.goal_options), "click[Features]"]
    pages_seen = [inner.render_page()]
    for action in actions:
        obs, *_ = env.step(action)
        pages_seen.append(obs[0]["content"])
        parser = _Visible()
        parser.feed(obs[0]["content"])
        assert " [SEP] ".join(parser.texts) == inner.render_page("text")
    item_page = pages_seen[2 + len(inner.goal.goal_options)]
    assert item_page.startswith("<!DOCTYPE html>") and item_page.rstrip().endswith("</html>")
    assert "http" not in item_page                       # self-contained: nothing to fetch
    parser = _Visible()
    parser.feed(item_page)
    radios = [a for t, a in parser.tags if t == "input" and a.get("type") == "radio"]
    assert {a["value"] for a in radios if "checked" in a} == set(inner.goal.goal_options)
    assert any(t == "button" and "purchase" in a.get("class", "") for t, a in parser.tags)


def test_actions_in_every_accepted_format():
    env = make(split="test")
    inner = env.unwrapped
    goal = inner.goal
    for action in (f"search[{goal.name}]", f"<search>{goal.name}</search>",
                   f"Thought: look it up.\nAction: search[{goal.name}]",
                   f"<think>hmm [x</think><action>search[{goal.name}]</action>",
                   {"role": "assistant", "content": None,
                    "tool_calls": [tool_call("search", {"query": goal.name}, "c1")]}):
        env.reset(options={"task_id": 0})
        obs, _, _, _, info = env.step(action)
        assert info["signals"]["valid_action"] == 1.0, action
        assert inner.page.kind == "results" and inner.page.results[0] == inner.goal.asin
    obs, *_, info = env.step({"role": "assistant", "content": None,
                              "tool_calls": [tool_call("click", {"target": inner.goal.asin}, "c2")]})
    assert obs[0]["role"] == "tool" and obs[0]["tool_call_id"] == "c2" and inner.page.kind == "item"
    _, *_, info = env.step("<click>< Prev</click>")
    assert info["signals"]["valid_action"] == 1.0 and inner.page.kind == "results"


@pytest.mark.parametrize("action, kind, says", [
    ("click[B0NOTHERE1]", "not_clickable", "'B0NOTHERE1' is not clickable on this page"),
    ("click[search]", "click_search", "to search, write search[your keywords]"),
    ("search[]", "empty_query", "the search is empty"),
    ("search[   ]", "empty_query", "the search is empty"),
    ("search[shoes", "malformed_action", "needs its closing ']'"),
    ("buy it now please", "no_action", "No action found"),
    ({"role": "assistant", "content": None, "tool_calls": [tool_call("purchase", {}, "c9")]},
     "unknown_tool", "Unknown tool 'purchase'"),
    (42, "not_text", "An action is text"),
    ("<action>" * 40_000 + "click[x", "too_long", "characters; at most"),
    ("search[" + "shoes " * 100 + "]", "query_too_long", "the search is 599 characters; at most 500"),
    ("<action>" * 20_000 + "search[", "malformed_action", "needs its closing ']'"),
])
def test_bad_actions_never_raise_and_say_what_is_clickable(action, kind, says):
    env = make(split="test")
    env.reset(options={"task_id": 1})
    obs, reward, terminated, truncated, info = env.step(action)
    assert info["signals"]["valid_action"] == 0.0 and info["action_error"] == kind
    assert says in obs[-1]["content"] and "Available actions: search[keywords]" in obs[-1]["content"]
    assert reward == 0.0 and not terminated and not truncated


def test_searching_away_from_the_search_page_and_bad_clicks_name_the_clickables():
    env = make(split="test")
    inner = env.unwrapped
    env.reset(options={"task_id": 1})
    env.step(f"search[{inner.goal.name}]")
    obs, *_, info = env.step("search[other things]")
    text = obs[0]["content"]
    assert info["action_error"] == "no_search_bar" and "click[Back to Search] first" in text
    assert "click[x] with x one of: back to search, next >, " + inner.goal.asin.lower() in text
    for _ in range(inner.max_invalid_turns - 1):
        *_, truncated, info = env.step("click[nothing]")
        assert not truncated
    *_, truncated, info = env.step("click[nothing]")
    assert truncated and info["truncated_reason"] == "invalid_actions"


def test_buying_the_wrong_product_scores_partially_and_signals_each_component():
    env = make(split="test")
    inner = env.unwrapped
    env.reset(options={"task_id": 2})
    goal = inner.goal
    env.step(f"search[{goal.query}]")
    other = next(a for a in inner.page.page_asins() if a != goal.asin)
    env.step(f"click[{other}]")
    obs, reward, terminated, _, info = env.step("click[Buy Now]")
    assert terminated and reward == info["outcome"] < 1.0
    assert obs[0]["content"] == ("Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) "
                                 f"[SEP] {reward}")
    reward_info = info["reward_info"]
    signals = info["signals"]
    assert signals["r_type"] == reward_info["r_type"] and signals["r_att"] == reward_info["r_att"]
    assert signals["r_price"] == float(reward_info["r_price"]) and signals["success"] == 0.0
    assert signals["r_option"] == reward_info.get("r_option", 1.0)


def test_goal_progress_rises_with_the_best_match_viewed():
    env = make(split="test")
    inner = env.unwrapped
    env.reset(options={"task_id": 4})
    progress = []
    while True:
        *_, terminated, _truncated, info = env.step(inner.oracle_action())
        progress.append(info["signals"]["goal_progress"])
        if terminated:
            break
    assert progress[0] == 0.0                          # a search views no product
    assert sum(progress) == pytest.approx(1.0)         # the best match reached is the reward, 1.0
    assert all(p >= 0 for p in progress) and progress[-1] == 0.0


def test_anchor_is_the_page_key_and_state_round_trips():
    env = make(split="test")
    inner = env.unwrapped
    env.reset(options={"task_id": 5})
    _, *_, info_a = env.step(f"search[{inner.goal.name}]")
    snapshot = inner.get_state()
    json.dumps(snapshot)                                # plain data
    _, *_, info_b = env.step(f"click[{inner.goal.asin}]")
    assert info_a["anchor"] != info_b["anchor"]
    _, *_, info_c = env.step("click[< Prev]")
    assert info_c["anchor"] == info_a["anchor"]         # same page again: same anchor
    env.reset(options={"task_id": 9})
    inner.set_state(snapshot)
    assert inner.page.kind == "results" and inner.turn == 1 and inner.task_id == "5"
    _obs, *_, info = env.step(f"click[{inner.goal.asin}]")
    assert info["anchor"] == info_b["anchor"] and info["turn"] == 2
    while True:
        *_, reward, terminated, _, _ = env.step(inner.oracle_action())
        if terminated:
            break
    assert reward == 1.0


def test_show_actions_lists_the_clickables():
    env = make(split="test", show_actions=True)
    obs, _ = env.reset(options={"task_id": 0})
    assert obs[1]["content"].endswith("Available actions: search[keywords].")
    env = make(split="test", show_actions=True, observation_mode="html")
    obs, _ = env.reset(options={"task_id": 0})
    page = obs[1]["content"]
    assert '<p id="available-actions">Available actions: search[keywords].</p>' in page
    assert page.rstrip().endswith("</html>")


def test_parse_webshop_action():
    assert parse_webshop_action("click[Buy Now]") == ("click", "Buy Now")
    assert parse_webshop_action("SEARCH[ red shoes ]") == ("search", "red shoes")
    assert parse_webshop_action("I think so.\nAction: click[< Prev]") == ("click", "< Prev")
    assert parse_webshop_action("<search>x</search>") is None
    assert parse_webshop_action("click[a] and more").kind == "malformed_action"


def test_turngym_play_runs_an_episode():
    from turngym.cli import main

    out, err = io.StringIO(), io.StringIO()
    script = "search[anything]\n:oracle\n:oracle\n:oracle\n:oracle\n:oracle\n:oracle\n:quit\n"
    code = main(["play", "turngym/WebShop-Small-v0", "--env-arg", "split=test", "--task-id", "3"],
                stdin=io.StringIO(script), stdout=out, stderr=err)
    text = out.getvalue()
    assert code == 0, err.getvalue()
    assert "WebShop [SEP] Instruction:" in text and "Invalid action" not in text
    assert re.search(r"outcome 1\b", text)


def test_item_page_clickables_in_webshops_order():
    env = make(split="test")
    inner = env.unwrapped
    env.reset(options={"task_id": 3})
    env.step(f"search[{inner.goal.name}]")
    *_, info = env.step(f"click[{inner.goal.asin}]")
    values = [v for vs in inner.catalogue.product(inner.goal.asin).options.values() for v in vs]
    assert info["available_actions"]["clickables"] == [
        "back to search", "< prev", "description", "features", "reviews", "buy now", *dict.fromkeys(values)]
