"""The eval results file: whole lines, a torn tail cut on resume, damage elsewhere refused."""

import pytest

from turngym.bench.results import ResultsError, ResultsFile
from turngym.rollout.records import new_episode


def test_appends_whole_lines_and_repairs_only_a_torn_tail(tmp_path):
    results = ResultsFile(tmp_path / "e.jsonl")
    assert results.load() == []
    for i in range(3):
        results.append(new_episode(f"e{i}"))
    assert [r.episode_id for r in results.load()] == ["e0", "e1", "e2"]
    with open(results.path, "ab") as handle:  # what kill -9 in the middle of a write leaves
        handle.write(b'{"episode_id": "e3", "env')
    with pytest.warns(UserWarning, match="torn last line"):
        assert len(results.load()) == 3
    assert results.path.read_bytes().endswith(b"}\n")
    results.append(new_episode("e3"))
    assert len(results.load()) == 4
    results.path.write_bytes(results.path.read_bytes()[:-1])  # whole line, only its newline lost
    assert len(results.load()) == 4 and results.path.read_bytes().endswith(b"\n")
    lines = results.path.read_bytes().split(b"\n")
    lines[1] = b"garbage"
    results.path.write_bytes(b"\n".join(lines))
    with pytest.raises(ResultsError, match=r"e\.jsonl:2"):
        results.load()


def test_new_files_get_the_usual_mode(tmp_path):
    import os

    results = ResultsFile(tmp_path / "e.jsonl")
    results.append(new_episode("e0"))
    umask = os.umask(0)
    os.umask(umask)
    assert results.path.stat().st_mode & 0o777 == 0o666 & ~umask
