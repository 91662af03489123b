"""turngym: Gymnasium environments, advantage estimators and a trainer for multi-turn LLM agents."""

__version__ = "0.1.0"
