"""SQuAD-normalised answer scoring, checked against hand-computed values."""

import pytest

from turngym.verifiers.answer_match import (
    AnswerF1,
    answer_f1,
    exact_match,
    mentions_answer,
    normalize_answer,
    token_f1,
)


def test_normalisation_drops_case_punctuation_articles_and_spaces():
    assert normalize_answer("  The  Eiffel-Tower, in PARIS! ") == "eiffeltower in paris"
    assert normalize_answer("an apple a day") == "apple day"


def test_token_f1_hand_computed():
    # pred tokens {new, york, city}, ref {new, york}: P = 2/3, R = 1, F1 = 0.8
    assert token_f1("New York City", "new york") == pytest.approx(0.8)
    assert token_f1("Paris", "London") == 0.0
    assert token_f1("", "") == 1.0
    assert token_f1("the", "Paris") == 0.0  # only an article: empty after normalisation


def test_best_over_aliases_and_exact_match():
    aliases = ["Quelmar", "Quelmar City"]
    assert answer_f1("quelmar city", aliases) == 1.0
    assert answer_f1("the city", aliases) == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert exact_match("The Quelmar.", aliases) == 1.0
    assert exact_match("Quelmar town", aliases) == 0.0
    score = AnswerF1()("Quelmar town", aliases)
    assert score.exact_match == 0.0 and score.f1 == pytest.approx(2 / 3)


def test_mentions_answer_needs_whole_words():
    assert mentions_answer("He was born in Quelmar, a city.", ["Quelmar"])
    assert not mentions_answer("He was born in Quelmaria.", ["Quelmar"])


def test_bad_references_are_named():
    with pytest.raises(ValueError, match="references"):
        answer_f1("x", [])
    with pytest.raises(ValueError, match="references"):
        exact_match("x", [3])  # type: ignore[list-item]
