"""OpenAIAgent against a real HTTP server on 127.0.0.1 serving canned chat completions."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.toy_envs import GuessNumberEnv
from turngym.agents.openai_agent import OpenAIAgent, OpenAIAgentError
from turngym.rollout import play_episodes


class Script:
    """What the server answers, one entry per request: (status, body, delay_s) or "drop"."""

    def __init__(self) -> None:
        self.replies: list = []
        self.requests: list[dict] = []


def completion(content=None, tool_calls=None) -> dict:
    message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": message}]}


@pytest.fixture
def server():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            script.requests.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
            reply = script.replies.pop(0) if script.replies else (200, completion("<guess>8</guess>"), 0)
            if reply == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, body, delay = reply
            time.sleep(delay)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield script
    httpd.shutdown()
    httpd.server_close()


def agent(url, **kw) -> OpenAIAgent:
    kw.setdefault("backoff_s", 0.01)
    kw.setdefault("timeout_s", 2.0)
    return OpenAIAgent("test-model", url, api_key="k", **kw)


def test_plays_with_tools_and_seed(server):
    call = {"id": "c1", "type": "function", "function": {"name": "guess", "arguments": {"number": 8}}}
    server.replies = [(200, completion(None, [call]), 0), (200, completion("<guess>4</guess>"), 0)]
    env = GuessNumberEnv()
    history, _ = env.reset(options={"task_id": "n-4"})
    bot = agent(server.url, seed=1)
    bot.reset(seed=42)
    action = bot.act(history, env)
    assert action["tool_calls"][0]["function"] == {"name": "guess", "arguments": '{"number": 8}'}
    observation, *_ = env.step(action)
    assert observation[0]["role"] == "tool" and "lower" in observation[0]["content"]
    body = server.requests[0]["body"]
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert body["seed"] == 42 and body["model"] == "test-model"
    assert body["tools"][0]["function"]["name"] == "guess"
    assert bot.act([*history, action, *observation], env) == "<guess>4</guess>"


def test_retries_429_5xx_and_dropped_connections(server):
    server.replies = [(429, {"error": "slow down"}, 0), (503, b"busy", 0), "drop", (200, completion("hi"), 0)]
    assert agent(server.url).act([{"role": "user", "content": "x"}], GuessNumberEnv()) == "hi"
    assert len(server.requests) == 4


def test_timeouts_are_retried_then_reported(server):
    server.replies = [(200, completion("late"), 1.0), (200, completion("late"), 1.0)]
    with pytest.raises(OpenAIAgentError, match=r"failed after 2 attempt\(s\); last: no answer within 0.2 s"):
        agent(server.url, timeout_s=0.2, max_retries=1).act([{"role": "user", "content": "x"}], None)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ((200, b"<html>oops</html>", 0), "not JSON"),
        ((200, {"choices": []}, 0), "without choices"),
        ((200, {"choices": [{"message": {"role": "assistant"}}]}, 0), "neither content nor tool_calls"),
        ((400, {"error": "bad model"}, 0), "HTTP 400"),
    ],
)
def test_garbage_and_client_errors_are_clear_and_not_retried(server, reply, message):
    server.replies = [reply]
    with pytest.raises(OpenAIAgentError, match=message):
        agent(server.url).act([{"role": "user", "content": "x"}], None)
    assert len(server.requests) == 1


def test_a_failing_endpoint_fails_only_its_episode(server):
    server.replies = [
        (200, completion("<guess>8</guess>"), 0),  # episode 0: right at once
        (200, b"garbage", 0),  # episode 1: fails
        (200, completion("<guess>8</guess>"), 0),  # episode 2: right at once
    ]
    tasks = [{"options": {"task_id": "n-8"}}] * 3
    records = play_episodes(lambda: GuessNumberEnv(), agent(server.url), tasks, progress=False)
    assert [r.status for r in records] == ["ok", "failed", "ok"]
    assert "not JSON" in records[1].error and records[0].outcome == records[2].outcome == 1.0
