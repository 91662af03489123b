"""Training configuration: every bad value is named with what is accepted."""

import pytest

from turngym.trainers.config import Config, ConfigError, from_dict, load_config


def test_defaults_are_valid_and_round_trip():
    config = from_dict({})
    assert isinstance(config, Config)
    assert from_dict(config.to_dict()) == config


def test_yaml_and_toml_files_and_overrides(tmp_path):
    (tmp_path / "a.yaml").write_text("seed: 3\noptim:\n  lr: 3e-4\nmodel:\n  lora: null\n")
    config = load_config(tmp_path / "a.yaml", ["rollout.group_size=8", "algorithm.params={gamma: 0.9}"])
    assert config.seed == 3 and config.optim.lr == pytest.approx(3e-4) and config.model.lora is None
    assert config.rollout.group_size == 8 and config.algorithm.params == {"gamma": 0.9}
    (tmp_path / "b.toml").write_text('seed = 4\n[loss]\naggregation = "seq_mean_token_mean"\n')
    assert load_config(tmp_path / "b.toml").loss.aggregation == "seq_mean_token_mean"


@pytest.mark.parametrize(
    ("data", "overrides", "message"),
    [
        ({"optim": {"lrr": 1}}, [],
         "unknown key optim.lrr (did you mean optim.lr?); accepted keys in optim: lr, weight_decay"),
        ({"colour": 1}, [], "unknown key colour; accepted keys: seed, output_dir, env"),
        ({"model": {"device": "gpu"}}, [],
         "model.device: 'gpu' is not allowed; accepted: auto, cpu, cuda, cuda:N"),
        ({"optim": {"lr": "fast"}}, [], "optim.lr: expected a number, got 'fast'"),
        ({"rollout": {"group_size": 2.5}}, [], "rollout.group_size: expected a whole number, got 2.5"),
        ({"train": {"progress": "yes"}}, [], "train.progress: expected true or false, got 'yes'"),
        ({"loss": {"aggregation": "sum"}}, [], "'sum' is not allowed; accepted: token_mean"),
        ({"rollout": {"group_size": 0}}, [], "rollout.group_size: 0 must be > 0"),
        ({"loss": {"dual_clip": 0.5}}, [], "loss.dual_clip: 0.5 must be > 1"),
        ({"rollout": {"top_p": 1.5}}, [], "rollout.top_p: 1.5 must be in (0, 1]"),
        ({"model": {"lora": {"r": "big"}}}, [], "model.lora.r: expected a whole number"),
        ({"algorithm": {"combine": [[1, "grpo", 3]]}}, [], "[weight, estimator name, {params}]"),
        ({"algorithm": {"empg": {"k": 1, "beta": 2}}}, [], "unknown key(s) ['beta']; accepted: k, zeta"),
        ({}, ["optim.lr"], "--set expects KEY=VALUE"),
        ({"optim": {"lr": 1.0}}, ["optim.lr.x=1"], "--set optim.lr.x: lr is not a table"),
        ({}, ["optim.lr.x=1"], "optim.lr: expected a number, got {'x': 1}"),
        ({"env": [1]}, [], "env: expected a table of settings"),
    ],
)
def test_bad_config_errors(data, overrides, message):
    with pytest.raises(ConfigError) as error:
        from_dict(data, overrides)
    assert message in str(error.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "c.yaml").write_text("seed: [1\n")
    with pytest.raises(ConfigError, match="c.yaml, line 2, column 1: not valid YAML"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(ConfigError, match="are .yaml, .yml or .toml"):
        load_config(tmp_path / "c.json")


def test_unknown_key_suggests_the_close_one():
    """Issue #11 Confusing (config errors): ``unknown key optim.lrr (did you mean optim.lr?)``."""
    with pytest.raises(ConfigError) as error:
        from_dict({}, ["optim.lrr=3e-4"])
    assert str(error.value).startswith("unknown key optim.lrr (did you mean optim.lr?);")
    with pytest.raises(ConfigError, match=r"unknown key rolout \(did you mean rollout\?\)"):
        from_dict({"rolout": {}})


def test_a_directory_is_reported_as_a_directory(tmp_path):
    """Issue #11 Confusing (config errors): a directory given as the config was reported as missing."""
    with pytest.raises(ConfigError, match="is a directory; give a config file"):
        load_config(tmp_path)


def test_syntax_errors_name_the_file_and_line(tmp_path):
    """Issue #11 Confusing (config errors): YAML/TOML syntax errors name the file and line, in one line."""
    bad_yaml = tmp_path / "run.yaml"
    bad_yaml.write_text("seed: 1\noptim:\n  lr: [1\n")
    with pytest.raises(ConfigError) as error:
        load_config(bad_yaml)
    message = str(error.value)
    assert message.startswith(f"{bad_yaml}, line ") and "not valid YAML" in message
    assert "<unicode string>" not in message and "\n" not in message
    bad_toml = tmp_path / "run.toml"
    bad_toml.write_text("seed = 1\nlr = \n")
    with pytest.raises(ConfigError, match=r"run.toml: not valid TOML: .*line 2"):
        load_config(bad_toml)


def test_checkpoints_record_a_relative_model_directory_as_absolute(tmp_path, monkeypatch):
    from turngym.trainers.config import from_dict

    (tmp_path / "models" / "mine").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    saved = from_dict({"model": {"path": "models/mine"}}).checkpoint_dict()
    assert saved["model"]["path"] == str(tmp_path / "models" / "mine")
    assert from_dict({"model": {"path": "models/mine"}}).to_dict()["model"]["path"] == "models/mine"
    assert from_dict({"model": {"path": "smollm2-135m"}}).checkpoint_dict()["model"]["path"] == "smollm2-135m"
