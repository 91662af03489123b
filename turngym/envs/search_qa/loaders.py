"""Loaders for real QA datasets: HotpotQA, Search-R1-style QA and corpus files.

- :func:`load_hotpotqa`: HotpotQA's JSON (a list of records with ``_id``,
  ``question``, ``answer``, ``supporting_facts`` and ``context``; JSON lines
  also accepted). The context paragraphs of all records form the corpus; the
  paragraphs named by ``supporting_facts`` are each task's gold passages.
- :func:`load_qa`: Search-R1 / FlashRAG QA, JSONL or Parquet, one question per
  row with ``question`` and ``golden_answers`` (Search-R1's processed Parquet
  ``reward_model.ground_truth.target`` is accepted too).
- :func:`load_corpus`: a corpus JSONL of ``{"id", "contents"}`` where
  ``contents`` is ``'"Title"\\ntext'`` (or ``{"id", "title", "text"}``).

Bad files raise :class:`DatasetError` naming the file and line (or record) and
saying what is accepted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from turngym.envs.search_qa.corpus import Corpus, Passage, QATask


class DatasetError(ValueError):
    """A dataset file that cannot be read as the format it should be in."""


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) for every non-blank line."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot open ({exc.strerror})") from exc
    with handle:
        try:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(
                        f"{path}, line {lineno}: invalid JSON ({exc.msg} at column {exc.colno}); "
                        "each line must be one JSON object"
                    ) from None
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """Records of a JSON array file or a JSON-lines file, with where each is ("line N" / "record N")."""
    try:
        head = path.open(encoding="utf-8").read(4096).lstrip()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot open ({exc.strerror})") from exc
    if head.startswith("["):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{path}, line {exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        for i, record in enumerate(data):
            yield f"record {i}", record
    else:
        for lineno, record in _iter_jsonl(path):
            yield f"line {lineno}", record


def _need(
    path: Path, where: str, record: Any, key: str, kinds: type | tuple[type, ...], accepted: str
) -> Any:
    if not isinstance(record, dict):
        kind = type(record).__name__
        raise DatasetError(f"{path}, {where}: expected a JSON object, got {kind}; {accepted}")
    if key not in record:
        raise DatasetError(f"{path}, {where}: missing field {key!r}; {accepted}")
    value = record[key]
    if not isinstance(value, kinds):
        raise DatasetError(f"{path}, {where}: field {key!r} has type {type(value).__name__}; {accepted}")
    return value


_HOTPOT = ("HotpotQA records need _id, question, answer (strings), supporting_facts "
           "([[title, sentence index], ...]) and context ([[title, [sentences]], ...])")


def load_hotpotqa(path: str | os.PathLike[str]) -> tuple[Corpus, list[QATask]]:
    """Read a HotpotQA file: the corpus of all context paragraphs and one task per record."""
    path = Path(path)
    passages: dict[tuple[str, str], Passage] = {}
    title_uses: dict[str, int] = {}
    tasks: list[QATask] = []
    for where, record in _read_records(path):
        question = _need(path, where, record, "question", str, _HOTPOT)
        answer = _need(path, where, record, "answer", str, _HOTPOT)
        context = _need(path, where, record, "context", list, _HOTPOT)
        facts = _need(path, where, record, "supporting_facts", list, _HOTPOT)
        task_id = str(record.get("_id", f"hotpot-{len(tasks)}"))
        ids_by_title: dict[str, str] = {}
        for item in context:
            if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                    or not isinstance(item[1], list) or not all(isinstance(s, str) for s in item[1])):
                raise DatasetError(f"{path}, {where}: a context entry is not [title, [sentences]]; {_HOTPOT}")
            title, text = item[0], "".join(item[1]).strip()
            passage = passages.get((title, text))
            if passage is None:
                uses = title_uses.get(title, 0)
                title_uses[title] = uses + 1
                passage = Passage(title if uses == 0 else f"{title}#{uses}", title, text)
                passages[(title, text)] = passage
            ids_by_title[title] = passage.id
        gold: list[str] = []
        for fact in facts:
            if not isinstance(fact, list) or not fact or not isinstance(fact[0], str):
                raise DatasetError(f"{path}, {where}: a supporting fact is not [title, index]; {_HOTPOT}")
            if fact[0] not in ids_by_title:
                raise DatasetError(
                    f"{path}, {where}: supporting fact title {fact[0]!r} is not in its context"
                )
            if ids_by_title[fact[0]] not in gold:
                gold.append(ids_by_title[fact[0]])
        if not answer.strip() or not question.strip():
            raise DatasetError(f"{path}, {where}: empty question or answer")
        tasks.append(QATask(task_id, question.strip(), (answer.strip(),), tuple(gold), hops=len(gold),
                            meta={"type": str(record.get("type", "")),
                                  "level": str(record.get("level", ""))}))
    if not tasks:
        raise DatasetError(f"{path}: no records found; {_HOTPOT}")
    return Corpus(passages.values()), tasks


_QA = ("Search-R1 QA rows need question (string) and golden_answers (a string or list of strings), "
       "or reward_model.ground_truth.target; id is optional")


def _qa_rows(path: Path) -> Iterator[tuple[str, Any]]:
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from None
        for i, row in enumerate(table.to_pylist()):
            yield f"row {i}", row
    else:
        yield from _read_records(path)


def load_qa(path: str | os.PathLike[str]) -> list[QATask]:
    """Read Search-R1-style QA (``.jsonl``/``.json`` or ``.parquet``) into tasks (no gold passages)."""
    path = Path(path)
    tasks: list[QATask] = []
    seen: set[str] = set()
    for where, row in _qa_rows(path):
        question = _need(path, where, row, "question", str, _QA).strip()
        answers: Any = row.get("golden_answers")
        if answers is None:
            target = ((row.get("reward_model") or {}).get("ground_truth") or {}).get("target")
            answers = target
        if isinstance(answers, str):
            answers = [answers]
        if (not isinstance(answers, (list, tuple)) or not answers
                or not all(isinstance(a, str) and a.strip() for a in answers)):
            raise DatasetError(f"{path}, {where}: golden_answers must be a non-empty string or list of "
                               f"non-empty strings, got {answers!r}; {_QA}")
        if not question:
            raise DatasetError(f"{path}, {where}: empty question; {_QA}")
        task_id = str(row.get("id", f"{path.stem}-{len(tasks)}"))
        if task_id in seen:
            raise DatasetError(f"{path}, {where}: duplicate id {task_id!r}")
        seen.add(task_id)
        tasks.append(QATask(task_id, question, tuple(a.strip() for a in answers)))
    if not tasks:
        raise DatasetError(f"{path}: no questions found; {_QA}")
    return tasks


_CORPUS = 'corpus lines need id and contents (\'"Title"\\ntext\'), or id, title and text'


def load_corpus(path: str | os.PathLike[str]) -> Corpus:
    """Read a Search-R1 corpus JSONL into a :class:`Corpus`."""
    path = Path(path)
    passages: list[Passage] = []
    seen: dict[str, str] = {}
    for where, row in _read_records(path):
        if not isinstance(row, dict) or "id" not in row:
            raise DatasetError(f"{path}, {where}: missing field 'id'; {_CORPUS}")
        pid = str(row["id"])
        if pid in seen:
            raise DatasetError(f"{path}, {where}: duplicate passage id {pid!r} (first at {seen[pid]})")
        seen[pid] = where
        if isinstance(row.get("contents"), str):
            passages.append(Passage.from_contents(pid, row["contents"]))
        elif isinstance(row.get("text"), str):
            passages.append(Passage(pid, str(row.get("title", "")), row["text"]))
        else:
            raise DatasetError(f"{path}, {where}: no string 'contents' or 'text'; {_CORPUS}")
    if not passages:
        raise DatasetError(f"{path}: no passages found; {_CORPUS}")
    return Corpus(passages)
