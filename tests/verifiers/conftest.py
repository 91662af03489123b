"""A loopback OpenAI-compatible server double for the judge tests, and recorded episodes to judge."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.toy_envs import GuessNumberEnv
from turngym.rollout import play_episodes


class Script:
    """What the double answers: ``replies`` in order, then ``default`` for every later request.

    A reply is ``(status, body, delay_s)`` (a dict body is sent as JSON, bytes as they are), or a
    function of the request body returning one.
    """

    def __init__(self) -> None:
        self.replies: list = []
        self.default = None
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.lock = threading.Lock()


def completion(content: str) -> dict:
    """A chat completion whose assistant message is ``content``."""
    return {"id": "x", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


@pytest.fixture
def judge_server():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with script.lock:
                script.requests.append(body)
                script.headers.append(dict(self.headers))
                reply = script.replies.pop(0) if script.replies else script.default
            if callable(reply):
                reply = reply(body)
            status, payload, delay = reply
            time.sleep(delay)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield script
    httpd.shutdown()
    httpd.server_close()


class GuessAgent:
    """Guesses the numbers it is given, in order (a scripted agent)."""

    name = "scripted"

    def __init__(self, guesses):
        self.guesses = list(guesses)

    def reset(self, seed=None):
        self.left = list(self.guesses)

    def act(self, history, env):
        return f"<guess>{self.left.pop(0)}</guess>"


def guess_episodes(guesses=(8, 4, 5), target=5, episodes=1, env=GuessNumberEnv):
    """Episodes of GuessNumber (target ``target``) played by :class:`GuessAgent`, through the runner."""
    tasks = [{"options": {"task_id": f"n-{target}"}, "seed": i} for i in range(episodes)]
    return play_episodes(env, GuessAgent(guesses), tasks, progress=False)
