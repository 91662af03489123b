"""Branching rollouts (SLATE's k continuations, TreePS-RAG's trees): real environments, a tiny policy."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from tests.agents.conftest import tiny_llama
from tests.toy_envs import GuessNumberEnv
from turngym.agents.policy import SamplingParams
from turngym.core import TurnEnv
from turngym.rollout.branching import (
    BranchingError,
    branch,
    collect_trees,
    flat_group_size,
    generated_tokens,
    grow_tree,
    start,
    tree_turn_rows,
)

SAMPLING = SamplingParams(temperature=1.0, max_new_tokens=6, seed=11)


@pytest.fixture(scope="module")
def tokenizer(request):
    """SmolLM2's tokenizer; read from the GGUF once (~10 s of CPU), then from pytest's cache."""
    from transformers import AutoTokenizer

    from turngym.agents.models import smollm2_gguf_path

    cache = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    path = smollm2_gguf_path()
    if cache is None:
        return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)
    saved = cache.mkdir("smollm2-tokenizer")
    if (saved / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(saved), local_files_only=True)
    loaded = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)
    loaded.save_pretrained(str(saved))
    return loaded


@pytest.fixture
def policy(tokenizer):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tiny_llama(tokenizer, seed=1)
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sandbox():
    from turngym.envs.code_sandbox import Sandbox
    from turngym.envs.code_sandbox.process_backend import running_as_root

    with Sandbox("pool", workers=1, timeout_s=2.0, memory_mb=256, max_file_mb=4,
                 allow_weak_isolation=not running_as_root()) as box:
        yield box


def _prefills(policy):
    """Record the input_ids shape of every forward call (a generate call's first one is its prefill)."""
    calls: list[tuple[int, int, bool]] = []

    def hook(module, args, kwargs):
        ids = kwargs.get("input_ids")
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        calls.append((ids.shape[0], ids.shape[1], cache is not None and cache.get_seq_length() == 0))

    return calls, policy.model.register_forward_pre_hook(hook, with_kwargs=True)


def test_k_continuations_share_the_prefix_prefilled_once(policy):
    env = gym.make("turngym/SearchQA-v0")
    root = start(env, policy, 3)
    calls, handle = _prefills(policy)
    try:
        children = branch(env, policy, root, 4, sampling=SAMPLING)
        first = calls[0]
        calls.clear()
        open_child = next(c for c in children if not c.done)
        grandchildren = branch(env, policy, open_child, 3, sampling=SAMPLING)
        second = calls[0]
    finally:
        handle.remove()
    # one prefill row for the 4 identical prompts, over the whole opening prompt
    assert first[:2] == (1, len(root.prompt_ids))
    assert len(children) == 4 and all(c.record.prompt_ids == root.prompt_ids for c in children)
    assert all(c.record.turns[0].action_ids != [] for c in children)
    # from a child: one row again, and only the tokens after the child's kept keys/values are prefilled
    # (the environment's reply plus the last sampled token, whose keys were never computed)
    action = open_child.record.turns[0].action_ids
    assert second[0] == 1
    assert second[1] == len(open_child.prompt_ids) - (len(root.prompt_ids) + len(action) - 1)
    assert second[1] < len(open_child.prompt_ids) // 2
    for g in grandchildren:
        assert g.record.turns[0].action_ids == action  # the shared prefix, token for token
        assert g.prompt_ids[: len(open_child.prompt_ids)] == open_child.prompt_ids


def _env(name: str, sandbox) -> gym.Env:
    if name == "search_qa":
        return gym.make("turngym/SearchQA-v0")
    if name == "code_sandbox":
        from turngym.envs.code_sandbox.env import CodeSandboxEnv

        return CodeSandboxEnv(sandbox=sandbox, max_turns=6, max_invalid_turns=6)
    from turngym.envs.tool_use.env import ToolUseEnv

    return ToolUseEnv("generated", level="hard", n_tasks=5)


@pytest.mark.parametrize("name", ["search_qa", "code_sandbox", "tool_use"])
def test_tree_on_real_environments(name, policy, request):
    box = request.getfixturevalue("sandbox") if name == "code_sandbox" else None
    env = _env(name, box)
    try:
        tree = grow_tree(env, policy, 0, width=2, branch_depths=[0, 1], max_turns=3, sampling=SAMPLING,
                         group_id=f"t-{name}")
        records = tree.records()
        nodes = tree.nodes()
        assert len(tree.root.children) == 2
        assert len(records) == len(tree.leaves()) >= 2
        assert all(r.terminated or r.truncated for r in records)
        # shared turns are the same tokens in every path through them
        by_node: dict[str, list[int]] = {}
        for record in records:
            for node_id, turn in zip(record.metadata["tree"]["node_ids"], record.turns):
                assert by_node.setdefault(node_id, turn.action_ids) == turn.action_ids
        assert tree.generated_tokens == generated_tokens(records) == sum(n.action_tokens for n in nodes)
        assert tree.generate_calls == max(len(r.turns) for r in records)
        # each child was played from its parent's snapshot: replaying its action there gives its reply
        inner = env.unwrapped
        for node in nodes[1:]:
            inner.set_state(node.parent.state)
            observation, reward, _, _, info = env.step(node.record.turns[-1].action_text)
            turn = node.record.turns[-1]
            assert (observation, reward, info["anchor"]) == (turn.observation, turn.reward, turn.anchor)
        rows = tree_turn_rows(records)
        assert len(set(rows["node_ids"])) == len(nodes) - 1
    finally:
        env.close()


def test_token_budget_stops_branching_but_finishes_every_path(policy):
    free = grow_tree(GuessNumberEnv(high=1000, max_turns=4), policy, 0, width=2, max_turns=4,
                     sampling=SAMPLING)
    capped = grow_tree(GuessNumberEnv(high=1000, max_turns=4), policy, 0, width=2, max_turns=4,
                       sampling=SAMPLING, token_budget=1)
    assert len(free.leaves()) == 2 ** 4
    # the budget is spent by the first level: it branches, then every path goes on alone
    assert len(capped.root.children) == 2 and len(capped.leaves()) == 2
    assert all(len(r.turns) == 4 for r in capped.records())
    assert capped.generated_tokens < free.generated_tokens
    assert flat_group_size(capped.generated_tokens, capped.generated_tokens / 2) == 2


def test_environments_without_state_cannot_be_branched(policy):
    class NoState(GuessNumberEnv):
        get_state = TurnEnv.get_state
        set_state = TurnEnv.set_state

    with pytest.raises(BranchingError, match="get_state"):
        start(NoState(), policy, 0)
    with pytest.raises(ValueError, match="k must be a positive int"):
        branch(GuessNumberEnv(), policy, start(GuessNumberEnv(), policy, 0), 0)
    with pytest.raises(ValueError, match="width"):
        grow_tree(GuessNumberEnv(), policy, 0, width=0)


def test_collect_trees_feeds_tempo(policy):
    from turngym.trainers.advantages import TurnBatch, estimate
    from turngym.trainers.advantages.tree import tempo_advantages, tree_values

    records = collect_trees(lambda: GuessNumberEnv(high=8, max_turns=3), policy, [0, 1], width=2,
                            branch_depths=[0], max_turns=3, sampling=SAMPLING, run_id="s")
    assert {r.group_id for r in records} == {"s-g0", "s-g1"}
    assert len({r.episode_id for r in records}) == len(records)
    rows = tree_turn_rows(records)
    batch = TurnBatch(rows["group_ids"], rows["episode_ids"], rows["turn_index"], rows["rewards"])
    td = tempo_advantages(batch, node_ids=rows["node_ids"]).advantages - estimate("grpo", batch).advantages
    branches = tree_values(batch, rows["node_ids"])["branches"]
    assert all(t == 0.0 for t, b in zip(td, branches) if b < 2)  # TEMPO is GRPO off the branch points
    assert all(b == 2 for b, t in zip(branches, rows["turn_index"]) if t == 0)
