"""Dataset loaders on small samples written here: HotpotQA, Search-R1 QA (JSONL, Parquet), corpus."""

import json

import gymnasium as gym
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import turngym
from turngym.agents.scripted import OracleAgent
from turngym.envs.search_qa.loaders import DatasetError, load_corpus, load_hotpotqa, load_qa
from turngym.rollout import play_episode

HOTPOT = [
    {
        "_id": "hp1",
        "question": "In which country was the composer of the opera Merlina born?",
        "answer": "Ostravia",
        "type": "bridge",
        "level": "medium",
        "supporting_facts": [["Merlina (opera)", 0], ["Tomas Vell", 1]],
        "context": [
            ["Merlina (opera)", ["Merlina is an opera in three acts", " composed by Tomas Vell."]],
            ["Tomas Vell", ["Tomas Vell is a composer.", " He was born in Ostravia in 1901."]],
            ["Grand Theatre", ["The Grand Theatre hosts operas every winter."]],
        ],
    },
    {
        "_id": "hp2",
        "question": "Which river flows through the capital of Ostravia?",
        "answer": "Lenn",
        "type": "bridge",
        "level": "easy",
        "supporting_facts": [["Ostravia", 0], ["Kalm", 0]],
        "context": [
            ["Ostravia", ["Ostravia is a country whose capital is Kalm."]],
            ["Kalm", ["Kalm is a city on the river Lenn."]],
            ["Tomas Vell", ["Tomas Vell is a composer.", " He was born in Ostravia in 1901."]],
        ],
    },
]

QA_ROWS = [
    {"id": "q1", "question": "Who composed the opera Merlina?", "golden_answers": ["Tomas Vell", "T. Vell"]},
    {"id": "q2", "question": "Which river flows through Kalm?", "golden_answers": "Lenn"},
]
CORPUS_ROWS = [
    {"id": "1", "contents": '"Merlina (opera)"\nMerlina is an opera in three acts composed by Tomas Vell.'},
    {"id": "2", "contents": '"Kalm"\nKalm is a city on the river Lenn.'},
    {"id": "3", "contents": '"Grand Theatre"\nThe Grand Theatre hosts operas every winter.'},
]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_hotpotqa_context_forms_the_corpus_and_facts_the_gold(tmp_path):
    path = tmp_path / "hotpot.json"
    path.write_text(json.dumps(HOTPOT, indent=1), encoding="utf-8")
    corpus, tasks = load_hotpotqa(path)
    assert len(corpus) == 5  # "Tomas Vell" appears twice with the same text: one passage
    assert corpus.get("Tomas Vell").text == "Tomas Vell is a composer. He was born in Ostravia in 1901."
    assert [t.task_id for t in tasks] == ["hp1", "hp2"]
    assert tasks[0].gold_ids == ("Merlina (opera)", "Tomas Vell") and tasks[0].answers == ("Ostravia",)
    env = turngym.make("turngym/SearchQA-v0", hotpotqa_path=path, top_k=2)
    for seed in range(4):
        record = play_episode(env, OracleAgent(), seed=seed)
        assert record.outcome == 1.0
        assert sum(t.signals["evidence_gain"] for t in record.turns) == pytest.approx(1.0)


def test_search_r1_jsonl_and_parquet_with_corpus(tmp_path):
    jsonl = _jsonl(tmp_path / "qa.jsonl", QA_ROWS)
    parquet = tmp_path / "qa.parquet"
    pq.write_table(pa.Table.from_pylist([dict(r, golden_answers=list(
        r["golden_answers"] if isinstance(r["golden_answers"], list) else [r["golden_answers"]]))
        for r in QA_ROWS]), parquet)
    assert load_qa(jsonl) == load_qa(parquet)
    assert load_qa(jsonl)[1].answers == ("Lenn",)
    corpus = load_corpus(_jsonl(tmp_path / "corpus.jsonl", CORPUS_ROWS))
    assert corpus.get("1").title == "Merlina (opera)" and corpus.get("2").text.startswith("Kalm is a city")
    env = gym.make("turngym/SearchQA-v0", qa_path=parquet, corpus_path=tmp_path / "corpus.jsonl")
    for seed in range(4):
        record = play_episode(env, OracleAgent(), seed=seed)
        assert record.outcome == 1.0
        # no gold passages in this format: the one evidence unit is a passage naming the answer
        assert sum(t.signals["evidence_gain"] for t in record.turns) == 1.0


def test_search_r1_processed_parquet_ground_truth(tmp_path):
    path = tmp_path / "train.parquet"
    rows = [{"question": "Which river flows through Kalm?", "data_source": "nq",
             "reward_model": {"style": "rule", "ground_truth": {"target": ["Lenn"]}}}]
    pq.write_table(pa.Table.from_pylist(rows), path)
    (task,) = load_qa(path)
    assert task.answers == ("Lenn",) and task.task_id == "train-0"


def test_corrupt_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps(QA_ROWS[0]) + "\n\n" + '{"question": "x", "golden_answers": [\n',
                    encoding="utf-8")
    with pytest.raises(DatasetError, match=r"qa\.jsonl, line 3: invalid JSON"):
        load_qa(path)
    with pytest.raises(DatasetError, match=r"qa\.jsonl, line 3"):
        gym.make("turngym/SearchQA-v0", qa_path=path, corpus_path=path)


def test_missing_fields_and_bad_values_are_named(tmp_path):
    path = _jsonl(tmp_path / "qa.jsonl", [QA_ROWS[0], {"id": "q9", "question": "Why?"}])
    with pytest.raises(DatasetError, match=r"line 2: golden_answers must be"):
        load_qa(path)
    path = _jsonl(tmp_path / "c.jsonl", [CORPUS_ROWS[0], {"id": "1", "contents": "dup"}])
    with pytest.raises(DatasetError, match=r"line 2: duplicate passage id '1' \(first at line 1\)"):
        load_corpus(path)
    path = _jsonl(tmp_path / "c2.jsonl", [{"contents": "no id"}])
    with pytest.raises(DatasetError, match=r"line 1: missing field 'id'"):
        load_corpus(path)
    bad = dict(HOTPOT[0], supporting_facts=[["Nowhere", 0]])
    path = tmp_path / "h.json"
    path.write_text(json.dumps([HOTPOT[1], bad]), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"record 1: supporting fact title 'Nowhere'"):
        load_hotpotqa(path)


def test_corrupt_hotpot_json_and_parquet_are_named(tmp_path):
    path = tmp_path / "hotpot.json"
    path.write_text(json.dumps(HOTPOT, indent=1)[:-40], encoding="utf-8")
    with pytest.raises(DatasetError, match=r"hotpot\.json, line \d+: invalid JSON"):
        load_hotpotqa(path)
    parquet = tmp_path / "broken.parquet"
    parquet.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DatasetError, match=r"broken\.parquet: not a readable Parquet file"):
        load_qa(parquet)
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b'{"id": "\xff\xfe"}\n')
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_corpus(binary)
    with pytest.raises(FileNotFoundError, match="dataset file not found"):
        gym.make("turngym/SearchQA-v0", hotpotqa_path=tmp_path / "missing.json")
