"""Shared test set-up: register the toy environments under turngym's namespace."""

import turngym

turngym.register("GuessNumber-v0", "tests.toy_envs:GuessNumberEnv", "guess a hidden number (test env)")
