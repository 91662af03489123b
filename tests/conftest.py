"""Shared test set-up: register the toy environments under turngym's namespace."""

import turngym

# The `openai_server` fixture (a real `transformers serve`, one per test session) for any test.
pytest_plugins = ("tests.serve_fixture",)

turngym.register("GuessNumber-v0", "tests.toy_envs:GuessNumberEnv", "guess a hidden number (test env)")
