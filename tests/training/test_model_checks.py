"""The model a config names is checked before any weights are read (issue #11, Broken 5)."""

import pytest

from turngym.trainers.config import ConfigError, from_dict
from turngym.trainers.policies import load_policy, start_vllm
from turngym.trainers.preflight import check_model


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail the test if any model weights are read."""
    from turngym.agents import hf_policy, models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the configuration was checked")

    monkeypatch.setattr(models, "smollm2_135m", refuse)
    monkeypatch.setattr(hf_policy.HFPolicy, "from_pretrained", refuse)


def test_paths_that_are_not_models_are_refused_by_load_policy(tmp_path, no_model_loads):
    """Issue #11 Broken 5: load_policy itself (the Python API) checks model.path before loading."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    cases = {
        str(tmp_path / "missing"): "does not exist",
        str(tmp_path / "empty"): "is a directory without a config.json",
        str(tmp_path / "notes.txt"): "is a file but not a .gguf model",
    }
    for path, problem in cases.items():
        with pytest.raises(ConfigError, match=f"model.path: .* {problem}.*; accepted: smollm2-135m"):
            load_policy(from_dict({"model": {"path": path}}))


def test_a_model_directory_and_the_builtin_name_pass(tmp_path):
    """Issue #11 Broken 5: what can load passes the check (a directory with config.json, the built-in)."""
    (tmp_path / "config.json").write_text("{}")
    check_model(from_dict({"model": {"path": str(tmp_path), "device": "cpu"}}))
    check_model(from_dict({}))


def test_vllm_engine_is_checked_before_the_trainable_model_loads(monkeypatch, no_model_loads):
    """Issue #11 Broken 5: ``rollout.engine: vllm`` without vLLM fails before the model loads."""
    from turngym.trainers import preflight

    monkeypatch.setattr(preflight, "_module_available", lambda name: name != "vllm")
    config = from_dict({"rollout": {"engine": "vllm"}})
    for loader in (load_policy, start_vllm):
        with pytest.raises(ConfigError, match="vLLM is not installed here"):
            loader(config)
