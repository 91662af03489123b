"""Moved: the episode runner is :mod:`turngym.rollout` (``from turngym.rollout import play_episode``)."""

from turngym.rollout import json_safe, play_episode  # noqa: F401  (temporary re-export, removed soon)
