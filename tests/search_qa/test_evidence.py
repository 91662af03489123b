"""Evidence gain: shares of gold passages and answer mentions first seen in a turn."""

import pytest

from turngym.verifiers.evidence import EvidenceTracker


def test_gains_count_each_unit_once_and_sum_to_the_share():
    tracker = EvidenceTracker(gold_ids=["g1", "g2", "g3"], answers=["Kalm", "Kalm City"])
    gains = [
        tracker.observe([("x", "nothing useful"), ("g1", "Vell was born in Ostravia.")]),  # g1
        tracker.observe([("g1", "seen again"), ("y", "The capital is Kalm.")]),  # the answer unit
        tracker.observe([("g2", "..."), ("g3", "...")]),  # two gold passages at once
        tracker.observe([("g3", "...")]),
    ]
    assert gains == pytest.approx([0.25, 0.25, 0.5, 0.0])
    assert sum(gains) == pytest.approx(tracker.share) == pytest.approx(1.0)


def test_tasks_without_gold_have_one_answer_unit():
    tracker = EvidenceTracker(gold_ids=[], answers=["Lenn"])
    assert tracker.observe([("a", "Kalm lies on the Lennart")]) == 0.0  # not a whole-word mention
    assert tracker.observe([("b", "Kalm lies on the river Lenn.")]) == 1.0
    assert tracker.answer_seen
