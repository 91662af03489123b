"""The Search-R1 /retrieve client against a real HTTP server on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium as gym
import pytest

import turngym  # noqa: F401
from turngym.agents.scripted import OracleAgent
from turngym.envs.search_qa.remote import HTTPRetriever, RetrievalError
from turngym.envs.search_qa.retrieval import BM25Retriever
from turngym.envs.search_qa.world import LEVELS, generate_questions, generate_world
from turngym.rollout import play_episode


class _Server:
    """A Search-R1-protocol server over a local BM25 index (or failing on demand)."""

    def __init__(self, retriever):
        self.retriever = retriever
        self.requests = []
        self.fail = False
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append((self.path, body))
                if owner.fail or self.path != "/retrieve":
                    self.send_response(500 if owner.fail else 404)
                    self.end_headers()
                    self.wfile.write(b"retriever exploded")
                    return
                result = [[{"document": {"id": h.passage.id, "contents": h.passage.contents()},
                            "score": h.score} for h in owner.retriever.search(q, body["topk"])]
                          for q in body["queries"]]
                payload = json.dumps({"result": result}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/retrieve"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def world():
    return generate_world(LEVELS["medium"])


@pytest.fixture
def server(world):
    srv = _Server(BM25Retriever.for_corpus(world.corpus, cache_dir=None))
    yield srv
    srv.close()


def test_client_speaks_the_protocol_and_matches_local_results(world, server):
    local = server.retriever
    remote = HTTPRetriever(server.url)  # no local corpus: passages parsed from "contents"
    for task in generate_questions(world, 10):
        got = remote.search(task.question, 3)
        want = local.search(task.question, 3)
        assert [(h.passage.id, h.passage.title, h.passage.text) for h in got] == [
            (h.passage.id, h.passage.title, h.passage.text) for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want])
    path, body = server.requests[0]
    assert path == "/retrieve" and body == {"queries": [generate_questions(world, 1)[0].question],
                                            "topk": 3, "return_scores": True}
    assert len(remote.search_batch(["a query", "another"], 2)) == 2


def test_env_on_a_remote_retriever(world, server, tmp_path):
    tasks = generate_questions(world, 5)
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"id": t.task_id, "question": t.question,
                                      "golden_answers": list(t.answers)}) + "\n" for t in tasks))
    env = gym.make("turngym/SearchQA-v0", qa_path=qa, retriever="http", retriever_url=server.url)
    for seed in range(5):
        record = play_episode(env, OracleAgent(), seed=seed)
        assert record.outcome == 1.0
        assert "[1] " in record.turns[0].observation[0]["content"]


def test_server_failures_become_observations_not_exceptions(world, server, tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"question": "Who?", "golden_answers": ["Nobody"]}) + "\n")
    env = gym.make("turngym/SearchQA-v0", qa_path=qa, retriever="http", retriever_url=server.url)
    env.reset(seed=0)
    server.fail = True
    obs, _, terminated, truncated, info = env.step("<search>anything</search>")
    assert "search failed" in obs[0]["content"] and "HTTP 500" in obs[0]["content"]
    assert not terminated and not truncated and "retrieval_error" in info
    with pytest.raises(RetrievalError, match="HTTP 500"):
        HTTPRetriever(server.url).search("x", 1)


def test_unreachable_server_and_bad_url_are_named():
    with pytest.raises(RetrievalError, match="could not reach"):
        HTTPRetriever("http://127.0.0.1:9/retrieve", timeout=2).search("x", 1)
    with pytest.raises(ValueError, match="http://"):
        HTTPRetriever("ftp://example/retrieve")
