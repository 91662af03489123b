"""The Dockerfiles, where no Docker engine exists: parsed by Docker's own parser (moby's Go parser,
wrapped by the ``dockerfile`` package), every base image and pip requirement pinned to a version,
and everything they copy present in the build context."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

dockerfile = pytest.importorskip("dockerfile", reason="the dockerfile package (Docker's parser): a dev tool")

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
CONTEXT = {"sandbox.Dockerfile": ROOT / "docker", "trainer.Dockerfile": ROOT}
"""Each file's build context, as its header's ``docker build`` line gives it."""

PINNED_REQUIREMENT = re.compile(r"^[A-Za-z0-9_.-]+(\[[A-Za-z0-9_,.-]+\])?==[0-9][A-Za-z0-9_.+-]*$")
VERSIONED_IMAGE = re.compile(r"^[a-z0-9./_-]+:[A-Za-z0-9_.-]*[0-9][A-Za-z0-9_.-]*(@sha256:[0-9a-f]{64})?$")
PIP_OPTIONS_WITH_VALUE = {"-r", "-c", "--index-url", "-i", "--extra-index-url", "-f", "--find-links"}


def _expand(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), text)


def _instructions(path: Path):
    commands = dockerfile.parse_file(str(path))
    args: dict[str, str] = {}
    for command in commands:
        if command.cmd.upper() == "ARG":
            for value in command.value:
                name, _, default = value.partition("=")
                args[name] = _expand(default, args)
    return commands, args


def _pip_requirements(run: str) -> list[str]:
    """The requirement arguments of every ``pip install`` in a RUN line (options and paths left out)."""
    lexer = shlex.shlex(run, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens, found = list(lexer), []
    commands: list[list[str]] = [[]]
    for token in tokens:  # split at shell operators (&&, ;, |, ...): shlex gives them as punctuation
        if token and all(c in "();<>|&" for c in token):
            commands.append([])
        else:
            commands[-1].append(token)
    for words in commands:
        for i, word in enumerate(words[:-1]):
            if word.endswith("pip") and words[i + 1] == "install":
                skip_next = False
                for arg in words[i + 2:]:
                    if skip_next:
                        skip_next = False
                    elif arg in PIP_OPTIONS_WITH_VALUE:
                        skip_next = True
                    elif not arg.startswith("-"):
                        found.append(arg)
    return found


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_parses_and_pins_every_version(path: Path):
    commands, args = _instructions(path)
    kinds = [c.cmd.upper() for c in commands]
    assert "FROM" in kinds and kinds.index("FROM") <= min(
        (i for i, k in enumerate(kinds) if k not in ("ARG", "FROM")), default=len(kinds))
    stages: set[str] = set()
    requirements: list[str] = []
    for command in commands:
        kind = command.cmd.upper()
        if kind == "FROM":
            image = _expand(command.value[0], args)
            assert image == "scratch" or image in stages or VERSIONED_IMAGE.match(image), (
                f"{path.name}: base image {image!r} names no version")
            if len(command.value) == 3 and command.value[1].upper() == "AS":
                stages.add(command.value[2])
        elif kind == "RUN":
            requirements += _pip_requirements(_expand(" ".join(command.value), args))
        elif kind == "COPY" and not any(f.startswith("--from") for f in command.flags):
            for source in command.value[:-1]:
                assert (CONTEXT[path.name] / source).exists(), f"{path.name}: COPY {source}: not there"
    for requirement in requirements:
        if requirement.startswith(("/", ".")):  # the repository itself, copied in
            continue
        assert PINNED_REQUIREMENT.match(requirement), f"{path.name}: pip requirement {requirement!r} unpinned"
    if path.name == "trainer.Dockerfile":
        names = {r.split("==")[0].split("[")[0].lower() for r in requirements if "==" in r}
        assert {"torch", "vllm", "verl"} <= names, names


def test_the_checks_reject_unpinned_files(tmp_path: Path):
    # The test above can fail: an unpinned base image and an unpinned requirement are caught.
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM nvidia/cuda\n"
                   "RUN pip install -q vllm 'verl[vllm]>=0.9' /src && pip install torch==2.13.0\n")
    commands, args = _instructions(bad)
    assert not VERSIONED_IMAGE.match(_expand(commands[0].value[0], args))
    requirements = _pip_requirements(" ".join(commands[1].value))
    assert requirements == ["vllm", "verl[vllm]>=0.9", "/src", "torch==2.13.0"]
    assert [bool(PINNED_REQUIREMENT.match(r)) for r in requirements] == [False, False, False, True]


def test_the_docker_readme_names_both_images():
    text = (ROOT / "docker" / "README.md").read_text(encoding="utf-8")
    for path in DOCKERFILES:
        assert path.name in text
