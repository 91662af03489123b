"""BFCL v4's multi-turn tasks, read from the data files inside the ``bfcl-eval`` package.

Four categories of 200 tasks each: ``base``, ``miss_func`` (a function is held out and
revealed at a later stage, whose user message is empty), ``miss_param`` (a stage lacks a
parameter: the right behaviour is to make no call and ask) and ``long_context`` (the
same back-ends loaded with long file contents and lists). Task ids are BFCL's own
(``multi_turn_base_0``) so results compare with the leaderboard's.

Only light modules of ``bfcl-eval`` are imported: its executable back-end classes and its
constants. Tool specs come from BFCL's function docs (what leaderboard models see), with
BFCL's type names mapped to JSON schema (``dict`` -> ``object``, ``float`` -> ``number``)
and properties put in the order of the method's signature, so positional arguments in
Python-call syntax bind as the method binds them.

Known problems in BFCL's data and back-ends (bfcl-eval 2026.3.23), and what turngym does:

* ``multi_turn_{base,miss_func,miss_param,long_context}_173``: the gold call
  ``close_ticket(ticket_id='ticket_001')`` passes a string where the doc says integer (the
  back-end then reports the ticket not found); an agent passing an integer fails BFCL's
  response check. turngym runs BFCL calls untyped, as BFCL's executor does, so its
  verdicts equal BFCL's (and the oracle passes).
* ``multi_turn_miss_func_49``: the gold answer of turn 1 calls ``tail``, which the task
  holds out until turn 3. BFCL's executor runs any method of the involved classes; so
  does turngym for BFCL tasks (``allow_hidden_calls``).
* ``TwitterAPI.post_tweet(tags=[], mentions=[])`` has mutable default arguments and
  ``mention`` extends a tweet's list in place, so a tweet posted without mentions and then
  mentioned on changes the default of every later call in the process (BFCL's own runs
  included). turngym passes omitted mutable defaults as fresh copies
  (:func:`.backends.mutable_defaults`) and every call's arguments as a fresh copy (as
  BFCL's ``eval`` of the call text does), so no episode leaks into another.
"""

from __future__ import annotations

import importlib
import inspect
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from turngym.core.actions import ToolSpec
from turngym.envs.tool_use.tasks import Catalog, Stage, ToolTask, parse_gold

CATEGORIES: tuple[str, ...] = ("base", "miss_func", "miss_param", "long_context")

BACKEND_CLASSES: dict[str, tuple[str, str]] = {
    "GorillaFileSystem": ("gorilla_file_system", "gorilla_file_system.json"),
    "MathAPI": ("math_api", "math_api.json"),
    "MessageAPI": ("message_api", "message_api.json"),
    "TwitterAPI": ("posting_api", "posting_api.json"),
    "TicketAPI": ("ticket_api", "ticket_api.json"),
    "TradingBot": ("trading_bot", "trading_bot.json"),
    "TravelAPI": ("travel_booking", "travel_booking.json"),
    "VehicleControlAPI": ("vehicle_control", "vehicle_control.json"),
}
"""BFCL's multi-turn back-end classes: module under ``func_source_code`` and function doc file."""

STATELESS: tuple[str, ...] = ("MathAPI",)
_MODULE_PREFIX = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": None}


def data_dir() -> Path:
    """``bfcl_eval/data`` of the installed package, or ``ImportError`` saying how to install it."""
    try:
        import bfcl_eval
    except ImportError as exc:
        raise ImportError(
            "BFCL tasks need the bfcl-eval package: pip install --no-deps bfcl-eval mpmath "
            "(its own pins are too strict to install with dependencies)"
        ) from exc
    return Path(bfcl_eval.__file__).parent / "data"


def _json_schema(spec: Any) -> Any:
    """A BFCL parameter schema in JSON-schema types (recursively)."""
    if isinstance(spec, dict):
        out = {k: _json_schema(v) for k, v in spec.items() if k != "type"}
        if "type" in spec:
            kind = _TYPES.get(spec["type"], spec["type"])
            if kind is not None:
                out["type"] = kind
        if "properties" in spec and isinstance(spec["properties"], dict):
            out["properties"] = {k: _json_schema(v) for k, v in spec["properties"].items()}
        return out
    if isinstance(spec, list):
        return [_json_schema(v) for v in spec]
    return spec


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """BFCL's back-end classes and their tool specs (loaded once)."""
    root = data_dir()
    classes: dict[str, type] = {}
    tools: dict[str, tuple[ToolSpec, ...]] = {}
    for class_name, (module, doc_file) in BACKEND_CLASSES.items():
        cls = getattr(importlib.import_module(f"{_MODULE_PREFIX}.{module}"), class_name)
        classes[class_name] = cls
        specs = []
        for line in (root / "multi_turn_func_doc" / doc_file).read_text().splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            parameters = _json_schema(doc["parameters"])
            parameters["type"] = "object"
            properties = parameters.get("properties", {})
            order = [p for p in inspect.signature(getattr(cls, doc["name"])).parameters if p != "self"]
            parameters["properties"] = {
                **{k: properties[k] for k in order if k in properties},
                **{k: v for k, v in properties.items() if k not in order},
            }
            parameters.setdefault("required", [])
            specs.append(ToolSpec(doc["name"], doc["description"], parameters))
        tools[class_name] = tuple(specs)
    # deterministic: tests/tool_use/test_determinism.py runs every task's gold calls twice
    return Catalog(classes, tools, STATELESS, deterministic=True)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@lru_cache(maxsize=8)
def load_category(category: str) -> tuple[ToolTask, ...]:
    """The 200 tasks of one BFCL multi-turn category, with their gold calls per stage."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown BFCL multi-turn category {category!r}; accepted: {', '.join(CATEGORIES)}")
    root = data_dir()
    entries = _read_jsonl(root / f"BFCL_v4_multi_turn_{category}.json")
    answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(root / "possible_answer" /
                                                               f"BFCL_v4_multi_turn_{category}.json")}
    cat = catalog()
    tasks = []
    for entry in entries:
        task_id = entry["id"]
        classes = tuple(entry["involved_classes"])
        all_tools = cat.tools_for(classes)
        missed = {int(k): tuple(v) for k, v in entry.get("missed_function", {}).items()}
        hidden = tuple(name for names in missed.values() for name in names)
        gold = answers[task_id]
        if len(gold) != len(entry["question"]):
            raise ValueError(f"{task_id}: {len(entry['question'])} user turns but {len(gold)} gold turns")
        stages = []
        for index, (messages, calls) in enumerate(zip(entry["question"], gold)):
            where = f"{task_id} turn {index}"
            parsed = tuple(c for source in calls for c in parse_gold(source, all_tools, where))
            stages.append(Stage(
                user=tuple(m["content"] for m in messages if m.get("role") == "user"),
                gold=parsed, gold_source=tuple(calls), reveal=missed.get(index, ()),
            ))
        tasks.append(ToolTask(
            task_id=task_id, category=category, stages=tuple(stages), classes=classes,
            initial_config=entry.get("initial_config", {}), long_context=category == "long_context",
            hidden=hidden,
        ))
    return tuple(tasks)


def load_tasks(categories: str | tuple[str, ...] | list[str] = CATEGORIES) -> list[ToolTask]:
    """Tasks of the given categories (``"all"`` or one name or a list), in BFCL's order."""
    if categories == "all":
        categories = CATEGORIES
    names = (categories,) if isinstance(categories, str) else tuple(categories)
    return [task for name in names for task in load_category(name)]
