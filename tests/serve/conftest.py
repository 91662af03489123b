"""The real ``transformers serve`` fixture for the tests in this folder (see :mod:`tests.serve_fixture`)."""

from tests import serve_fixture
from tests.serve_fixture import openai_server  # noqa: F401  (a fixture, used by name)


def pytest_terminal_summary(terminalreporter) -> None:
    """Say how long the server took to start, when one was started."""
    if serve_fixture.START_SECONDS:
        seconds = ", ".join(f"{s:.1f} s" for s in serve_fixture.START_SECONDS)
        terminalreporter.write_line(f"transformers serve (SmolLM2-135M-Instruct, CPU) ready in {seconds}")
