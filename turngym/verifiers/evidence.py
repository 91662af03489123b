"""Evidence gain: how much of what a QA task needs a turn newly revealed (no model needed).

A task's evidence units are its gold supporting passages plus one unit for
"some retrieved passage mentions an answer alias" (so tasks without gold
passages, such as Search-R1's, still have a unit to find). A turn's evidence
gain is the share of the units first covered in that turn; over an episode
the gains sum to the share covered, at most 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from turngym.verifiers.answer_match import mentions_answer

ANSWER_UNIT = "<answer>"


class EvidenceTracker:
    """Tracks which evidence units are covered; ``observe`` returns a turn's gain.

    >>> tracker = EvidenceTracker(gold_ids=["p1", "p2"], answers=["Kalm"])
    >>> tracker.observe([("p1", "Ostravia's capital is Kalm.")])  # p1 and the answer: 2 of 3 units
    0.6666666666666666
    >>> tracker.observe([("p1", "again"), ("p9", "nothing")])
    0.0
    """

    def __init__(self, gold_ids: Sequence[str], answers: Sequence[str], covered: Iterable[str] = ()) -> None:
        self.gold_ids = frozenset(gold_ids)
        self.answers = tuple(answers)
        self.units = len(self.gold_ids) + 1
        self.covered: set[str] = set(covered)

    def observe(self, passages: Iterable[tuple[str, str]]) -> float:
        """Record newly retrieved ``(passage id, text)`` pairs; the share of units they add."""
        before = len(self.covered)
        for pid, text in passages:
            if pid in self.gold_ids:
                self.covered.add(pid)
            if ANSWER_UNIT not in self.covered and mentions_answer(text, self.answers):
                self.covered.add(ANSWER_UNIT)
        return (len(self.covered) - before) / self.units

    @property
    def answer_seen(self) -> bool:
        """Whether a retrieved passage has mentioned an answer alias."""
        return ANSWER_UNIT in self.covered

    @property
    def share(self) -> float:
        """Share of the units covered so far."""
        return len(self.covered) / self.units
