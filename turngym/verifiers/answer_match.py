"""Answer matching for question answering: SQuAD-normalised exact match and token F1.

The normalisation is SQuAD's (lower case, drop punctuation, drop the articles
"a", "an", "the", squeeze white space), so scores are comparable with the
HotpotQA, Search-R1 and IGPO papers. A prediction is scored against every
reference alias and the best score counts. Pure functions: no environment, no
I/O, so trainers and benchmarks can call them on any text.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower().translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _aliases(references: str | Iterable[str]) -> list[str]:
    refs = [references] if isinstance(references, str) else list(references)
    if not refs or not all(isinstance(r, str) for r in refs):
        raise ValueError(f"references must be a non-empty string or list of strings, got {references!r}")
    return refs


def exact_match(prediction: str, references: str | Iterable[str]) -> float:
    """1.0 when the normalised prediction equals some normalised reference, else 0.0."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(ref) for ref in _aliases(references)))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 between one prediction and one reference (both normalised first).

    Two empty strings match (1.0); one empty string against a non-empty one scores 0.0.
    """
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def answer_f1(prediction: str, references: str | Iterable[str]) -> float:
    """The best token F1 of ``prediction`` over the reference aliases."""
    return max(token_f1(prediction, ref) for ref in _aliases(references))


def mentions_answer(text: str, references: str | Iterable[str]) -> bool:
    """Whether some normalised alias occurs in the normalised ``text`` as whole words."""
    padded = f" {normalize_answer(text)} "
    return any(
        (alias := normalize_answer(ref)) and f" {alias} " in padded for ref in _aliases(references)
    )


@dataclass(frozen=True)
class AnswerScore:
    """Both scores of one prediction: ``f1`` (the outcome) and ``exact_match`` (a signal)."""

    f1: float
    exact_match: float


class AnswerF1:
    """Outcome verifier for QA: ``AnswerF1()(prediction, aliases) -> AnswerScore``."""

    def __call__(self, prediction: str, references: str | Iterable[str]) -> AnswerScore:
        refs = _aliases(references)
        return AnswerScore(answer_f1(prediction, refs), exact_match(prediction, refs))
