"""Trajectory records: lossless JSON lines, atomic writes, clear errors on corrupt files."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from turngym.core.trajectory import EpisodeRecord, TurnRecord, read_episodes, write_episodes


def make_episode(i: int) -> EpisodeRecord:
    return EpisodeRecord(
        episode_id=f"e{i}", env_id="turngym/GuessNumber-v0", task_id="n-3", group_id="g0", seed=i,
        opening=[{"role": "user", "content": "Find it — ünïcode ok"}],
        prompt_ids=[1, 2, 3],
        turns=[
            TurnRecord(index=0, action_text="<guess>8</guess>", action_ids=[10, 11],
                       action_logprobs=[-0.125, -1e-7], observation=[{"role": "user", "content": "lower"}],
                       observation_ids=[20, 21, 22], signals={"valid_action": 1.0}, anchor="a",
                       probe={"answers": ["3"], "forcing_prefix": "<guess>"}),
            TurnRecord(index=1, action_text="<guess>3</guess>", action_ids=[12], action_logprobs=[-0.3],
                       reward=1.0, terminated=True, anchor="b"),
        ],
        outcome=1.0, terminated=True, metadata={"note": [1, 2.5, None]},
    )


def test_roundtrip_is_byte_identical(tmp_path):
    first = tmp_path / "a.jsonl"
    second = tmp_path / "b.jsonl"
    write_episodes(first, [make_episode(i) for i in range(3)])
    loaded = read_episodes(first)
    assert loaded == [make_episode(i) for i in range(3)]
    write_episodes(second, loaded)
    assert first.read_bytes() == second.read_bytes()


def test_loss_spans_and_mask_come_from_the_token_bookkeeping():
    episode = make_episode(0)
    assert episode.token_ids() == [1, 2, 3, 10, 11, 20, 21, 22, 12]
    assert episode.loss_spans() == [(3, 5), (8, 9)]
    assert episode.loss_mask() == [0, 0, 0, 1, 1, 0, 0, 0, 1]
    assert episode.total_reward == 1.0


def test_mismatched_logprobs_are_refused():
    with pytest.raises(ValueError, match="1 log-probs for 2 action tokens"):
        TurnRecord(index=0, action_text="x", action_ids=[1, 2], action_logprobs=[-1.0])


def test_writer_interrupted_by_an_error_leaves_no_file(tmp_path):
    target = tmp_path / "t.jsonl"

    def episodes():
        yield make_episode(0)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_episodes(target, episodes())
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_writer_keeps_the_old_file_when_a_record_cannot_be_written(tmp_path):
    target = tmp_path / "t.jsonl"
    write_episodes(target, [make_episode(0)])
    before = target.read_bytes()
    bad = make_episode(1)
    bad.turns[0].reward = float("nan")
    with pytest.raises(ValueError, match="replace NaN/inf"):
        write_episodes(target, [make_episode(2), bad])
    assert target.read_bytes() == before


def test_writer_killed_mid_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "killed.jsonl"
    script = textwrap.dedent(f"""
        import os, signal, sys
        from tests.core.test_trajectory import make_episode
        from turngym.core.trajectory import write_episodes
        def episodes():
            for i in range(50):
                yield make_episode(i)
            os.kill(os.getpid(), signal.SIGKILL)   # die before the rename
        write_episodes({str(target)!r}, episodes())
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), timeout=60)
    assert result.returncode == -signal.SIGKILL
    assert not target.exists()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert all(name.startswith(".killed.jsonl.") and name.endswith(".tmp") for name in leftovers)


def test_corrupt_file_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.dumps(make_episode(0).to_dict())
    path.write_text(good + "\n" + good[:40] + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not a valid episode record"):
        read_episodes(path)
    path.write_text(json.dumps({"episode_id": "x", "env_id": "e", "task_id": "t", "colour": 1}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: .*unknown EpisodeRecord field\(s\) \['colour'\]"):
        read_episodes(path)
