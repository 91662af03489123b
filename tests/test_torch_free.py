"""`pip install turngym` without the `train` extra: environments, model-free verifiers, estimators
and benchmarking an HTTP endpoint work where torch, transformers and peft cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "peft", "accelerate", "gguf", "vllm", "sentence_transformers")

SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    HEAVY = %(heavy)r

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HEAVY:
                raise ImportError(f"{name} is not installed (blocked by the test)")
            return None

    sys.meta_path.insert(0, Blocker())
    try:
        import torch  # noqa: F401
        raise SystemExit("the blocker failed: torch imported")
    except ImportError:
        pass

    import turngym
    from turngym.agents.openai_agent import OpenAIAgent
    from turngym.agents.scripted import OracleAgent, RandomAgent
    from turngym.bench.evaluate import evaluate
    from turngym.rollout import summary_metrics, play_episodes
    from turngym.trainers.advantages import TurnBatch, estimate
    from turngym.verifiers.answer_match import answer_f1

    # environments and their verifiers
    for env_id in ("turngym/SearchQA-Easy-v0", "turngym/CodeSandbox-v0"):
        records = play_episodes(env_id, OracleAgent(), [0, 1], progress=False)
        assert all(r.outcome == 1.0 for r in records), [(r.outcome, r.error) for r in records]
    assert answer_f1("Paris France", ["paris"]) > 0.6

    # estimators
    batch = TurnBatch([0, 0, 1, 1], [0, 1, 2, 3], [0, 0, 0, 0], [1.0, 0.0, 0.5, 0.5])
    assert list(estimate("grpo", batch).advantages[:2]) != [0.0, 0.0]

    # an OpenAI-compatible endpoint (a loopback server answering with the oracle's action)
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert body["messages"][0]["role"] == "system"
            reply = {"choices": [{"message": {"role": "assistant", "content": "<guess>8</guess>"}}]}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    agent = OpenAIAgent("m", f"http://127.0.0.1:{server.server_port}/v1", max_retries=0)
    records, summary = evaluate("turngym/GuessNumber-v0", agent, episodes=3,
                                env_kwargs={"max_turns": 2})
    assert summary.episodes == 3 and summary.failed == 0, [r.error for r in records]
    assert summary_metrics(records)["episodes"] == 3
    server.shutdown()

    bad = [m for m in sys.modules if m.split(".")[0] in HEAVY]
    assert not bad, bad
    print("TORCH-FREE OK")
    """
)


def test_core_parts_work_where_torch_cannot_be_imported(tmp_path):
    script = tmp_path / "torch_free.py"
    script.write_text(SCRIPT % {"heavy": HEAVY} + "\n", encoding="utf-8")
    register = (f"sys.path.insert(0, {str(ROOT)!r})\nimport turngym\n"
                "turngym.register('GuessNumber-v0', 'tests.toy_envs:GuessNumberEnv', 'x')\n")
    text = script.read_text(encoding="utf-8").replace("import turngym\n", register, 1)
    script.write_text(text, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "TORCH-FREE OK" in done.stdout


def test_the_plain_install_does_not_pull_torch():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {dep.split(">")[0].split("<")[0].split("=")[0].split(";")[0].split("[")[0].strip().lower()
             for dep in project["dependencies"]}
    assert not names & {"torch", "transformers", "peft", "accelerate", "gguf"}, names
    train = " ".join(project["optional-dependencies"]["train"])
    for name in ("torch", "transformers", "peft"):
        assert name in train
