"""#14 Done-when: `turngym eval` of SearchQA-Easy and CodeSandbox against a real `transformers serve`."""

import io
import json

from turngym.cli import main


def test_eval_against_a_real_openai_compatible_server(openai_server, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    target = tmp_path / "served"
    code = main(["eval", "turngym/SearchQA-Easy-v0", "turngym/CodeSandbox-v0",
                 "--agent", f"openai:{openai_server.model}@{openai_server.base_url}",
                 "--episodes", "2", "--max-turns", "2", "--max-tokens", "48", "--concurrency", "2",
                 "--request-timeout", "300",  # 60 s timed out (5 retries) at load ~4 on 2 cores
                 "--out", str(target), "--no-progress"], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    records = [json.loads(line) for line in (target / "episodes.jsonl").read_text().splitlines()]
    assert len(records) == 4
    assert all(r["status"] == "ok" and r["turns"] for r in records), [r["error"] for r in records]
    assert all(r["agent"] == f"openai:{openai_server.model}" for r in records)
    summary = json.loads((target / "summary.json").read_text())
    assert [g["env_id"] for g in summary["groups"]] == ["turngym/CodeSandbox-v0", "turngym/SearchQA-Easy-v0"]
    assert (target / "report.html").stat().st_size > 1000
    assert "OPENAI_API_KEY" not in (target / "run.json").read_text()
