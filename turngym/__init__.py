"""turngym: Gymnasium environments, advantage estimators and a trainer for multi-turn LLM agents.

    import turngym
    env = turngym.make("turngym/SearchQA-v0")     # the same call as gymnasium.make
"""

__version__ = "0.1.0"

from turngym.core.registry import list_envs, make, register
from turngym.envs import register_builtin

__all__ = ["__version__", "list_envs", "make", "register", "register_builtin"]
