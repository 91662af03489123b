"""ToolUseEnv: the environment contract, the oracle, bad input, stage verdicts, branching."""

from __future__ import annotations

import io
import json

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import turngym
from turngym.agents.scripted import OracleAgent
from turngym.cli import main as cli_main
from turngym.core.env import STANDARD_INFO_KEYS
from turngym.envs.tool_use import bfcl
from turngym.envs.tool_use.env import REVEAL_MESSAGE, ToolUseEnv
from turngym.rollout import play_episode

IDS = sorted(e.id for e in turngym.list_envs() if "/ToolUse" in e.id)
STAGE_SIGNALS = ("state_match", "response_match", "call_precision", "call_recall", "match_reward",
                 "stage_passed")


def call(name, arguments, call_id="c1"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def calls(*items):
    return {"role": "assistant", "content": None, "tool_calls": list(items)}


@pytest.fixture(scope="module")
def bfcl_env():
    return ToolUseEnv("bfcl")


def test_ids_are_registered():
    assert IDS == sorted(f"turngym/{i}" for i in (
        "ToolUse-BFCL-v0", "ToolUse-BFCL-Base-v0", "ToolUse-BFCL-MissFunc-v0", "ToolUse-BFCL-MissParam-v0",
        "ToolUse-BFCL-LongContext-v0", "ToolUse-Easy-v0", "ToolUse-v0", "ToolUse-Hard-v0"))


@pytest.mark.parametrize("env_id", IDS)
def test_every_id_passes_gymnasium_check_env_and_its_oracle_scores_one(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    for seed in (0, 1):
        record = play_episode(env, OracleAgent(), seed=seed)
        assert record.status == "ok" and record.outcome == 1.0, (env_id, seed, record.error)


@pytest.mark.parametrize("env_id", ["turngym/ToolUse-BFCL-v0", "turngym/ToolUse-Hard-v0"])
def test_same_seed_same_task_and_task_id_option(env_id):
    env = gym.make(env_id).unwrapped
    first, info = env.reset(seed=7)
    again, info2 = env.reset(seed=7)
    assert first == again and info["task_id"] == info2["task_id"]
    assert set(STANDARD_INFO_KEYS) <= set(info)
    other = env.task_ids()[3]
    _, info3 = env.reset(seed=7, options={"task_id": other})
    assert info3["task_id"] == other
    with pytest.raises(ValueError, match="unknown task_id"):
        env.reset(options={"task_id": "nope"})


def test_oracle_scores_one_on_a_sample_of_every_bfcl_category(bfcl_env):
    tasks = bfcl.load_tasks("all")
    sample = [t for t in tasks if int(t.task_id.rsplit("_", 1)[1]) % 25 == 0]
    assert {t.category for t in sample} == set(bfcl.CATEGORIES) and len(sample) == 32
    known_bugs = [bfcl_env.get_task("multi_turn_miss_func_49"), bfcl_env.get_task("multi_turn_base_173")]
    for task in [*sample, *known_bugs]:
        record = play_episode(bfcl_env, OracleAgent(), options={"task_id": task.task_id})
        assert record.outcome == 1.0, task.task_id
        last = record.turns[-1]
        assert last.info["outcome_bfcl"] == 1.0 and last.info["outcome_partial"] == 1.0


@pytest.mark.slow
def test_oracle_scores_one_on_all_800_bfcl_tasks(bfcl_env):
    failed = []
    for task_id in bfcl_env.task_ids():
        record = play_episode(bfcl_env, OracleAgent(), options={"task_id": task_id})
        if record.outcome != 1.0:
            failed.append(task_id)
    assert len(bfcl_env.task_ids()) == 800 and failed == []


@pytest.mark.parametrize("level", ["easy", "medium", "hard"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_oracle_scores_one_on_generated_levels(level, split):
    env = ToolUseEnv("generated", level=level, split=split, n_tasks=40)
    for task_id in env.task_ids():
        record = play_episode(env, OracleAgent(), options={"task_id": task_id})
        assert record.outcome == 1.0, task_id


def test_every_step_has_every_signal_and_stage_signals_at_stage_ends():
    env = ToolUseEnv("generated", level="hard", n_tasks=5)
    _, info = env.reset(seed=0)
    names = set(env.all_signal_names)
    assert set(info["signals"]) == names
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(env.oracle_action())
        assert set(info["signals"]) == names
        if "stage_verdict" not in info:
            assert all(info["signals"][s] == 0.0 for s in STAGE_SIGNALS)
        done = terminated or truncated
    assert terminated and not truncated and info["outcome"] == 1.0
    assert [v["passed"] for v in info["stage_verdicts"]] == [True] * len(env.task.stages)


def test_bad_input_never_raises_and_says_what_was_wrong():
    env = ToolUseEnv("generated", level="easy", n_tasks=3, max_invalid_turns=50)
    env.reset(options={"task_id": "gen-easy-train-0"})
    cases = [
        calls(call("no_such_tool", "{}")),
        calls(call(env.tools[0].name, '{"account": ')),  # not JSON
        calls(call(env.tools[0].name, json.dumps({"wrong_name": 1}))),
        calls(*[call(env.tools[0].name, "{}", f"c{i}") for i in range(1000)]),
        "[f(",  # broken Python call
        12345,
        {"role": "assistant", "content": None, "tool_calls": "not a list"},
    ]
    for action in cases:
        obs, _, terminated, truncated, info = env.step(action)
        assert info["signals"]["valid_action"] == 0.0, str(action)[:200]
        assert obs and all(m["content"] for m in obs) and not terminated and not truncated


def test_a_back_end_that_raises_is_a_tool_error(bfcl_env):
    bfcl_env.reset(options={"task_id": "multi_turn_base_0"})
    names = [t.name for t in bfcl_env.tools]
    assert "cd" in names
    # BFCL runs calls as written: a list where a string belongs reaches the back-end, which raises.
    obs, _, _, _, info = bfcl_env.step(calls(call("cd", json.dumps({"folder": ["x"]}))))
    assert obs[0]["role"] == "tool" and obs[0]["tool_call_id"] == "c1"
    assert info["signals"]["tool_success"] == 0.0 and info["signals"]["valid_action"] == 1.0
    obs, _, _, _, info = bfcl_env.step(calls(call("ls", "{}"), call("nope", "{}", "c2")))
    assert [m["tool_call_id"] for m in obs] == ["c1", "c2"] and "Unknown tool" in obs[1]["content"]
    assert info["signals"]["tool_success"] == 0.5 and info["signals"]["valid_action"] == 0.0


def test_python_calls_text_answers_and_parallel_calls():
    env = ToolUseEnv("generated", level="medium", n_tasks=10)
    env.reset(options={"task_id": "gen-medium-train-1"})
    stage = env.task.stages[0]
    source = "[" + ", ".join(f"{c.name}(" + ", ".join(f"{k}={v!r}" for k, v in c.arguments.items()) + ")"
                             for c in stage.gold) + "]"
    obs, _, _, _, info = env.step(source)
    assert obs[-1]["role"] == "user" and obs[-1]["content"].startswith("Results:")
    assert info["signals"]["tool_success"] == 1.0 and "stage_verdict" not in info
    obs, _, _, _, info = env.step("All done, anything else?")
    assert info["stage_verdict"]["passed"] and info["signals"]["match_reward"] == 1.0
    assert obs == [{"role": "user", "content": env.task.stages[1].user[0]}]


def test_miss_func_reveals_the_function_and_miss_param_wants_no_call(bfcl_env):
    bfcl_env.reset(options={"task_id": "multi_turn_miss_func_0"})
    assert "sort" not in [t.name for t in bfcl_env.tools]
    seen = []
    while len(seen) < 3:  # stages 0-2 (stage 2 asks for sort, which is held out: no gold call)
        obs, _, _, _, info = bfcl_env.step(bfcl_env.oracle_action())
        if "stage_verdict" in info:
            seen.append(info["stage_verdict"])
    assert [v["gold_calls"] for v in seen] == [3, 2, 0] and all(v["passed"] for v in seen)
    assert obs[-1]["content"] == f"{REVEAL_MESSAGE} (New: sort(file_name: string).)"
    assert "sort" in [t.name for t in bfcl_env.tools]
    miss = next(t for t in bfcl.load_tasks("miss_param") if any(not s.gold for s in t.stages))
    index = next(i for i, s in enumerate(miss.stages) if not s.gold)
    for strict, expected in ((False, True), (True, False)):
        env = ToolUseEnv([miss], catalog=bfcl.catalog(), strict_irrelevance=strict, check_types=False,
                         allow_hidden_calls=True)
        env.reset(options={"task_id": miss.task_id})
        while env._stage < index:
            env.step(env.oracle_action())
        free = next(t.name for t in env.tools if not t.parameters.get("required"))
        env.step(calls(call(free, "{}")))  # a call where none is wanted
        _, _, _, _, info = env.step("done")
        assert info["stage_verdict"]["passed"] is expected
        assert info["signals"]["call_precision"] == 0.0 and info["signals"]["match_reward"] == 0.0


def test_wrong_call_fails_the_stage_and_partial_outcome_counts_stages():
    env = ToolUseEnv("generated", level="easy", n_tasks=3, outcome="partial")
    env.reset(options={"task_id": "gen-easy-train-2"})
    env.step("I will not do it.")  # no call where one was wanted
    _, _, _, _, info = env.step(env.oracle_action())
    _, _, terminated, _, info = env.step(env.oracle_action())
    assert terminated
    assert [v["passed"] for v in info["stage_verdicts"]] == [False, True]
    assert info["outcome"] == 0.5 and info["outcome_partial"] == 0.5 and info["outcome_bfcl"] == 0.0


def test_stage_is_closed_after_max_steps():
    env = ToolUseEnv("generated", level="easy", n_tasks=3, max_steps_per_stage=2)
    env.reset(options={"task_id": "gen-easy-train-0"})
    read = next(t.name for t in env.tools if t.name in ("get_balance", "list_notes", "list_events"))
    args = {"get_balance": {"account": "x"}, "list_notes": {}, "list_events": {"day": "mon"}}[read]
    env.step(calls(call(read, json.dumps(args))))
    obs, _, _, _, info = env.step(calls(call(read, json.dumps(args))))
    assert info["stage_verdict"]["closed"] and "closed after 2 steps" in obs[-2]["content"]


def test_get_state_set_state_branches_the_same_episode():
    env = ToolUseEnv("generated", level="hard", n_tasks=5)
    env.reset(options={"task_id": "gen-hard-train-4"})
    env.step(env.oracle_action())
    snapshot = env.get_state()
    anchor = env._anchor()
    rest_a = []
    done = False
    while not done:
        obs, r, term, trunc, info = env.step(env.oracle_action())
        rest_a.append((obs, r, info["anchor"], info["signals"]))
        done = term or trunc
    env.set_state(snapshot)
    assert env._anchor() == anchor
    rest_b = []
    done = False
    while not done:
        obs, r, term, trunc, info = env.step(env.oracle_action())
        rest_b.append((obs, r, info["anchor"], info["signals"]))
        done = term or trunc
    assert rest_a == rest_b


def test_anchor_is_stage_plus_state_hash():
    env = ToolUseEnv("generated", level="easy", n_tasks=3)
    _, info = env.reset(options={"task_id": "gen-easy-train-0"})
    start = info["anchor"]
    assert start.startswith("gen-easy-train-0|s0|")
    read = next(t.name for t in env.tools if t.name in ("list_notes", "list_events", "get_balance"))
    args = {"get_balance": {"account": "x"}, "list_notes": {}, "list_events": {"day": "mon"}}[read]
    _, _, _, _, info = env.step(calls(call(read, json.dumps(args))))
    assert info["anchor"] == start  # a read-only call leaves the state as it was
    _, _, _, _, info = env.step("ok")
    assert info["anchor"].startswith("gen-easy-train-0|s1|")
    env2 = ToolUseEnv("generated", level="easy", n_tasks=3)
    _, info2 = env2.reset(options={"task_id": "gen-easy-train-0"})
    assert info2["anchor"] == start


def test_reward_weights_give_matchtir_turn_rewards():
    env = ToolUseEnv("generated", level="medium", n_tasks=3, reward_weights={"match_reward": 1.0})
    record = play_episode(env, OracleAgent(), options={"task_id": "gen-medium-train-0"})
    rewards = [t.reward for t in record.turns]
    assert sum(rewards) == pytest.approx(len(env.task.stages) + 1.0)  # one per stage + outcome


def test_turngym_play_runs_an_episode_through_the_cli():
    out = io.StringIO()
    stdin = io.StringIO(":oracle\n:oracle\n:oracle\n:oracle\n:quit\n")
    code = cli_main(["play", "ToolUse-Easy-v0", "--seed", "0"], stdin=stdin, stdout=out)
    text = out.getvalue()
    assert code == 0 and "terminated" in text and "outcome 1" in text, text[-2000:]
    out = io.StringIO()
    code = cli_main(["play", "ToolUse-BFCL-Base-v0", "--task-id", "multi_turn_base_0"],
                    stdin=io.StringIO("ls(a=True)\nHere you go.\n:quit\n"), stdout=out)
    assert code == 0 and "stage_passed" in out.getvalue()


def test_bad_constructor_arguments_raise_clearly():
    with pytest.raises(ValueError, match="outcome"):
        ToolUseEnv("generated", outcome="best")
    with pytest.raises(ValueError, match="level"):
        ToolUseEnv("generated", level="insane")
    with pytest.raises(ValueError, match="unknown BFCL multi-turn category"):
        ToolUseEnv("bfcl", categories="simple")
    with pytest.raises(ValueError, match="tasks must be"):
        ToolUseEnv("webshop")


def test_prose_is_an_answer_and_only_call_formats_are_accepted():
    env = ToolUseEnv("generated", level="easy", n_tasks=3, action_formats=("python",))
    env.reset(options={"task_id": "gen-easy-train-1"})
    _, _, _, _, info = env.step("Sure (that is done).")
    assert info["signals"]["valid_action"] == 1.0 and "stage_verdict" in info
    assert "Functions:" in env.history[0]["content"]  # text-only agents get the function list
    with pytest.raises(ValueError, match="action formats"):
        ToolUseEnv("generated", action_formats=("tagged",))


def test_back_ends_never_mutate_the_tasks_gold_calls(bfcl_env):
    """post_tweet keeps its mentions list and mention() extends it: the gold data must not change."""
    task = bfcl_env.get_task("multi_turn_miss_param_90")
    before = repr([s.gold for s in task.stages])
    for _ in range(2):
        record = play_episode(bfcl_env, OracleAgent(), options={"task_id": task.task_id})
        assert record.outcome == 1.0
    assert repr([s.gold for s in task.stages]) == before


@pytest.mark.parametrize("matching", ["hard", "soft"])
def test_match_signals_score_a_partly_wrong_stage(matching):
    env = ToolUseEnv("generated", level="easy", n_tasks=5, matching=matching)
    env.reset(options={"task_id": "gen-easy-train-3"})
    gold = env.task.stages[0].gold[0]
    wrong = {k: ("zzz" if isinstance(v, str) else v) for k, v in gold.arguments.items()}
    env.step(calls(call(gold.name, json.dumps(wrong))))
    _, _, _, _, info = env.step("done")
    expected = (1 + 1 + sum(wrong[k] == v for k, v in gold.arguments.items())) / (2 + len(gold.arguments))
    tolerance = 0.02 if matching == "soft" else 1e-9
    assert info["signals"]["match_reward"] == pytest.approx(expected, abs=tolerance)
    assert info["signals"]["stage_passed"] == 0.0
