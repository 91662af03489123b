import warnings, pytest
from turngym.bench.results import ResultsFile, ResultsError
from turngym.rollout.records import new_episode
def test(tmp_path):
    f = ResultsFile(tmp_path/"e.jsonl")
    assert f.load() == []
    for i in range(3): f.append(new_episode(f"e{i}"))
    assert [r.episode_id for r in f.load()] == ["e0","e1","e2"]
    with open(f.path, "ab") as h: h.write(b'{"episode_id": "e3", "env')
    with pytest.warns(UserWarning, match="torn"):
        assert len(f.load()) == 3
    assert f.path.read_bytes().endswith(b"}\n")
    f.append(new_episode("e3")); assert len(f.load()) == 4
    raw = f.path.read_bytes(); f.path.write_bytes(raw[:-1]); assert len(f.load()) == 4 and f.path.read_bytes().endswith(b"\n")
    lines = f.path.read_bytes().split(b"\n"); lines[1] = b"garbage"; f.path.write_bytes(b"\n".join(lines))
    with pytest.raises(ResultsError, match="e.jsonl:2"): f.load()
