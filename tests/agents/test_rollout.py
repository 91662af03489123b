"""The rollout collector: real SmolLM2 episodes, exact token bookkeeping, local failures."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.toy_envs import GuessNumberEnv
from turngym.agents.chat_template import ChatTemplate, TemplatePrefixError
from turngym.agents.policy import SamplingParams
from turngym.core.trajectory import read_episodes, write_episodes
from turngym.rollout import RolloutError, collect

STOP = SamplingParams(temperature=0.9, max_new_tokens=16, seed=3, stop=("</guess>",))


def test_smollm2_plays_eight_episodes_token_exact(smollm2, tmp_path):
    calls: list[int] = []
    generate = smollm2.generate

    def counting(prompts, params):
        calls.append(len(prompts))
        return generate(prompts, params)

    smollm2.generate = counting  # type: ignore[method-assign]
    try:
        records = collect(
            lambda: GuessNumberEnv(max_turns=3), smollm2, [7, 12], group_size=4, sampling=STOP,
            progress=False,
        )
    finally:
        del smollm2.generate
    assert len(records) == 8 and all(r.status == "ok" for r in records)
    assert calls[0] == 8, "the first turn samples all 8 episodes in one call"
    assert len(calls) == max(len(r.turns) for r in records)
    tok = smollm2.tokenizer
    template = ChatTemplate(tok)
    for record in records:
        assert record.group_id.endswith(("g0", "g1")) and record.episode_id.startswith(record.group_id)
        env = GuessNumberEnv(max_turns=3)
        env.reset(seed=record.seed)
        for turn in record.turns:
            env.step(turn.action_text)
            assert len(turn.action_logprobs) == len(turn.action_ids) > 0
            ids = turn.action_ids[:-1] if turn.action_ids[-1] == tok.eos_token_id else turn.action_ids
            assert tok.decode(ids) == turn.action_text
            assert "wrong" in tok.decode(turn.observation_ids) or "Invalid" in tok.decode(
                turn.observation_ids
            ) or "Correct" in tok.decode(turn.observation_ids)
        # The environment's own history, templated, is exactly what the policy's tokens decode to.
        assert tok.decode(record.token_ids()) == template.render(env.history, add_generation_prompt=True)
        assert [m["content"] for m in env.history if m["role"] == "assistant"] == [
            t.action_text for t in record.turns
        ]
        spans = record.loss_spans()
        assert [record.token_ids()[a:b] for a, b in spans] == [t.action_ids for t in record.turns]
    # groups share their task; records survive a JSON-lines round trip unchanged
    assert len({r.task_id for r in records[:4]}) == 1 and len({r.task_id for r in records[4:]}) == 1
    path = write_episodes(tmp_path / "eps.jsonl", records)
    assert [r.to_dict() for r in read_episodes(path)] == [r.to_dict() for r in records]


class ExplodingEnv(GuessNumberEnv):
    """Raises on its second step when its target is odd."""

    def step(self, action: Any):
        if self.turn >= 1 and self._target % 2:
            raise RuntimeError("simulated environment crash")
        return super().step(action)


class SlowEnv(GuessNumberEnv):
    """Hangs for 3 s on every step when its target is 3."""

    def step(self, action: Any):
        if self._target == 3:
            time.sleep(3)
        return super().step(action)


def test_env_that_raises_fails_only_its_own_episode(tiny_policy):
    options = [{"options": {"task_id": "n-3"}}, {"options": {"task_id": "n-4"}}]
    seen = []
    records = collect(
        lambda: ExplodingEnv(max_turns=4), tiny_policy, options, group_size=2,
        sampling=SamplingParams(max_new_tokens=6, seed=0), progress=False, on_episode=seen.append,
    )
    failed = [r for r in records if r.status == "failed"]
    ok = [r for r in records if r.status == "ok"]
    assert {r.task_id for r in failed} == {"n-3"} and {r.task_id for r in ok} == {"n-4"}
    assert all("simulated environment crash" in r.error and "turn 1" in r.error for r in failed)
    assert all(len(r.turns) == 1 for r in failed)
    assert all(len(r.turns) == 4 and r.truncated for r in ok)
    assert sorted(r.episode_id for r in seen) == sorted(r.episode_id for r in records)


def test_step_timeout_fails_only_the_slow_episode(tiny_policy):
    options = [{"options": {"task_id": "n-3"}}, {"options": {"task_id": "n-5"}}]
    records = collect(
        lambda: SlowEnv(max_turns=2), tiny_policy, options, sampling=SamplingParams(max_new_tokens=4),
        step_timeout_s=0.5, progress=False,
    )
    slow, fast = records
    assert slow.status == "failed" and "timed out after 0.5 s" in slow.error
    assert fast.status == "ok" and len(fast.turns) == 2


STRIP_THINK = (
    "{% for m in messages %}{% set c = m['content'] %}"
    "{% if m['role'] == 'assistant' and not loop.last %}{% set c = c.split('</think>')[-1] %}{% endif %}"
    "<|im_start|>{{ m['role'] }}\n{{ c }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class ScriptedThinker:
    """A token policy 'sampling' a plain guess of 3 first, then guesses with a <think> block."""

    name = "thinker"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.calls = 0

    def generate(self, prompts, params):
        from turngym.agents.policy import Generation

        text = "<guess>3</guess>" if self.calls == 0 else "<think>hmm</think><guess>5</guess>"
        self.calls += 1
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = [*ids, self.tokenizer.eos_token_id]
        return [Generation(list(ids), [0.0] * len(ids), "", "stop") for _ in prompts]


def test_template_breaking_prefix_property_raises_and_keeps_episodes(smol_tokenizer):
    policy = ScriptedThinker(smol_tokenizer)
    template = ChatTemplate(smol_tokenizer, chat_template=STRIP_THINK, name="strip-think-template")
    tasks = [{"options": {"task_id": "n-3"}}, {"options": {"task_id": "n-9"}}]
    with pytest.raises(RolloutError) as caught:
        collect(lambda: GuessNumberEnv(max_turns=4), policy, tasks, chat_template=template, progress=False)
    error = caught.value
    assert isinstance(error.__cause__, TemplatePrefixError)
    assert "strip-think-template" in str(error)
    finished = [r for r in error.episodes if r.status == "ok"]
    assert [r.task_id for r in finished] == ["n-3"]  # finished on turn 0, before the error: kept whole
    assert finished[0].turns[0].terminated and finished[0].outcome == 1.0
    failed = [r for r in error.episodes if r.status == "failed"]
    assert failed and "strip-think-template" in failed[0].error


def test_bad_tasks_and_group_size_are_refused(tiny_policy):
    with pytest.raises(ValueError, match="group_size"):
        collect(GuessNumberEnv, tiny_policy, [1], group_size=0)
    with pytest.raises(ValueError, match="task 0"):
        collect(GuessNumberEnv, tiny_policy, [{"sed": 1}])
