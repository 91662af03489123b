"""Passages, corpora and QA tasks: the data every SearchQA source produces.

A :class:`Corpus` is an ordered list of :class:`Passage` (id, title, text);
retrievers index it and return passages. A :class:`QATask` is one question
with its answer aliases and, where the source knows them, the ids of its gold
supporting passages. Generated worlds and the dataset loaders both produce
these, so the environment does not care where a task came from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Passage:
    """One retrievable passage."""

    id: str
    title: str
    text: str

    def contents(self) -> str:
        """The Search-R1 corpus form: ``'"Title"\\ntext'``."""
        return f'"{self.title}"\n{self.text}'

    @classmethod
    def from_contents(cls, passage_id: str, contents: str) -> Passage:
        """Parse Search-R1's ``contents`` (a quoted title line, then the text)."""
        first, sep, rest = contents.partition("\n")
        if not sep:
            return cls(passage_id, "", contents.strip())
        title = first.strip()
        if len(title) >= 2 and title[0] == title[-1] == '"':
            title = title[1:-1]
        return cls(passage_id, title, rest.strip())


@dataclass(frozen=True)
class QATask:
    """A question, its reference answers (aliases) and its gold supporting passage ids.

    ``gold_ids`` is in hop order for generated tasks; ``hops`` is how many passages
    the answer needs (0 when unknown); ``chain`` holds what the oracle needs to
    follow the hops: one search query per gold passage.
    """

    task_id: str
    question: str
    answers: tuple[str, ...]
    gold_ids: tuple[str, ...] = ()
    hops: int = 0
    chain: tuple[str, ...] = ()
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.question.strip():
            raise ValueError(f"task {self.task_id!r} has an empty question")
        if not self.answers or not all(isinstance(a, str) and a.strip() for a in self.answers):
            raise ValueError(
                f"task {self.task_id!r} needs at least one non-empty answer, got {self.answers!r}"
            )


class Corpus(Sequence[Passage]):
    """An ordered, id-addressable collection of passages with a content hash."""

    def __init__(self, passages: Iterable[Passage]) -> None:
        self.passages: list[Passage] = list(passages)
        self.index_of: dict[str, int] = {}
        for i, p in enumerate(self.passages):
            if p.id in self.index_of:
                raise ValueError(f"duplicate passage id {p.id!r} (positions {self.index_of[p.id]} and {i})")
            self.index_of[p.id] = i
        self._hash: str | None = None

    def __len__(self) -> int:
        return len(self.passages)

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        return self.passages[i]

    def get(self, passage_id: str) -> Passage | None:
        """The passage with this id, or ``None``."""
        i = self.index_of.get(passage_id)
        return None if i is None else self.passages[i]

    def content_hash(self) -> str:
        """SHA-256 over every passage's id, title and text, in order: the index cache key."""
        if self._hash is None:
            digest = hashlib.sha256()
            for p in self.passages:
                digest.update(p.id.encode())
                digest.update(b"\x1f")
                digest.update(p.title.encode())
                digest.update(b"\x1f")
                digest.update(p.text.encode())
                digest.update(b"\x1e")
            self._hash = digest.hexdigest()
        return self._hash

    def indexed_text(self, i: int) -> str:
        """What retrievers index for passage ``i``: its title and text."""
        p = self.passages[i]
        return f"{p.title}\n{p.text}"
