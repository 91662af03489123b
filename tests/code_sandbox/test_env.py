"""CodeSandboxEnv: the oracle on all of HumanEval, broken solutions, bad input, the protocol."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import turngym  # noqa: F401  (registers the ids)
from turngym.agents.scripted import OracleAgent, RandomAgent
from turngym.envs.code_sandbox.env import CodeSandboxEnv, normalise_code
from turngym.envs.code_sandbox.mutants import broken_solution
from turngym.envs.code_sandbox.tasks import CodeTask
from turngym.rollout import play_episode


@pytest.fixture(scope="module")
def env(pool_sandbox):
    environment = CodeSandboxEnv(sandbox=pool_sandbox, max_turns=20, max_invalid_turns=20)
    yield environment
    environment.close()


def test_oracle_passes_all_164_and_broken_variants_fail(env):
    assert len(env.tasks) == 164
    failures = []
    for task in env.tasks:
        record = play_episode(env, OracleAgent(), options={"task_id": task.task_id})
        if record.status != "ok" or record.outcome != 1.0 or not record.terminated:
            failures.append((task.task_id, record.outcome, record.error))
    assert failures == []
    survivors = []
    for task in env.tasks:
        env.reset(options={"task_id": task.task_id})
        _, reward, terminated, _, info = env.step(f"<submit>{broken_solution(task)}</submit>")
        assert terminated
        if info["signals"]["all_passed"] != 0.0 or reward >= 1.0:
            survivors.append(task.task_id)
    assert survivors == []


def test_run_shows_output_examples_and_signals(env):
    obs, info = env.reset(options={"task_id": "HumanEval/0"})
    assert "has_close_elements" in obs[1]["content"] and info["anchor"] == "HumanEval/0|start"
    wrong = ("def has_close_elements(numbers, threshold):\n"
             "    print('debug', len(numbers))\n    return False\n")
    obs, reward, terminated, _truncated, info = env.step(f"<run>\n```python\n{wrong}```\n</run>")
    text = obs[0]["content"]
    assert "debug 3" in text and "Examples: 1/2 passed." in text and "expected True, got False" in text
    assert info["signals"]["tests_passed"] == pytest.approx(0.5)
    assert info["signals"]["evidence_gain"] == pytest.approx(0.5)
    assert info["signals"]["ran_ok"] == 1.0 and not terminated and reward == 0.0
    right = env.unwrapped.task.reference
    _, _, _, _, info = env.step({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c7", "type": "function", "function": {"name": "run", "arguments": {"code": right}}}]})
    assert info["signals"]["tests_passed"] == 1.0 and info["signals"]["evidence_gain"] == pytest.approx(0.5)
    obs, reward, terminated, _, info = env.step({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c8", "type": "function", "function": {"name": "submit", "arguments": {"code": right}}}]})
    assert obs[0]["role"] == "tool" and obs[0]["tool_call_id"] == "c8"
    assert terminated and info["outcome"] == reward and info["signals"]["all_passed"] == 1.0


@pytest.mark.parametrize("code, expected", [
    ("def has_close_elements(:\n", "SyntaxError"),
    ("x = 1\n", "does not define has_close_elements"),
    ("import os\nos.kill(os.getppid(), 9)\n", "PermissionError"),
    ("\x00\x01\x02\xff\xfe binary", "null bytes"),
    ("import os\nos._exit(0)\n", "exited before the tests could report"),
    ("while True:\n    pass\n", "timeout"),
])
def test_bad_code_gets_a_clear_observation(env, code, expected):
    env.reset(options={"task_id": "HumanEval/0"})
    for action in (f"<run>{code}</run>", f"<submit>{code}</submit>"):
        obs, reward, terminated, _truncated, info = env.step(action)
        assert expected in obs[0]["content"], obs[0]["content"]
        assert info["signals"]["ran_ok"] == 0.0
    assert terminated and reward == 0.0 and info["signals"]["tests_passed"] == 0.0


def test_empty_code_and_malformed_actions_are_invalid(env):
    env.reset(options={"task_id": "HumanEval/0"})
    obs, _, _, _, info = env.step("<run>```python\n```</run>")
    assert info["signals"]["valid_action"] == 0.0 and "empty fenced block" in obs[0]["content"]
    obs, _, _, _, info = env.step("<execute>print(1)</execute>")
    assert info["signals"]["valid_action"] == 0.0 and "<run>" in obs[0]["content"]


def test_long_output_is_cut_with_a_note(pool_sandbox):
    environment = CodeSandboxEnv(sandbox=pool_sandbox, output_chars=500)
    environment.reset(options={"task_id": "HumanEval/0"})
    obs, *_ = environment.step("<run>for i in range(5000):\n    print(i)</run>")
    text = obs[0]["content"]
    assert "characters of stdout cut" in text and "4999" in text and len(text) < 1500


def test_anchor_ignores_comments_and_formatting(env):
    env.reset(options={"task_id": "HumanEval/0"})
    _, _, _, _, first = env.step("<run>def f(a):\n    return a  # note\n</run>")
    _, _, _, _, second = env.step("<run>\n\ndef f( a ):\n    return a\n</run>")
    _, _, _, _, third = env.step("<run>def f(a):\n    return a + 1\n</run>")
    assert first["anchor"] == second["anchor"] != third["anchor"]
    assert normalise_code("x=1 # c") == normalise_code("x = 1")


def test_turn_limit_truncates(pool_sandbox):
    environment = CodeSandboxEnv(sandbox=pool_sandbox, max_turns=2)
    environment.reset(options={"task_id": "HumanEval/1"})
    assert environment.step("<run>print(1)</run>")[3] is False
    _, _, terminated, truncated, info = environment.step("<run>print(2)</run>")
    assert truncated and not terminated and info["truncated_reason"] == "max_turns"


def test_outcome_mixes_dense_and_all_pass(pool_sandbox):
    task = CodeTask("t", "Return x + 1.", "inc", ("assert inc(1) == 2", "assert inc(-1) == 0"),
                    reference="def inc(x):\n    return x + 1\n")
    environment = CodeSandboxEnv([task], sandbox=pool_sandbox, alpha=0.25)
    environment.reset()
    _, reward, _, _, info = environment.step("<submit>def inc(x):\n    return 2</submit>")
    assert info["signals"]["tests_passed"] == 0.5 and info["signals"]["dense_reward"] == pytest.approx(0.5)
    assert reward == pytest.approx(0.25 * 0.5)
    environment.reset()
    _, reward, _, _, _ = environment.step("<submit>def inc(x):\n    return 2</submit>")
    assert reward < 0.25 * 0.5  # the passed test was seen to be easy: it now weighs less


def test_state_round_trip(env):
    env.reset(options={"task_id": "HumanEval/2"})
    env.step("<run>print(1)</run>")
    state = env.get_state()
    env.reset(options={"task_id": "HumanEval/3"})
    env.set_state(state)
    assert env.task_id == "HumanEval/2" and env.turn == 1 and env.get_state() == state


def test_unknown_task_id_is_a_clear_error(env):
    with pytest.raises(ValueError, match="unknown task_id 'nope'"):
        env.reset(options={"task_id": "nope"})


def test_registered_ids_pass_check_env_and_mbpp_sample_is_solvable():
    for env_id in ("turngym/CodeSandbox-v0", "turngym/CodeSandbox-MBPP-v0"):
        environment = gym.make(env_id)
        check_env(environment.unwrapped, skip_render_check=True)
        environment.close()
    mbpp = gym.make("turngym/CodeSandbox-MBPP-v0")
    for task in mbpp.unwrapped.tasks:
        record = play_episode(mbpp, OracleAgent(), options={"task_id": task.task_id})
        assert record.outcome == 1.0
    mbpp.close()


def test_random_agent_never_breaks_the_env(env):
    for seed in range(5):
        record = play_episode(env, RandomAgent(seed=seed), seed=seed)
        assert record.status == "ok" and record.turns


def test_concurrent_episodes_parse_code_safely():
    """`turngym eval --concurrency` steps CodeSandbox episodes in threads; CPython 3.11's ast module
    keeps its recursion depth in shared state (gh-106905), so a concurrent parse once failed an
    episode with "SystemError: AST constructor recursion depth mismatch". Every turngym ast call
    holds turngym.core.pyast.AST_LOCK."""
    import threading

    from turngym.core.actions import ToolSpec, parse_python_calls
    from turngym.envs.code_sandbox.env import normalise_code

    code = "def f(x):\n" + "".join(f"    y{i} = [[{i}, ({i}, {{'a': [x]}})]]\n" for i in range(30))
    tools = [ToolSpec("run", "r", {"type": "object", "properties": {"code": {"type": "string"}}})]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(150):
                assert normalise_code(code).startswith("Module(")
                assert parse_python_calls("run(code='[[1, (2, {3: [4]})]]')", tools)[0].name == "run"
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
