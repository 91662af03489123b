"""The CLI prints what environments, models and people wrote literally (issue #11, Broken 1)."""

import io
import math

import gymnasium as gym

import turngym
from turngym.cli import _interval, main


def run(argv, stdin_text=""):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin_text), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_code_sandbox_output_that_looks_like_markup_is_printed_as_is():
    """Issue #11 Broken 1: ``<run>print("[/oops]")</run>`` crashed play with Rich's MarkupError."""
    code, out, err = run(["play", "CodeSandbox-MBPP-v0"], '<run>print("[/oops]")</run>\n:quit\n')
    assert code == 0, err
    assert "[/oops]" in out and "MarkupError" not in out + err


def test_search_queries_with_markup_and_emoji_codes_are_printed_as_is():
    """Issue #11 Broken 1: ``<search>[/b]</search>`` crashed; ``:x:`` became an emoji; ``[x ...]``
    vanished."""
    query = "keep [x for x in y] :x: here [/b]"
    code, out, err = run(["play", "SearchQA-Easy-v0"], f"<search>{query}</search>\n:hint\n:quit\n")
    assert code == 0, err
    assert query in out and "❌" not in out


def test_humaneval_prompts_keep_their_type_hints():
    """Issue #11 Broken 1: HumanEval prompts showed ``List[float]`` as ``List``."""
    code, out, err = run(["play", "CodeSandbox-v0", "--task-id", "HumanEval/0"], ":quit\n")
    assert code == 0, err
    assert "numbers: List[float], threshold: float" in out


def test_list_prints_descriptions_literally(tmp_path):
    """Issue #11 Broken 1: descriptions (written by people) are printed literally in ``list``."""
    description = "uses [bold]tags[/bold] and :x: codes"
    env_id = turngym.register("Markup-v0", "tests.toy_envs:GuessNumberEnv", description)
    try:
        code, out, _ = run(["list"])
    finally:
        del gym.registry[env_id]
    assert code == 0 and "uses [bold]tags[/bold] and :x: codes" in out


def test_the_confidence_interval_column_is_never_blank():
    """Issue #11 Broken 1: bench's CI column was blank on ``[nan, nan]`` (read as a markup tag)."""
    assert _interval(math.nan, math.nan) == "n/a"
    assert _interval(0.25, 0.5) == "[0.25, 0.50]"


def test_bench_table_shows_an_undefined_interval_as_n_a(tmp_path, monkeypatch):
    """Issue #11 Broken 1: bench's CI column was blank on ``[nan, nan]`` (read as a markup tag).

    The real evaluation runs; only its interval is made undefined, as too few episodes make it."""
    import dataclasses

    from turngym.bench import evaluate as evaluate_module

    real = evaluate_module.evaluate

    def undefined_interval(*args, **kwargs):
        records, summary = real(*args, **kwargs)
        return records, dataclasses.replace(summary, outcome_ci95=(math.nan, math.nan))

    monkeypatch.setattr(evaluate_module, "evaluate", undefined_interval)
    code, out, err = run(["bench", "GuessNumber-v0", "--episodes", "1", "--out", str(tmp_path)])
    assert code == 0, err
    rows = [line for line in out.splitlines() if "GuessNumber-v0" in line]
    assert len(rows) == 2 and all("n/a" in row for row in rows)
