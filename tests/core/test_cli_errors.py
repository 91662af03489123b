"""The CLI's errors: on stderr, one line, one exit code per kind (issue #11, Broken 3-5, Confusing)."""

import io
import time

import pytest

import turngym  # noqa: F401  (registers the ids)
from turngym.cli import EXIT_INTERRUPTED, EXIT_USAGE, build_parser, main


def run(argv, stdin=""):
    out, err = io.StringIO(), io.StringIO()
    stream = stdin if not isinstance(stdin, str) else io.StringIO(stdin)
    code = main(argv, stdin=stream, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# ----- bench (Broken 3) ----------------------------------------------------------------------


def test_bench_unknown_id_is_a_usage_error_on_stderr(tmp_path):
    """Issue #11 Broken 3: an unknown id printed an empty table with exit code 0."""
    code, out, err = run(["bench", "SearchQA-Eazy-v0", "--out", str(tmp_path)])
    assert code == EXIT_USAGE and out == ""
    assert "unknown environment 'SearchQA-Eazy-v0' (did you mean turngym/SearchQA-Easy-v0?)" in err


def test_bench_skip_accepts_the_short_id(tmp_path):
    """Issue #11 Broken 3: ``--skip SearchQA-Easy-v0`` (short id) was ignored."""
    code, out, err = run(["bench", "GuessNumber-v0", "SearchQA-Easy-v0", "--skip", "SearchQA-Easy-v0",
                          "--episodes", "1", "--out", str(tmp_path)])
    assert code == 0, err
    assert "turngym/GuessNumber-v0" in out and "SearchQA-Easy" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["GuessNumber-v0-oracle.jsonl",
                                                          "GuessNumber-v0-random.jsonl"]


@pytest.mark.parametrize("episodes", ["0", "-3", "two"])
def test_bench_refuses_episodes_below_one(episodes, tmp_path):
    """Issue #11 Broken 3: ``--episodes 0`` and ``-3`` gave nan rows with exit code 0."""
    code, out, err = run(["bench", "GuessNumber-v0", "--episodes", episodes, "--out", str(tmp_path)])
    assert code == EXIT_USAGE and out == ""
    assert "argument --episodes: expected a whole number >= 1" in err


def test_bench_takes_module_colon_ids_of_custom_environments(tmp_path):
    """Issue #11 Broken 3: ``module:Env-v0`` ids worked in play but not in bench."""
    code, out, err = run(["bench", "tests.core.cli_custom_env:CliCustom-v0", "--episodes", "2",
                          "--out", str(tmp_path)])
    assert code == 0, err
    assert out.count("turngym/CliCustom-v0") == 2
    code, out, err = run(["play", "tests.core.cli_custom_env:CliCustom-v0"], ":oracle\n:quit\n")
    assert code == 0 and "task n-" in out


def test_bench_module_that_cannot_be_imported_is_named(tmp_path):
    """Issue #11 Broken 3: a ``module:Env-v0`` id whose module is missing says so (usage error)."""
    code, _, err = run(["bench", "no_such_module_xyz:Env-v0", "--out", str(tmp_path)])
    assert code == EXIT_USAGE and "cannot import 'no_such_module_xyz'" in err


# ----- play (Broken 4) -----------------------------------------------------------------------


def test_play_unknown_task_id_says_what_was_wrong_without_a_traceback():
    """Issue #11 Broken 4: ``play --task-id nonexistent`` ended in a traceback."""
    code, out, err = run(["play", "SearchQA-Easy-v0", "--task-id", "nonexistent"])
    assert code == EXIT_USAGE
    assert "Traceback" not in out + err
    assert "--task-id 'nonexistent': unknown task_id 'nonexistent'" in err
    assert "Play without --task-id" in err and "some ids: " in err


def test_play_ctrl_d_at_the_prompt_ends_cleanly():
    """Issue #11 Broken 4: Ctrl-D (end of input) at the prompt ends the session cleanly."""
    code, out, err = run(["play", "GuessNumber-v0"], "")
    assert code == 0 and out.rstrip().endswith("bye") and err == ""


class _CtrlC(io.StringIO):
    """A stdin whose reader presses Ctrl-C at the first prompt (input raises KeyboardInterrupt)."""

    def readline(self, *args):
        raise KeyboardInterrupt


def test_play_ctrl_c_at_the_prompt_ends_cleanly():
    """Issue #11 Broken 4: Ctrl-C at the prompt ended in a traceback."""
    code, out, err = run(["play", "GuessNumber-v0"], _CtrlC())
    assert code == EXIT_INTERRUPTED and "Traceback" not in out + err
    assert out.rstrip().endswith("interrupted: bye")


# ----- train (Broken 5) ----------------------------------------------------------------------


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail the test if any model weights are read."""
    from turngym.agents import hf_policy, models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the configuration was checked")

    monkeypatch.setattr(models, "smollm2_135m", refuse)
    monkeypatch.setattr(hf_policy.HFPolicy, "from_pretrained", refuse)


def _train(tmp_path, *overrides):
    config = tmp_path / "run.yaml"
    config.write_text(f"output_dir: {tmp_path / 'out'}\ntrain:\n  steps: 1\n")
    start = time.monotonic()
    result = run(["train", str(config), *[f"--set={o}" for o in overrides]])
    return (*result, time.monotonic() - start)


def test_train_missing_model_path_is_a_configuration_error(tmp_path, no_model_loads):
    """Issue #11 Broken 5: a missing model.path gave a FileNotFoundError traceback."""
    code, _, err, seconds = _train(tmp_path, f"model.path={tmp_path / 'nowhere'}")
    assert code == EXIT_USAGE and "Traceback" not in err
    assert err.strip() == (f"Configuration error: model.path: {tmp_path / 'nowhere'} does not exist; "
                           "accepted: smollm2-135m (packaged), a Hugging Face model directory or a "
                           ".gguf file")
    assert seconds < 30 and not (tmp_path / "out").exists()


def test_train_cuda_without_cuda_is_a_configuration_error(tmp_path, monkeypatch, no_model_loads):
    """Issue #11 Broken 5: ``device: cuda`` on a CPU build loaded the model for 18 s, then failed."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:1"):
        code, _, err, seconds = _train(tmp_path, f"model.device={device}")
        assert code == EXIT_USAGE and len(err.strip().splitlines()) == 1
        assert err.startswith(f"Configuration error: model.device: '{device}', but this machine has no CUDA")
        assert seconds < 30


def test_train_vllm_engine_without_vllm_is_a_configuration_error(tmp_path, monkeypatch, no_model_loads):
    """Issue #11 Broken 5: ``rollout.engine: vllm`` without vLLM gave an ImportError traceback."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "vllm" else real(name, *a))
    code, _, err, _ = _train(tmp_path, "rollout.engine=vllm")
    assert code == EXIT_USAGE
    assert err.strip() == ("Configuration error: rollout.engine: 'vllm', but vLLM is not installed here; "
                           "install it (pip install 'turngym[vllm]', GPU machines) or use rollout.engine: hf")


def test_train_config_errors_go_to_stderr(tmp_path):
    """Issue #11 Confusing: errors go to stderr (stdout stays for results)."""
    code, out, err = run(["train", str(tmp_path)])
    assert code == EXIT_USAGE and out == ""
    assert err.startswith("Configuration error: ") and "is a directory" in err


# ----- the command as a whole (Confusing) ------------------------------------------------------


def test_usage_errors_all_exit_2_on_stderr(tmp_path):
    """Issue #11 Confusing: exit codes differed for the same kind of error; errors went to stdout."""
    cases = [
        ["play", "Nope-v9"],
        ["play", "GuessNumber-v0", "--env-arg", "novalue"],
        ["play", "GuessNumber-v0", "--env-arg", "colour=3"],
        ["bench", "Nope-v9", "--out", str(tmp_path)],
        ["frobnicate"],
        ["bench", "--episodes", "0"],
        ["train", str(tmp_path / "missing.yaml")],
        ["eval", "GuessNumber-v0", "--agent", "oracle", "--request-timeout", "0"],
        ["eval", "GuessNumber-v0", "--agent", "oracle", "--request-timeout", "soon"],
        ["eval", "GuessNumber-v0", "--agent", "oracle", "--request-timeout", "inf"],
    ]
    for argv in cases:
        code, out, err = run(argv)
        assert code == EXIT_USAGE, argv
        assert out == "" and err.strip(), argv


def test_runtime_failures_exit_1_with_the_traceback_on_stderr(monkeypatch, tmp_path):
    """Issue #11 Confusing: a failure while running is exit code 1 (distinct from usage errors)."""
    from turngym.bench import evaluate as evaluate_module

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(evaluate_module, "evaluate", broken)
    code, _, err = run(["bench", "GuessNumber-v0", "--out", str(tmp_path)])
    assert code == 1 and "RuntimeError: the disk is full" in err and "failed" in err


def test_every_sub_command_and_option_is_described():
    """Issue #11 Confusing: sub-commands had no descriptions and options no help; the description
    showed literal double backticks."""
    parser = build_parser()
    assert "``" not in parser.description and "exit codes" in parser.epilog
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, sub in subparsers.choices.items():
        assert sub.description, name
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, (name, action.dest)


def test_list_json():
    """Issue #11 Confusing: ``turngym list --json``."""
    import json

    code, out, _ = run(["list", "--json"])
    rows = json.loads(out)
    assert code == 0
    assert {"id": "turngym/GuessNumber-v0", "description": "guess a hidden number (test env)",
            "entry_point": "tests.toy_envs:GuessNumberEnv"} in rows


def test_help_goes_to_the_given_stdout():
    """Issue #11 Confusing: ``--help`` prints the description and exits 0."""
    code, out, err = run(["bench", "--help"])
    text = " ".join(out.split())
    assert code == 0 and "--episodes N" in text and "95% confidence intervals" in text and err == ""
