"""BM25 retrieval: exact against bm25s's own scoring, and its on-disk cache."""

import os
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from turngym.envs.search_qa.corpus import Corpus, Passage
from turngym.envs.search_qa.retrieval import BM25Retriever, _build_model, default_cache_dir, tokenize
from turngym.envs.search_qa.world import LEVELS, generate_world


def test_search_matches_bm25s_full_scoring_exactly():
    world = generate_world(replace(LEVELS["hard"], seed=2))
    model = _build_model(world.corpus)
    retriever = BM25Retriever(world.corpus, model)
    rng = random.Random(0)
    words = [t for p in world.corpus.passages[:400] for t in tokenize(p.text)]
    for _ in range(150):
        query = " ".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
        k = rng.choice([1, 5, 10])
        got = [(h.passage.id, round(h.score, 4)) for h in retriever.search(query, k)]
        scores = model.get_scores(tokenize(query))
        best = sorted(np.flatnonzero(scores > 0), key=lambda d: (-scores[d], d))[:k]
        assert got == [(world.corpus.passages[d].id, round(float(scores[d]), 4)) for d in best], query


def test_queries_without_indexed_words_find_nothing():
    corpus = Corpus([Passage("a", "Alpha", "alpha beta"), Passage("b", "Gamma", "gamma delta")])
    retriever = BM25Retriever.for_corpus(corpus, cache_dir=None)
    assert retriever.search("zzz the of", 5) == []
    assert [h.passage.id for h in retriever.search("delta", 5)] == ["b"]
    with pytest.raises(ValueError, match="k must be"):
        retriever.search("alpha", 0)
    with pytest.raises(ValueError, match="empty corpus"):
        BM25Retriever.for_corpus(Corpus([]), cache_dir=None)


def _corpus(tag: str) -> Corpus:
    return Corpus(Passage(f"{tag}{i}", f"Title {i}", f"word{i % 7} common {tag} text {i}") for i in range(50))


def test_index_is_cached_by_content_and_reloaded(tmp_path):
    first = BM25Retriever.for_corpus(_corpus("x"), tmp_path)
    second = BM25Retriever.for_corpus(_corpus("x"), tmp_path)
    other = BM25Retriever.for_corpus(_corpus("y"), tmp_path)
    assert (first.source, second.source, other.source) == ("built", "cache", "built")
    assert [h.passage.id for h in first.search("word3 text", 5)] == [
        h.passage.id for h in second.search("word3 text", 5)
    ]
    entries = sorted(p.name for p in (tmp_path / "bm25").iterdir())
    assert len(entries) == 2 and not any(name.startswith(".") for name in entries)  # no temp dirs left


def test_corrupt_cache_is_rebuilt(tmp_path):
    BM25Retriever.for_corpus(_corpus("x"), tmp_path)
    (index_dir,) = (tmp_path / "bm25").iterdir()
    for f in index_dir.glob("*.npy"):
        f.write_bytes(b"garbage")
    again = BM25Retriever.for_corpus(_corpus("x"), tmp_path)
    assert again.source == "built" and again.search("word3", 1)


def test_cache_dir_defaults_to_env_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TURNGYM_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    BM25Retriever.for_corpus(_corpus("z"), True)
    assert any((tmp_path / "bm25").iterdir())
    monkeypatch.delenv("TURNGYM_CACHE")
    assert default_cache_dir() == Path(os.path.expanduser("~")) / ".cache" / "turngym"
