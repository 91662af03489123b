"""The real ``transformers serve`` fixture for the tests in this folder (see :mod:`tests.serve_fixture`)."""

from tests.serve_fixture import openai_server  # noqa: F401  (a fixture, used by name)
