"""The HTML report: one offline file, numbers from the statistics module, a viewer that works in Chromium."""

import base64
import html
import json
import re

import pytest

from tests.bench.browser import console_messages, run_chromium
from tests.bench.report_runs_data import INJECTION, eval_runs, training_run
from turngym.bench import stats
from turngym.bench.report import build_report, main
from turngym.bench.report_page import embed_json
from turngym.bench.report_runs import load_run
from turngym.core.trajectory import read_episodes

DATA_BLOCK = re.compile(r'<script type="application/json" id="episode-data">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    oracle, random_run = eval_runs(root)
    return {"oracle": oracle, "random": random_run, "train": training_run(root)}


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    build_report([runs["oracle"], runs["random"], runs["train"]], path, resamples=300)
    return path


def embedded(page: str) -> list[dict]:
    return json.loads(DATA_BLOCK.search(page).group(1))


def test_report_is_one_file_that_fetches_nothing(report):
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page, re.I)
    assert "@import" not in page
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 4  # interval plot, performance profile, pass@k, the training run's curves
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for data in images)


def test_summary_table_shows_the_statistics_module_numbers(runs, report):
    page = report.read_text(encoding="utf-8")
    table = page[page.index("id='summary-table'"):page.index("</table>", page.index("id='summary-table'"))]
    random_records = read_episodes(runs["random"] / "episodes.jsonl")
    expected = stats.summarize(random_records, resamples=300)["groups"][0]
    row = next(r for r in table.split("<tr>") if "<td>random</td>" in r)
    value, low, high = expected["mean_outcome"]
    assert f"{value:.3f} <span class='note'>[{low:.3f}, {high:.3f}]</span>" in row
    assert f"<td class='num'>{expected['failed']}</td>" in row and expected["failed"] == 1
    assert "policy @ step 3" in table  # the training run's last stored step
    assert "<td>oracle</td>" in table


def test_training_run_brings_its_curves_and_credit(runs, report):
    run = load_run(runs["train"])
    assert run.kind == "train" and run.last_step == 3 and len(run.metrics) == 3
    assert run.skipped_lines == 0  # the torn line is in metrics.jsonl, which skips it
    page = report.read_text(encoding="utf-8")
    assert "Training curves" in page and "3 logged steps" in page
    steps = [e for e in embedded(page) if e["step"] is not None]
    assert {e["step"] for e in steps} == {1, 2, 3}
    credit = steps[0]["turns"][0]["info"]
    assert credit == {"belief_gain": pytest.approx(0.01), "advantage": pytest.approx(0.5)}


def test_embedded_json_cannot_close_the_script_block():
    text = embed_json({"action": INJECTION, "line": "a\u2028b"})
    assert "<" not in text and ">" not in text and "\u2028" not in text
    assert json.loads(text) == {"action": INJECTION, "line": "a\u2028b"}


def test_injected_action_stays_data_in_the_page(report):
    page = report.read_text(encoding="utf-8")
    assert INJECTION not in page
    episodes = embedded(page)
    assert any(t["action"] == INJECTION for e in episodes for t in e["turns"])


def test_viewer_embeds_a_capped_even_share_and_says_so(runs, tmp_path):
    path = build_report([runs["oracle"], runs["random"], runs["train"]], tmp_path / "r.html",
                        max_episodes=7, resamples=50)
    page = path.read_text(encoding="utf-8")
    episodes = embedded(page)
    assert len(episodes) == 7
    assert {e["run"] for e in episodes} == {"oracle-run", "random-run", "train-run"}
    assert "embeds 7 of the 36 stored episodes" in html.unescape(page)
    everything = build_report([runs["oracle"]], tmp_path / "all.html", resamples=50)
    assert "embeds all 12 stored episodes" in everything.read_text(encoding="utf-8")


