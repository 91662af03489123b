"""The one episode runner: every episode turngym plays goes through here.

- :func:`play_episode` / :func:`play_episodes` - text-level agents (scripted baselines,
  OpenAI-compatible endpoints), one at a time or concurrently;
- :func:`collect` - token-level policies (transformers, vLLM): groups stepped together,
  one ``generate`` call per turn, token in and token out;
- :mod:`~turngym.rollout.records` - the only place trajectory records are built;
- :mod:`~turngym.rollout.metrics` - the summary metrics, one definition for training and
  benchmarking (failed episodes score 0 and are counted);
- :mod:`~turngym.rollout.tasks` - tasks (seeds, reset options) and environment sources.

``turngym train``, ``turngym bench``/``eval`` and the tests all call these.
"""

from turngym.rollout.metrics import episode_score, is_success, summary_metrics
from turngym.rollout.records import json_safe
from turngym.rollout.tasks import EnvSource, Task
from turngym.rollout.text import fork_agent, play_episode, play_episodes
from turngym.rollout.tokens import RolloutError, collect

__all__ = [
    "EnvSource",
    "RolloutError",
    "Task",
    "collect",
    "episode_score",
    "fork_agent",
    "is_success",
    "json_safe",
    "play_episode",
    "play_episodes",
    "summary_metrics",
]
