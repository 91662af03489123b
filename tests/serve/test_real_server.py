"""OpenAIAgent against a real OpenAI-compatible server: ``transformers serve`` with SmolLM2-135M-Instruct."""

import requests

import turngym
from turngym.agents.openai_agent import OpenAIAgent


def test_server_lists_the_local_model_folder_it_serves(openai_server):
    listed = requests.get(f"{openai_server.base_url}/models", timeout=10).json()
    assert [m["id"] for m in listed["data"]] == [openai_server.model]
    print(f"transformers serve ready in {openai_server.start_seconds:.1f} s")


def test_openai_agent_gets_a_chat_completion_and_plays_a_turn(openai_server):
    agent = OpenAIAgent(openai_server.model, openai_server.base_url, max_tokens=24, timeout_s=120)
    agent.reset(seed=0)
    reply = agent.act([{"role": "user", "content": "What is the capital of France? One word."}], env=None)
    assert isinstance(reply, str) and reply.strip()
    assert agent.last_response["choices"][0]["message"]["role"] == "assistant"
    assert "paris" in reply.lower()  # greedy decoding of this model answers it

    # A whole turn in a real environment: the reply is a valid or an invalid action, never an error.
    env = turngym.make("turngym/GuessNumber-v0")
    observation, _ = env.reset(seed=3)
    action = agent.act(observation, env)
    _, _, _, _, info = env.step(action)
    assert info["signals"]["valid_action"] in (0.0, 1.0)
    assert agent.act(observation, env) == action  # temperature 0: the same reply again
