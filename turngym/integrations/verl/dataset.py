"""Training data for verl: one parquet row per episode to play, read by the ``turngym_agent`` loop.

verl's ``RLHFDataset`` needs a ``prompt`` column (chat messages); the agent loop ignores it
(the environment's reset gives the real opening) but verl logs it, so it holds the opening
messages. The episode itself is the ``turngym`` column: a JSON text (so rows with different
reset options share one parquet schema) made by :func:`episode_spec`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SPEC_KEYS = ("env_id", "env_kwargs", "seed", "options", "max_turns", "max_new_tokens", "step_timeout_s")


def episode_spec(
    env_id: str,
    *,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    max_turns: int | None = None,
    max_new_tokens: int | None = None,
    step_timeout_s: float | None = 60.0,
) -> str:
    """The ``turngym`` column of one row: which environment, task and limits (JSON text)."""
    return json.dumps(parse_spec({
        "env_id": env_id, "env_kwargs": dict(env_kwargs or {}), "seed": seed,
        "options": dict(options) if options is not None else None, "max_turns": max_turns,
        "max_new_tokens": max_new_tokens, "step_timeout_s": step_timeout_s,
    }), sort_keys=True)


def parse_spec(value: Any) -> dict[str, Any]:
    """A row's episode spec (JSON text or dict) checked, with defaults; ``ValueError`` says what is wrong."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"the row's turngym column is not JSON ({exc}); make it with "
                             "episode_spec()") from None
    if not isinstance(value, Mapping):
        raise ValueError(
            "the row has no turngym episode spec: give it a 'turngym' column (or extra_info['turngym']) "
            f"made by turngym.integrations.verl.episode_spec(), got {value!r:.80}"
        )
    unknown = sorted(set(value) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"turngym episode spec: unknown key(s) {unknown}; accepted: {', '.join(SPEC_KEYS)}")
    spec = {"env_kwargs": {}, "seed": None, "options": None, "max_turns": None, "max_new_tokens": None,
            "step_timeout_s": 60.0, **value}
    checks = {
        "env_id": isinstance(spec.get("env_id"), str) and bool(spec.get("env_id")),
        "env_kwargs": isinstance(spec["env_kwargs"], Mapping),
        "seed": spec["seed"] is None
        or (isinstance(spec["seed"], int) and not isinstance(spec["seed"], bool)),
        "options": spec["options"] is None or isinstance(spec["options"], Mapping),
        "max_turns": spec["max_turns"] is None
        or (isinstance(spec["max_turns"], int) and spec["max_turns"] > 0),
        "max_new_tokens": spec["max_new_tokens"] is None
        or (isinstance(spec["max_new_tokens"], int) and spec["max_new_tokens"] > 0),
        "step_timeout_s": spec["step_timeout_s"] is None
        or (isinstance(spec["step_timeout_s"], (int, float)) and spec["step_timeout_s"] > 0),
    }
    accepted = {"env_id": "a registered id", "env_kwargs": "a dict", "seed": "an int or null",
                "options": "a dict or null", "max_turns": "a positive int or null",
                "max_new_tokens": "a positive int or null", "step_timeout_s": "seconds > 0 or null"}
    for key, ok in checks.items():
        if not ok:
            raise ValueError(f"turngym episode spec: {key}={spec.get(key)!r}; accepted: {accepted[key]}")
    return spec


def write_dataset(
    path: str | Path,
    env_id: str,
    tasks: Sequence[int | Mapping[str, Any] | None],
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    max_turns: int | None = None,
    max_new_tokens: int | None = None,
) -> Path:
    """Write one verl row per task (``turngym.rollout.Task``: a seed or ``{"seed", "options"}``).

    Each row's ``prompt`` is the environment's opening for that task (the environment is
    reset here, which also checks every task); verl samples ``rollout.n`` episodes per row.
    """
    import gymnasium as gym
    import pyarrow as pa
    import pyarrow.parquet as pq

    import turngym  # noqa: F401  (registers the environments)
    from turngym.rollout.tasks import parse_task

    env = gym.make(env_id, **dict(env_kwargs or {}))
    rows: dict[str, list[Any]] = {"prompt": [], "data_source": [], "agent_name": [], "turngym": [],
                                  "extra_info": []}
    try:
        for i, task in enumerate(tasks):
            seed, options = parse_task(task, i)
            opening, _ = env.reset(seed=seed, options=options)
            rows["prompt"].append([{"role": str(m["role"]), "content": str(m.get("content") or "")}
                                   for m in opening])
            rows["data_source"].append(env_id)
            rows["agent_name"].append("turngym_agent")
            rows["turngym"].append(episode_spec(env_id, seed=seed, options=options, env_kwargs=env_kwargs,
                                                max_turns=max_turns, max_new_tokens=max_new_tokens))
            rows["extra_info"].append({"index": i})
    finally:
        env.close()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(rows), path)
    return path
