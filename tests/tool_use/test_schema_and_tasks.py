"""Tool schemas derived from typed methods; generated tasks are seeded and split; the benchmark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

from turngym.envs.tool_use.apis import API_CLASSES, BankAPI
from turngym.envs.tool_use.generated import LEVELS, generate_task
from turngym.envs.tool_use.schema import tool_from_method, tools_from_class, type_schema


class Example:
    def book(self, city: str, nights: int, budget: float | None = None,
             tags: list[str] | None = None, kind: Literal["hotel", "flat"] = "hotel") -> dict:
        """Book a stay.

        Args:
            city: where to stay.
            nights: how many nights,
                at least one.
            budget: the most to spend.
        """
        return {}

    def untyped(self, x) -> None:
        """No annotation."""

    def nodoc(self, x: int) -> None:
        pass


def test_schema_comes_from_signature_and_docstring():
    spec = tool_from_method(Example.book)
    assert spec.name == "book" and spec.description == "Book a stay."
    assert spec.parameters["required"] == ["city", "nights"]
    props = spec.parameters["properties"]
    assert props["city"] == {"type": "string", "description": "where to stay."}
    assert props["nights"] == {"type": "integer", "description": "how many nights, at least one."}
    assert props["budget"]["type"] == "number"
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["kind"] == {"enum": ["hotel", "flat"], "type": "string"}
    with pytest.raises(TypeError, match="no type annotation"):
        tool_from_method(Example.untyped)
    with pytest.raises(TypeError, match="no docstring"):
        tool_from_method(Example.nodoc)
    with pytest.raises(TypeError, match="no JSON schema"):
        type_schema(set)


def test_generated_apis_schemas_match_their_methods():
    for cls in API_CLASSES.values():
        specs = tools_from_class(cls)
        methods = [n for n, f in vars(cls).items() if not n.startswith("_") and callable(f)]
        assert [s.name for s in specs] == methods
    deposit = next(s for s in tools_from_class(BankAPI) if s.name == "deposit")
    assert deposit.parameters["properties"]["amount"]["type"] == "number"


def test_generated_tasks_are_deterministic_split_and_levelled():
    assert generate_task("hard", "train", 5) == generate_task("hard", "train", 5)
    train = {json.dumps([[c.arguments for c in s.gold] for s in generate_task("medium", "train", i).stages])
             for i in range(30)}
    test = {json.dumps([[c.arguments for c in s.gold] for s in generate_task("medium", "test", i).stages])
            for i in range(30)}
    assert train != test
    for level, spec in LEVELS.items():
        task = generate_task(level, "test", 1)
        assert len(task.stages) >= spec.stages and len(task.classes) == spec.domains + spec.distractors
    hard = [generate_task("hard", "train", i) for i in range(20)]
    assert all(t.hidden for t in hard)  # a held-out function, revealed later
    assert all(any(s.reveal for s in t.stages) for t in hard)
    assert all(sum(not s.gold for s in t.stages) >= 2 for t in hard)  # ask-instead-of-call stages
    with pytest.raises(ValueError, match="level"):
        generate_task("extreme", "train", 0)


def test_benchmark_prints_one_json_object():
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "tool_use.py"
    out = subprocess.run([sys.executable, str(script), "--limit", "12", "--group", "3", "--chunk", "6"],
                         capture_output=True, text=True, timeout=300, check=True).stdout.strip().splitlines()
    assert len(out) == 1
    report = json.loads(out[0])
    assert report["tasks"] == 12
    sides = ("turngym", "turngym_no_lazy_gold", "bfcl_eval", "bfcl_eval_checker")
    for workload, episodes in (("cold", 12), ("grouped", 36), ("cold_mutated", 12), ("grouped_mutated", 36)):
        side = report[workload]
        assert side["verdicts_agree"] is True, side.get("verdict_differences")
        assert side["failed_tasks"] == (12 if workload.endswith("mutated") else 0)
        assert side["turngym"]["failed_episodes"] == side["turngym_no_lazy_gold"]["failed_episodes"]
        assert side["turngym"]["episodes"] == side["bfcl_eval"]["episodes"] == episodes
        calls = side["turngym"]["calls"]
        assert calls == side["turngym_no_lazy_gold"]["calls"] == side["bfcl_eval"]["calls"] > 0
        assert calls == side["bfcl_eval_checker"]["calls"]
        assert side["speedup"] > 0 and side["speedup_no_lazy_gold"] > 0 and side["speedup_vs_checker"] > 0
        assert all(side[s]["does"] for s in sides) and len(side["load_average_1min"]) == 2
    assert report["cold_mutated"]["turngym"]["calls"] < report["cold"]["turngym"]["calls"]
