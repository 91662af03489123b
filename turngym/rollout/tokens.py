"""Episodes played by token-level policies: groups stepped together, recorded token for token.

:func:`collect` runs ``len(tasks)`` groups of ``group_size`` episodes. The
episodes of a group reset with the same seed and options (the same task), so a
group-relative estimator can compare them. Each turn, every active episode's
prompt goes to ONE ``policy.generate`` call; each sampled action is decoded,
given to its environment (in a thread, with a per-step timeout), and the
environment's reply is templated incrementally
(:mod:`turngym.agents.chat_template`), so each :class:`TurnRecord` holds
exactly the ids that were sampled, their log-probs and the reply's ids.

Failures stay local where they can: an environment that raises or times out
fails only its own episode (``status="failed"``, ``error`` says why) and the
others go on. A policy error or a chat template that breaks the prefix property
cannot be survived by a single episode; :func:`collect` then raises
:class:`RolloutError`, whose ``episodes`` hold every record, finished ones
intact, and ``on_episode`` has already seen each finished episode.

Text-level agents (scripted, OpenAI-compatible) go through :mod:`turngym.rollout.text`;
both build their records with :mod:`turngym.rollout.records`.
"""

from __future__ import annotations

import concurrent.futures as futures
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym

from turngym.agents.chat_template import ChatTemplate, ChatTemplateError, Conversation
from turngym.agents.policy import Policy, SamplingParams
from turngym.core.trajectory import EpisodeRecord
from turngym.rollout.progress import EpisodeProgress
from turngym.rollout.records import (
    check_reset,
    check_step,
    new_episode,
    record_cutoff,
    record_failure,
    record_reset,
    record_turn,
)
from turngym.rollout.tasks import EnvSource, Task, env_factory, parse_task, source_label


class RolloutError(RuntimeError):
    """Collection stopped; ``episodes`` holds every record so far (finished ones intact)."""

    def __init__(self, message: str, episodes: list[EpisodeRecord]) -> None:
        super().__init__(message)
        self.episodes = episodes


@dataclass
class _Episode:
    record: EpisodeRecord
    env: gym.Env | None = None
    conversation: Conversation | None = None
    done: bool = False
    abandoned: bool = False  # its environment is stuck in a timed-out call


def collect(
    env: EnvSource,
    policy: Policy,
    tasks: Sequence[Task],
    *,
    group_size: int = 1,
    sampling: SamplingParams | None = None,
    chat_template: ChatTemplate | None = None,
    step_timeout_s: float | None = 60.0,
    max_turns: int | None = None,
    max_context_tokens: int | None = None,
    progress: bool = True,
    run_id: str | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    skip: Collection[str] = (),
) -> list[EpisodeRecord]:
    """Collect ``len(tasks) * group_size`` episodes with ``policy`` (see the module docstring).

    Args:
        env: an environment id or a factory; one environment is made per episode.
        policy: a token-level :class:`~turngym.agents.policy.Policy`.
        tasks: one entry per group (see :data:`Task`).
        group_size: episodes per group, all reset with the group's seed and options.
        sampling: how to sample; when it has a seed, turn t uses ``seed + 7919 * t``
            so turns do not repeat each other's random draws.
        chat_template: defaults to the policy tokenizer's own template.
        step_timeout_s: the most an environment's ``reset``/``step`` may take (None: no limit).
            A timed-out episode fails; its environment is abandoned, not reused.
        max_turns: stop (truncate) every episode after this many turns (default: the env decides).
        max_context_tokens: truncate an episode whose next prompt plus ``max_new_tokens``
            would exceed this.
        progress: show a rich progress bar of finished episodes.
        run_id: prefix of group and episode ids (default: random).
        on_episode: called with each episode as soon as it ends (to stream them to disk).
        skip: episode ids not to play (a resumed run already has them); left out of the result.

    Returns:
        Records in task order, then episode order within the group: ``group_id`` is
        ``"{run_id}-g{task index}"``, ``episode_id`` ``"{group_id}-e{j}"``.
    """
    if not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive int, got {group_size!r}")
    if isinstance(tasks, (str, bytes, Mapping)) or not isinstance(tasks, Sequence):
        raise ValueError("tasks must be a list with one entry (seed, None or {'seed', 'options'}) per group")
    sampling = sampling or SamplingParams()
    template = chat_template or ChatTemplate(policy.tokenizer)
    run_id = run_id or uuid.uuid4().hex[:8]
    make = env_factory(env)
    episodes: list[_Episode] = []
    for g, task in enumerate(tasks):
        seed, options = parse_task(task, g)
        for j in range(group_size):
            if f"{run_id}-g{g}-e{j}" in skip:
                continue
            record = new_episode(
                f"{run_id}-g{g}-e{j}", env_id=source_label(env), group_id=f"{run_id}-g{g}", seed=seed,
                agent=getattr(policy, "name", type(policy).__name__),
                metadata={
                    "template": template.name, "options": options,
                    "sampling": {**asdict(sampling), "stop": list(sampling.stop)},
                },
            )
            episodes.append(_Episode(record))
    pool = DaemonCalls(max_running=max(1, min(32, len(episodes))))
    bar = EpisodeProgress(len(episodes), progress)
    started = time.perf_counter()

    def finish(ep: _Episode, error: str | None = None) -> None:
        if ep.done:
            return
        ep.done = True
        if error is not None:
            record_failure(ep.record, error)
        ep.record.metadata["wall_s"] = round(time.perf_counter() - started, 6)
        bar.done(ep.record)
        if on_episode is not None:
            on_episode(ep.record)

    try:
        with bar:
            _reset_all(episodes, make, template, pool, step_timeout_s, finish)
            turn = 0
            while True:
                active = [ep for ep in episodes if not ep.done]
                for ep in active:
                    assert ep.conversation is not None
                    too_long = max_context_tokens is not None and (
                        len(ep.conversation.ids) + sampling.max_new_tokens > max_context_tokens
                    )
                    if too_long or (max_turns is not None and turn >= max_turns):
                        record_cutoff(ep.record, "context" if too_long else "max_turns")
                        finish(ep)
                active = [ep for ep in episodes if not ep.done]
                if not active:
                    break
                params = sampling.with_seed(None if sampling.seed is None else sampling.seed + 7919 * turn)
                try:
                    generations = policy.generate([ep.conversation.ids for ep in active], params)  # type: ignore[union-attr]
                except Exception as exc:
                    reason = f"policy.generate failed at turn {turn}: {type(exc).__name__}: {exc}"
                    for ep in active:
                        finish(ep, reason)
                    raise RolloutError(reason, [ep.record for ep in episodes]) from exc
                if len(generations) != len(active):
                    raise RolloutError(
                        f"policy.generate returned {len(generations)} generations for {len(active)} prompts",
                        [ep.record for ep in episodes],
                    )
                template_error = _step_all(active, generations, pool, step_timeout_s, finish)
                if template_error is not None:
                    reason = f"aborted: another episode's chat template failed: {template_error}"
                    for ep in episodes:
                        finish(ep, reason)
                    records = [ep.record for ep in episodes]
                    raise RolloutError(str(template_error), records) from template_error
                turn += 1
    finally:
        for ep in episodes:
            if ep.env is not None and not ep.abandoned:
                try:
                    ep.env.close()
                except Exception:  # closing is best effort; the records are what matter
                    pass
    return [ep.record for ep in episodes]


