"""The docker backend: its logic against a double of the Docker SDK, and a real engine where one exists.

The double stands in for the engine only: ``start()`` runs the container's
command (the real runner script) as a local subprocess, so what comes back
is a real run's result.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from turngym.envs.code_sandbox import Sandbox

DOCKERFILE = Path(__file__).resolve().parents[2] / "docker" / "sandbox.Dockerfile"


class FakeContainer:
    def __init__(self, command, options, fail_start=False, hang=False):
        self.command, self.options = command, options
        self.fail_start, self.hang = fail_start, hang
        self.removed = self.killed = False
        self.output = b""

    def start(self):
        if self.fail_start:
            raise RuntimeError("engine refused to start the container")
        command = [sys.executable if self.command[0] == "python3" else self.command[0], *self.command[1:]]
        self.output = subprocess.run(command, capture_output=True, timeout=60, check=False).stdout

    def wait(self, timeout=None):
        if self.hang:
            raise TimeoutError("read timed out")
        return {"StatusCode": 0}

    def kill(self):
        self.killed = True

    def logs(self, stdout=True, stderr=True):
        return self.output

    def remove(self, force=False):
        self.removed = True


class FakeClient:
    def __init__(self, **behaviour):
        self.behaviour = behaviour
        self.created: list[FakeContainer] = []
        self.containers = self

    def create(self, image, command, **options):
        container = FakeContainer(command, dict(options, image=image), **self.behaviour)
        self.created.append(container)
        return container


def test_runs_through_the_sdk_with_limits_and_removes_the_container():
    client = FakeClient()
    sandbox = Sandbox("docker", docker_client=client, timeout_s=3, memory_mb=128, max_processes=16)
    result = sandbox.run("import sys\nprint(sys.stdin.read().upper())", stdin="hi")
    assert (result.status, result.stdout) == ("ok", "HI\n")
    (container,) = client.created
    options = container.options
    assert options["network_disabled"] is True and options["read_only"] is True
    assert options["mem_limit"] == "128m" and options["pids_limit"] == 24 and options["nano_cpus"] > 0
    assert "/work" in options["tmpfs"] and options["user"] == "65534:65534"
    assert options["cap_drop"] == ["ALL"] and "no-new-privileges" in options["security_opt"]
    assert options["ipc_mode"] == "private"
    assert container.removed


def test_reports_every_guarantee_and_refuses_packages_the_default_image_lacks():
    from turngym.envs.code_sandbox.process_backend import SandboxError
    from turngym.envs.code_sandbox.sandbox import GUARANTEES, weaknesses

    sandbox = Sandbox("docker", docker_client=FakeClient())
    assert set(sandbox.isolation) == set(GUARANTEES) and weaknesses(sandbox.isolation) == {}
    assert "minimal image" in sandbox.isolation["filesystem"]
    with pytest.raises(SandboxError, match="default sandbox image holds no packages"):
        Sandbox("docker", docker_client=FakeClient(), packages=["numpy"])


def test_program_errors_and_timeouts_keep_their_status():
    sandbox = Sandbox("docker", docker_client=FakeClient(), timeout_s=1)
    assert sandbox.run("raise ValueError('bad')").status == "error"
    assert sandbox.run("while True:\n    pass").status == "timeout"


def test_long_programs_are_split_across_arguments():
    client = FakeClient()
    sandbox = Sandbox("docker", docker_client=client)
    result = sandbox.run("x = '" + "a" * 300_000 + "'\nprint(len(x))")
    assert result.stdout == "300000\n"
    assert max(len(arg) for arg in client.created[0].command) < 128 * 1024


def test_container_removed_when_start_fails():
    client = FakeClient(fail_start=True)
    result = Sandbox("docker", docker_client=client).run("print(1)")
    assert result.status == "killed" and "engine refused" in result.reason
    assert client.created[0].removed


def test_container_killed_and_removed_when_wait_overruns():
    client = FakeClient(hang=True)
    result = Sandbox("docker", docker_client=client, timeout_s=1).run("print(1)")
    assert result.status == "timeout"
    assert client.created[0].killed and client.created[0].removed


def _engine():
    try:
        import docker

        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:
        pytest.skip(f"no Docker engine reachable here ({type(exc).__name__}); this test needs one")


@pytest.mark.docker_engine
def test_real_engine_runs_isolated():
    client = _engine()
    client.images.build(path=str(DOCKERFILE.parent), dockerfile=DOCKERFILE.name, tag="turngym-sandbox:latest")
    with Sandbox("docker", timeout_s=5, memory_mb=128) as sandbox:
        assert sandbox.run("print(6 * 7)").stdout == "42\n"
        net = sandbox.run("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)")
        assert net.status == "error"
        assert sandbox.run("open('/etc/x', 'w')").status == "error"
        assert sandbox.run("import time\ntime.sleep(30)", timeout_s=1).status == "timeout"
        assert sandbox.run("import pip").status == "error"  # a minimal image: no packages
        assert sandbox.run("import os\nprint(sorted(os.listdir('/proc'))[:1])").status == "ok"