def test_run_directories_are_checked(tmp_path, runs, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a run directory: expected episodes.jsonl"):
        load_run(tmp_path / "empty")
    with pytest.raises(ValueError, match="does not exist"):
        load_run(tmp_path / "missing")
    assert main([str(tmp_path / "empty"), "-o", str(tmp_path / "x.html")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
    assert main([str(runs["oracle"]), "-o", str(tmp_path / "ok.html"), "--resamples", "50"]) == 0
    assert (tmp_path / "ok.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_a_torn_last_line_is_skipped_and_other_bad_lines_raise(runs, tmp_path):
    lines = (runs["oracle"] / "episodes.jsonl").read_text(encoding="utf-8").splitlines()
    torn = tmp_path / "torn"
    torn.mkdir()
    (torn / "episodes.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][:40], encoding="utf-8")
    run = load_run(torn)
    assert (len(run.episodes), run.skipped_lines, run.summary) == (3, 1, None)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "episodes.jsonl").write_text(lines[0] + "\n{oops\n" + lines[1] + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"episodes.jsonl:2: not JSON"):
        load_run(broken)


# ----- in a real browser ---------------------------------------------------------------------------


def test_console_check_sees_a_broken_script(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>missingFunction();</script></body></html>", encoding="utf-8")
    done = run_chromium(page.as_uri(), "--dump-dom")
    assert any("Uncaught ReferenceError" in m for m in console_messages(done.stderr)), done.stderr[-2000:]


def test_report_in_chromium_shows_an_episode_without_errors(report, tmp_path):
    page_text = report.read_text(encoding="utf-8")
    target = next(e for e in embedded(page_text) if any(t["action"] == INJECTION for t in e["turns"]))
    done = run_chromium(f"{report.as_uri()}#episode={target['id']}", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_messages(done.stderr) == []
    dom = done.stdout
    assert 'data-viewer="ready"' in dom  # the viewer's script ran to its end
    view = dom[dom.index('id="episode-view"'):]
    assert f"episode: </b><span>{target['id']}" in view
    assert view.count('class="turn"') == len(target["turns"])
    assert "Turn 0" in view and "Turn 1" in view
    assert html.escape(INJECTION, quote=False) in view  # shown as text, not run
    assert "<title>turngym report</title>" in dom and "INJECTED" not in dom.split("<body", 1)[0]
    first_turn = target["turns"][0]
    for message in first_turn["obs"]:
        assert html.escape(message["content"], quote=False) in view


def test_training_episode_shows_credit_and_a_screenshot_is_taken(report, tmp_path):
    target = next(e for e in embedded(report.read_text(encoding="utf-8")) if e["step"] == 3)
    done = run_chromium(f"{report.as_uri()}#episode={target['id']}", "--dump-dom")
    assert console_messages(done.stderr) == []
    view = done.stdout[done.stdout.index('id="episode-view"'):]
    assert '<th class="credit">belief_gain</th>' in view and '<th class="credit">advantage</th>' in view
    shot = tmp_path / "report.png"
    taken = run_chromium(report.as_uri(), f"--screenshot={shot}", "--window-size=1280,4600")
    assert taken.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", taken.stderr[-2000:]
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one


def test_runs_without_episodes_still_make_a_report(runs, tmp_path):
    curves_only = tmp_path / "train-metrics-only"
    curves_only.mkdir()
    (curves_only / "metrics.jsonl").write_text(
        (runs["train"] / "metrics.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    just_started = tmp_path / "eval-just-started"
    just_started.mkdir()
    (just_started / "episodes.jsonl").write_text("", encoding="utf-8")
    page = build_report([curves_only, just_started], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "No episodes stored." in page and "Training curves" in page
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 1  # the curves
    assert embedded(page) == []


def test_the_run_request_is_shown_as_text(runs, tmp_path):
    request = {"agent": "random", "note": "<b>x</b>"}
    (runs["random"] / "run.json").write_text(json.dumps(request), encoding="utf-8")
    try:
        page = build_report([runs["random"]], tmp_path / "r.html", resamples=50).read_text(encoding="utf-8")
    finally:
        (runs["random"] / "run.json").unlink()
    assert "<summary>run.json</summary>" in page and "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
