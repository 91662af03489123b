"""The ``docker`` backend: a throw-away container per run, through the Docker SDK.

Each run starts a container from ``docker/sandbox.Dockerfile``'s image with no
network, memory/CPU/pids limits, a read-only root with a tmpfs ``/work``, all
capabilities dropped and ``no-new-privileges``, as user nobody. Inside, the
same ``runner.py`` (sent as ``python -I -c <source>``, so image and library
cannot drift apart) supervises the program and prints a JSON result. The
container is removed in all cases, including when the engine call fails.

The integrity guarantees of the process backends come from the image and
these options: the image is built ``FROM scratch`` with only the interpreter,
its standard library and their shared libraries (no package, no task data,
no project file: nothing is copied from the build context); the container has
its own PID namespace (the program sees the runner and its own processes);
the engine's default seccomp profile applies and the runner installs its own
filter (the same as the process backends') in the program's process.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

from turngym.envs.code_sandbox.process_backend import HOST_MARGIN_S, RUNNER, SandboxError

DEFAULT_IMAGE = "turngym-sandbox:latest"
_ARG_CHUNK = 100_000  # Linux caps one argv string at 128 KiB; long requests are split.


def runner_command(request: dict[str, Any], python: str = "python3") -> list[str]:
    """The container command that runs ``request`` with the runner script."""
    payload = base64.b64encode(json.dumps(request).encode()).decode()
    chunks = [payload[i : i + _ARG_CHUNK] for i in range(0, len(payload), _ARG_CHUNK)] or [""]
    return [python, "-I", "-c", RUNNER.read_text(encoding="utf-8"), "once", *chunks]


class DockerBackend:
    """Runs each request in a new container (see module docstring)."""

    name = "docker"

    def __init__(self, image: str | None = None, client: Any = None, cpus: float = 1.0,
                 packages: tuple[str, ...] = ()) -> None:
        if packages and image is None:
            raise SandboxError(
                f"the default sandbox image holds no packages, so {', '.join(packages)} cannot be "
                "imported: build an image that adds them and pass docker_image=..., or use packages=()")
        self.image = image or DEFAULT_IMAGE
        self.cpus = cpus
        if client is None:
            try:
                import docker
            except ImportError as exc:
                raise SandboxError("the docker backend needs the Docker SDK: pip install docker") from exc
            try:
                client = docker.from_env()
                client.ping()
            except Exception as exc:  # the SDK raises several types for "no engine"
                raise SandboxError(
                    f"no Docker engine is reachable ({exc}); start one, or use backend='process'"
                ) from exc
        self.client = client
        contents = (f"the image's packages ({', '.join(packages)})" if packages
                    else "interpreter and standard library only")
        self.isolation = {
            "network": "disabled (container without network)",
            "filesystem": f"minimal image ({contents}; docker/sandbox.Dockerfile), read-only, tmpfs /work",
            "processes": "container PID namespace: the runner and the program's own processes",
            "syscalls": "the engine's default seccomp profile and the runner's filter in the program",
            "user": "nobody inside a container, all capabilities dropped",
        }

    def container_options(self, request: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for ``client.containers.create`` for this request."""
        memory_mb = max(int(request["memory_bytes"]) >> 20, 6)
        work_mb = max((int(request["fsize_bytes"]) >> 20) * 2, 4)
        return {
            "network_disabled": True,
            "mem_limit": f"{memory_mb}m",
            "memswap_limit": f"{memory_mb}m",
            "nano_cpus": int(self.cpus * 1e9),
            "pids_limit": int(request["nproc"]) + 8,
            "read_only": True,
            "tmpfs": {"/work": f"rw,size={work_mb}m,mode=1777", "/tmp": "rw,size=1m,mode=1777"},
            "user": "65534:65534",
            "working_dir": "/work",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "ipc_mode": "private",
            "init": False,
            "environment": {"PATH": "/usr/local/bin:/usr/bin:/bin"},
            "detach": True,
        }

    def execute(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request in a fresh container; the container is always removed."""
        inner = dict(request, isolate=False, private_tmp=False, workdir="/work", uid=None)
        container = None
        try:
            container = self.client.containers.create(
                self.image, runner_command(inner), **self.container_options(request)
            )
            container.start()
            try:
                container.wait(timeout=float(request["timeout_s"]) + HOST_MARGIN_S)
            except Exception:  # the engine's read timed out: the run overran even the margin
                with contextlib.suppress(Exception):
                    container.kill()
                return {"timed_out": True, "exit_code": None, "stdout": "", "stderr": "",
                        "duration_s": float(request["timeout_s"])}
            logs = container.logs(stdout=True, stderr=False)
            text = logs.decode("utf-8", errors="replace") if isinstance(logs, bytes) else str(logs)
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return {"error": f"the container gave no result (output: {text[:200]!r})"}
        except Exception as exc:
            return {"error": f"docker: {type(exc).__name__}: {exc}"}
        finally:
            if container is not None:
                with contextlib.suppress(Exception):
                    container.remove(force=True)

    def close(self) -> None:
        """Nothing stays running between runs."""
