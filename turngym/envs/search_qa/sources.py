"""Where a SearchQA environment's tasks, corpus and retriever come from.

:func:`load_source` turns the environment's arguments into a
:class:`TaskSource`. Sources are memoised per process (a few at a time), so
making many environments over one world or dataset builds or loads its index
once; its retriever is shared by those environments (BM25 search is
thread-safe).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from turngym.envs.search_qa.corpus import Corpus, QATask
from turngym.envs.search_qa.retrieval import BM25Retriever, Retriever

DISK_CACHE_MIN_PASSAGES = 20_000
"""Below this many passages the BM25 index is built in memory (faster than reading a cache)."""

RETRIEVERS: tuple[str, ...] = ("bm25", "dense", "http")


@dataclass
class TaskSource:
    """Tasks, the local corpus (if any) and the retriever searches go to."""

    tasks: list[QATask]
    corpus: Corpus | None
    retriever: Retriever
    by_id: dict[str, QATask] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("a task source needs at least one task")
        self.by_id = {}
        for task in self.tasks:
            if task.task_id in self.by_id:
                raise ValueError(f"duplicate task id {task.task_id!r}")
            self.by_id[task.task_id] = task


_CACHE: OrderedDict[tuple[Any, ...], TaskSource] = OrderedDict()
_CACHE_SIZE = 4
_LOCK = threading.Lock()


def _file_key(path: str | os.PathLike[str] | None) -> tuple[str, int, int] | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"dataset file not found: {p}")
    stat = p.stat()
    return (str(p.resolve()), stat.st_size, stat.st_mtime_ns)


def load_source(
    *,
    level: str = "medium",
    world_seed: int = 0,
    num_tasks: int = 1000,
    hotpotqa_path: str | os.PathLike[str] | None = None,
    qa_path: str | os.PathLike[str] | None = None,
    corpus_path: str | os.PathLike[str] | None = None,
    retriever: str | Retriever = "bm25",
    retriever_url: str | None = None,
    top_k: int = 5,
    cache_dir: str | os.PathLike[str] | bool | None = None,
) -> TaskSource:
    """Build (or reuse) the task source that these SearchQA arguments describe."""
    if isinstance(retriever, str) and retriever not in RETRIEVERS:
        raise ValueError(f"retriever must be one of {', '.join(RETRIEVERS)} or a Retriever object, "
                         f"got {retriever!r}")
    if not isinstance(retriever, str) and not hasattr(retriever, "search"):
        raise TypeError(f"retriever object {retriever!r} has no search(query, k) method")
    if hotpotqa_path is not None and qa_path is not None:
        raise ValueError("give either hotpotqa_path or qa_path, not both")
    key = (level, world_seed, num_tasks, _file_key(hotpotqa_path), _file_key(qa_path),
           _file_key(corpus_path), retriever if isinstance(retriever, str) else id(retriever),
           retriever_url, top_k, str(cache_dir))
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    source = _build(level, world_seed, num_tasks, hotpotqa_path, qa_path, corpus_path, retriever,
                    retriever_url, top_k, cache_dir)
    with _LOCK:
        _CACHE[key] = source
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return source


def _build(level: str, world_seed: int, num_tasks: int, hotpotqa_path: Any, qa_path: Any, corpus_path: Any,
           retriever: str | Retriever, retriever_url: str | None, top_k: int, cache_dir: Any) -> TaskSource:
    from turngym.envs.search_qa import loaders

    if hotpotqa_path is not None:
        corpus, tasks = loaders.load_hotpotqa(hotpotqa_path)
        return TaskSource(tasks, corpus, _retriever(retriever, corpus, retriever_url, cache_dir))
    if qa_path is not None:
        tasks = loaders.load_qa(qa_path)
        corpus = loaders.load_corpus(corpus_path) if corpus_path is not None else None
        if corpus is None and retriever != "http" and isinstance(retriever, str):
            raise ValueError("qa_path needs corpus_path (a JSONL of id/contents) unless retriever='http' "
                             "with retriever_url, or a Retriever object, is given")
        return TaskSource(tasks, corpus, _retriever(retriever, corpus, retriever_url, cache_dir))
    if corpus_path is not None:
        raise ValueError("corpus_path is given without qa_path; give the questions too")
    return _generated(level, world_seed, num_tasks, retriever, retriever_url, top_k, cache_dir)


def _generated(level: str, world_seed: int, num_tasks: int, retriever: str | Retriever,
               retriever_url: str | None, top_k: int, cache_dir: Any) -> TaskSource:
    from dataclasses import replace

    from turngym.envs.search_qa.world import LEVELS, generate_questions, generate_world

    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; accepted: {', '.join(LEVELS)}")
    if not isinstance(num_tasks, int) or num_tasks < 1:
        raise ValueError(f"num_tasks must be a positive int, got {num_tasks!r}")
    world = generate_world(replace(LEVELS[level], seed=world_seed))
    ret = _retriever(retriever, world.corpus, retriever_url, cache_dir)
    accept = None
    if level == "easy":
        # Easy means: searching the question text itself brings the answer page first.
        def accept(task: QATask) -> bool:
            hits = ret.search(task.question, 1)
            return bool(hits) and hits[0].passage.id == task.gold_ids[0]
    tasks = generate_questions(world, num_tasks, seed=0, accept=accept)
    tasks = [_with_level(t, level) for t in tasks]
    return TaskSource(tasks, world.corpus, ret)


def _with_level(task: QATask, level: str) -> QATask:
    from dataclasses import replace

    return replace(task, task_id=f"{level}-{task.task_id}")


def _retriever(kind: str | Retriever, corpus: Corpus | None, url: str | None, cache_dir: Any) -> Retriever:
    if not isinstance(kind, str):
        return kind
    if kind == "http":
        if not url:
            raise ValueError("retriever='http' needs retriever_url, e.g. 'http://127.0.0.1:8000/retrieve'")
        from turngym.envs.search_qa.remote import HTTPRetriever

        return HTTPRetriever(url, corpus=corpus)
    if corpus is None:
        raise ValueError(f"retriever={kind!r} needs a local corpus")
    if kind == "dense":
        from turngym.envs.search_qa.dense import DenseRetriever

        return DenseRetriever(corpus)
    if cache_dir is None:
        cache_dir = True if len(corpus) >= DISK_CACHE_MIN_PASSAGES else False
    return BM25Retriever.for_corpus(corpus, cache_dir)