def _reset_all(
    episodes: list[_Episode],
    make: Callable[[], gym.Env],
    template: ChatTemplate,
    pool: DaemonCalls,
    timeout: float | None,
    finish: Callable[..., None],
) -> None:
    def start(ep: _Episode) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        ep.env = make()
        options = ep.record.metadata.get("options")
        return check_reset(ep.env.reset(seed=ep.record.seed, options=options))

    pending = {id(ep): pool.submit(start, ep) for ep in episodes}
    for ep in episodes:
        outcome = _wait(pending[id(ep)], timeout, "reset")
        if isinstance(outcome, _Failure):
            ep.abandoned = outcome.timed_out
            finish(ep, outcome.reason)
            continue
        observation, info = outcome
        record_reset(ep.record, ep.env, observation, info)  # type: ignore[arg-type]
        try:
            ep.conversation = template.start(observation)
        except ChatTemplateError as exc:
            finish(ep, str(exc))
            continue
        ep.record.prompt_ids = list(ep.conversation.ids)


def _step_all(
    active: list[_Episode],
    generations: list[Any],
    pool: DaemonCalls,
    timeout: float | None,
    finish: Callable[..., None],
) -> ChatTemplateError | None:
    """Give each episode its action, record the turn; return the first template error, if any."""
    texts = [ep.conversation.action_text(gen.token_ids) for ep, gen in zip(active, generations)]  # type: ignore[union-attr]
    pending = [pool.submit(lambda env, t: check_step(env.step(t)), ep.env, text)  # type: ignore[misc]
               for ep, text in zip(active, texts)]
    template_error: ChatTemplateError | None = None
    for ep, gen, text, future in zip(active, generations, texts, pending):
        outcome = _wait(future, timeout, "step")
        turn_index = len(ep.record.turns)
        if isinstance(outcome, _Failure):
            ep.abandoned = outcome.timed_out
            finish(ep, f"turn {turn_index}: {outcome.reason}")
            continue
        observation, reward, terminated, truncated, info = outcome
        try:
            tokens = ep.conversation.add_turn(gen.token_ids, observation)  # type: ignore[union-attr]
        except ChatTemplateError as exc:
            finish(ep, f"turn {turn_index}: {exc}")
            template_error = template_error or exc
            continue
        record_turn(
            ep.record, action_text=text, action_ids=gen.token_ids, action_logprobs=gen.logprobs,
            observation=observation, observation_ids=tokens.observation_ids, reward=reward,
            terminated=terminated, truncated=truncated, info=info,
            extra={"finish_reason": gen.finish_reason},
        )
        if terminated or truncated:
            finish(ep)
    return template_error


# ----- helpers ---------------------------------------------------------------------------


class DaemonCalls:
    """Runs environment calls in daemon threads, at most ``max_running`` at once.

    Not a ``ThreadPoolExecutor``: its worker threads are joined when the interpreter exits, so
    one environment stuck forever in a timed-out ``step`` would keep the whole process (an eval
    that has already written its results) from exiting. A daemon thread is abandoned instead.
    """

    def __init__(self, max_running: int) -> None:
        self._slots = threading.BoundedSemaphore(max_running)

    def submit(self, fn: Callable[..., Any], *args: Any) -> futures.Future[Any]:
        """Start ``fn(*args)``; its result or exception arrives in the returned future."""
        future: futures.Future[Any] = futures.Future()

        def run() -> None:
            with self._slots:
                if not future.set_running_or_notify_cancel():
                    return
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to the waiting runner, which records it
                    future.set_exception(exc)

        threading.Thread(target=run, name="turngym-env", daemon=True).start()
        return future


@dataclass
class _Failure:
    reason: str
    timed_out: bool = False


def _wait(future: futures.Future[Any], timeout: float | None, what: str) -> Any:
    try:
        return future.result(timeout=timeout)
    except futures.TimeoutError:
        future.cancel()
        return _Failure(f"environment {what} timed out after {timeout} s", timed_out=True)
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" (at {where.filename}:{where.lineno})" if where else ""
        return _Failure(f"environment {what} raised {type(exc).__name__}: {exc}{at}")
