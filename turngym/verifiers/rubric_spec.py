"""A :class:`~turngym.verifiers.rubric.Rubric` from plain data, as a training config writes it.

``[[weight, kind, {params}], ...]`` with these kinds and parameters:

- ``outcome``: the episode's outcome on its last turn (``name``);
- ``signal``: an environment signal (``signal``, ``scale`` = 1, ``name``);
- ``llm_judge``: :class:`~turngym.verifiers.llm_judge.LLMJudge` (``rubric``, ``model``,
  ``base_url``, ``api_key_env`` - the NAME of an environment variable holding the key, never the
  key -, ``level`` = turn, ``low`` = 0, ``high`` = 10, ``seed`` = 0, ``timeout_s`` = 60,
  ``max_retries`` = 2, ``max_tokens`` = 512, ``name``);
- ``checklist``: :class:`~turngym.verifiers.checklist.Checklist` judged by an endpoint
  (``model``, ``base_url``, ``api_key_env``, ``criteria`` - a list, or ``{turn index: [...]}``;
  default: the turn's ``info["checklist"]`` -, ``level`` = turn, ``seed`` = 0, ``timeout_s``,
  ``max_retries``, ``max_tokens``, ``name``).

>>> rubric = build_rubric([[1.0, "outcome", {}], [0.5, "signal", {"signal": "valid_action"}]])
>>> rubric.names
[(1.0, 'outcome'), (0.5, 'valid_action')]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from turngym.verifiers.rubric import OutcomeScore, Rubric, SignalScore

ENDPOINT_KEYS = ("model", "base_url", "api_key_env", "timeout_s", "max_retries", "max_tokens")
KINDS: dict[str, tuple[str, ...]] = {
    "outcome": ("name",),
    "signal": ("signal", "scale", "name"),
    "llm_judge": ("rubric", "level", "low", "high", "seed", "name", *ENDPOINT_KEYS),
    "checklist": ("criteria", "level", "seed", "name", *ENDPOINT_KEYS),
}


def _client(params: Mapping[str, Any], where: str) -> Any:
    from turngym.verifiers.llm_judge import JudgeClient

    for key in ("model", "base_url"):
        if not isinstance(params.get(key), str) or not params[key]:
            raise ValueError(f"{where}: needs {key!r} (text)")
    key_var = params.get("api_key_env")
    api_key = None
    if key_var is not None:
        api_key = os.environ.get(str(key_var))
        if not api_key:
            raise ValueError(f"{where}: api_key_env names {key_var!r}, which is not set in the environment")
    return JudgeClient(
        params["model"], params["base_url"], api_key=api_key, timeout_s=float(params.get("timeout_s", 60.0)),
        max_retries=int(params.get("max_retries", 2)), max_tokens=int(params.get("max_tokens", 512)),
    )


def build_verifier(kind: str, params: Mapping[str, Any], where: str = "rubric") -> Any:
    """One verifier of ``kind`` from its ``params`` (``ValueError`` naming what is wrong)."""
    if kind not in KINDS:
        raise ValueError(f"{where}: unknown verifier kind {kind!r}; accepted: {', '.join(KINDS)}")
    unknown = sorted(set(params) - set(KINDS[kind]))
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {unknown} for {kind!r}; accepted: "
                         f"{', '.join(KINDS[kind])}")
    if kind == "outcome":
        return OutcomeScore(**params)
    if kind == "signal":
        if not isinstance(params.get("signal"), str):
            raise ValueError(f"{where}: 'signal' needs the signal's name (text)")
        return SignalScore(params["signal"], scale=float(params.get("scale", 1.0)), name=params.get("name"))
    client = _client(params, where)
    if kind == "llm_judge":
        from turngym.verifiers.llm_judge import LLMJudge

        if not isinstance(params.get("rubric"), str):
            raise ValueError(f"{where}: 'rubric' needs the judging instructions (text)")
        return LLMJudge(
            params["rubric"], client=client, name=params.get("name", "llm_judge"),
            level=params.get("level", "turn"), low=float(params.get("low", 0.0)),
            high=float(params.get("high", 10.0)), seed=params.get("seed", 0),
        )
    from turngym.verifiers.checklist import Checklist, LLMCriterionJudge

    criteria = params.get("criteria")
    if isinstance(criteria, Mapping):
        criteria = {int(k): list(v) for k, v in criteria.items()}
    return Checklist(LLMCriterionJudge(client, seed=params.get("seed", 0)), criteria=criteria,
                     name=params.get("name", "checklist"), level=params.get("level", "turn"))


def build_rubric(items: Sequence[Sequence[Any]], *, concurrency: int = 1) -> Rubric:
    """A rubric from ``[[weight, kind, {params}], ...]`` (see the module docstring)."""
    built = []
    for i, item in enumerate(items):
        where = f"rubric[{i}]"
        if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
            raise ValueError(f"{where}: {item!r}; each entry is [weight, kind, {{params}}]")
        weight, kind, params = item[0], item[1], item[2] if len(item) == 3 else {}
        if not isinstance(params, Mapping):
            raise ValueError(f"{where}: params must be a table, got {params!r}")
        built.append((weight, build_verifier(str(kind), params, where)))
    return Rubric(built, concurrency=concurrency)
