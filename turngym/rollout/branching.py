"""Branching rollouts: k continuations of the next turn from a shared prefix, and trees of turns.

Two samplers share one mechanism. A :class:`BranchNode` is a point in an episode: the
environment's :meth:`~turngym.core.TurnEnv.get_state` snapshot after its turn, the
conversation's token stream (the next prompt) and the record of the path so far.

- :func:`branch` (SLATE's truncated step-level sampling, Samarinas, Chang & Zamani 2026,
  arXiv:2602.23440, Sec. 3): from one node, sample ``k`` continuations of the *next turn
  only*. The k prompts are the same token ids, so they go to ONE ``policy.generate`` call
  and :class:`~turngym.agents.hf_policy.HFPolicy` prefills the shared prefix once (identical
  prompts of a call are deduplicated; the node's keys/values, kept from the turn that
  produced it, are reused rather than recomputed). Each continuation is played on the
  environment restored to the node's snapshot, so siblings differ only at this turn.
- :func:`grow_tree` (TreePS-RAG's rollout tree, Zhang et al. 2026, arXiv:2601.06922,
  Sec. 3): every turn is a node; open nodes at the depths in ``branch_depths`` get
  ``width`` children, the others one, level by level (one ``generate`` call per level),
  until every path has ended. ``token_budget`` caps the generated tokens spent on
  branching: once it is reached no node branches any more, and the open paths are only
  finished (one child each), so every leaf has an outcome. With ``episode_tokens`` (the
  expected tokens of one whole episode) the budget covers the finishing too: a node
  branches only while the tree's projected cost (every open path finished at about
  ``episode_tokens``) stays within the budget, node by node. The tree's
  :attr:`Tree.generated_tokens` counts every sampled token once (a shared prefix is paid
  once), the unit in which tree and flat sampling are compared at equal cost
  (:func:`flat_group_size` gives the flat group of the same expected cost;
  :class:`EqualCostBudget` sets each step's tree budgets to the cost of a flat group of the
  current policy, measured on its own trees by :func:`flat_episode_tokens`).

The exact tree-construction schedule of TreePS-RAG (which nodes to expand under the
budget) is not reproduced: the published text available here describes it only in words,
so this module expands every open node at the chosen depths (breadth first), which is the
simplest schedule with the property the paper asks for (every node's value is a mean over
descendant outcomes).

Records: :meth:`Tree.records` gives one :class:`~turngym.core.trajectory.EpisodeRecord`
per leaf (a root-to-leaf path; shared turns appear in every path through them, with the
same token ids), each with ``metadata["tree"] = {"node_ids": [...], "root": ...}``; the
node ids are what :func:`turngym.trainers.advantages.tree.tempo_advantages` needs
(:func:`tree_turn_rows`). Records are built by :mod:`turngym.rollout.records` only.

Any environment with ``get_state``/``set_state`` can be branched (SearchQA, CodeSandbox,
ToolUse, WebShop, and the toy environments of the tests); the others raise a clear error.
Unlike :func:`~turngym.rollout.collect`, an environment that raises while a tree grows stops
the tree (the error propagates): there is no per-branch failure isolation or step timeout.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from turngym.agents.chat_template import ChatTemplate, Conversation
from turngym.agents.policy import Policy, SamplingParams
from turngym.core.trajectory import EpisodeRecord
from turngym.rollout.records import (
    check_reset,
    check_step,
    fork_episode,
    new_episode,
    record_cutoff,
    record_reset,
    record_turn,
)
from turngym.rollout.tasks import EnvSource, Task, env_factory, parse_task


class BranchingError(RuntimeError):
    """The environment cannot be branched, or the policy returned something unusable."""


@dataclass
class BranchNode:
    """A point in an episode from which continuations can be sampled.

    ``node_id`` is the path from the root (``"r"``, ``"r.0"``, ``"r.0.2"``, ...); ``state`` the
    environment's snapshot after this node's turn (the root: after ``reset``); ``record`` the
    path's record so far; ``done`` whether the episode ended here (terminated, truncated or
    cut off); ``action_tokens`` how many tokens this node's turn sampled (0 for the root).
    """

    node_id: str
    parent: BranchNode | None
    state: Any
    conversation: Conversation
    record: EpisodeRecord
    done: bool = False
    action_tokens: int = 0
    children: list[BranchNode] = field(default_factory=list)

    @property
    def depth(self) -> int:
        """Turns played from the root to here."""
        return len(self.record.turns)

    @property
    def prompt_ids(self) -> list[int]:
        """The next prompt: the token stream of the path so far, ending with the generation prompt."""
        return self.conversation.ids


@dataclass
class Tree:
    """A rollout tree: its root, the environment it was grown on and what it cost."""

    root: BranchNode
    generated_tokens: int = 0
    generate_calls: int = 0

    def nodes(self) -> list[BranchNode]:
        """Every node, parents before children (breadth first)."""
        out, queue = [], [self.root]
        while queue:
            node = queue.pop(0)
            out.append(node)
            queue.extend(node.children)
        return out

    def leaves(self) -> list[BranchNode]:
        """The nodes without children: each ends one root-to-leaf path."""
        return [n for n in self.nodes() if not n.children]

    def records(self) -> list[EpisodeRecord]:
        """One record per leaf, in breadth-first order (see the module docstring)."""
        return [leaf.record for leaf in self.leaves() if leaf is not self.root]


def start(
    env: gym.Env,
    policy: Policy,
    task: Task = None,
    *,
    chat_template: ChatTemplate | None = None,
    group_id: str = "tree",
) -> BranchNode:
    """Reset ``env`` on ``task`` and return the root node (checks that ``env`` can be branched)."""
    seed, options = parse_task(task, 0)
    template = chat_template or ChatTemplate(policy.tokenizer)
    observation, info = check_reset(env.reset(seed=seed, options=options))
    record = new_episode(
        f"{group_id}-r", group_id=group_id,
        seed=seed, agent=getattr(policy, "name", type(policy).__name__),
        metadata={"template": template.name, "options": options},
    )
    record_reset(record, env, observation, info)
    conversation = template.start(observation)
    record.prompt_ids = list(conversation.ids)
    return BranchNode("r", None, _snapshot(env), conversation, record)


def branch(
    env: gym.Env,
    policy: Policy,
    node: BranchNode,
    k: int,
    *,
    sampling: SamplingParams | None = None,
    max_turns: int | None = None,
) -> list[BranchNode]:
    """SLATE's truncated sampling: ``k`` continuations of ``node``'s next turn (see the module docstring).

    All k prompts are ``node.prompt_ids`` and go to one ``policy.generate`` call; each
    continuation is played on ``env`` restored to ``node.state``. Returns the k children
    (also appended to ``node.children``). ``env`` is left in the last child's state.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    return _expand(env, policy, [(node, k)], sampling or SamplingParams(), max_turns)[0]


def grow_tree(
    env: EnvSource | gym.Env,
    policy: Policy,
    task: Task = None,
    *,
    width: int = 2,
    branch_depths: Sequence[int] | None = None,
    token_budget: int | None = None,
    episode_tokens: float | None = None,
    max_turns: int = 8,
    sampling: SamplingParams | None = None,
    chat_template: ChatTemplate | None = None,
    group_id: str = "tree",
) -> Tree:
    """Grow a rollout tree (TreePS-RAG) on one task; see the module docstring.

    Args:
        env: an environment (used for every node, restored by ``set_state``), an id or a factory.
        policy: a token-level policy.
        task: the task (seed, None or ``{"seed", "options"}``).
        width: children of a node that branches.
        branch_depths: the depths (turns played) at which open nodes branch; default: every depth.
        token_budget: generated tokens after which no node branches any more (None: no cap);
            open paths are still finished, so a tree can end somewhat above its budget.
        episode_tokens: the expected generated tokens of one whole episode; with a
            ``token_budget``, a node branches only while the projected cost of the tree (each
            open path finished at ``max(one turn, episode_tokens - its tokens so far)``) stays
            within the budget, so the budget covers the finishing as well.
        max_turns: paths still open after this many turns are cut off (``"max_turns"``).
        sampling: how to sample; with a seed, level d uses ``seed + 7919 * d``.
        chat_template: defaults to the policy tokenizer's own.
        group_id: prefix of the records' ids; all leaves share it as their group.
    """
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")
    if token_budget is not None and (not isinstance(token_budget, int) or token_budget < 0):
        raise ValueError(f"token_budget must be a non-negative int or None, got {token_budget!r}")
    if not isinstance(max_turns, int) or max_turns < 1:
        raise ValueError(f"max_turns must be a positive int, got {max_turns!r}")
    if episode_tokens is not None and not (isinstance(episode_tokens, (int, float)) and episode_tokens > 0
                                          and math.isfinite(episode_tokens)):
        raise ValueError(f"episode_tokens must be a positive number or None, got {episode_tokens!r}")
    depths = None if branch_depths is None else {int(d) for d in branch_depths}
    sampling = sampling or SamplingParams()
    owned = not isinstance(env, gym.Env)
    environment = env_factory(env)() if owned else env  # type: ignore[arg-type]
    try:
        root = start(environment, policy, task, chat_template=chat_template, group_id=group_id)
        tree = Tree(root)
        frontier = [root]
        while frontier:
            depth = frontier[0].depth
            widths = _widths(tree, frontier, width, depths, token_budget, episode_tokens)
            params = sampling.with_seed(None if sampling.seed is None else sampling.seed + 7919 * depth)
            children = _expand(environment, policy, list(zip(frontier, widths)), params, max_turns)
            tree.generate_calls += 1
            tree.generated_tokens += sum(c.action_tokens for group in children for c in group)
            frontier = [c for group in children for c in group if not c.done]
        for leaf in tree.leaves():
            leaf.record.metadata["tree"] = _tree_metadata(leaf)
            leaf.record.metadata["tree"]["generated_tokens"] = tree.generated_tokens
        return tree
    finally:
        if owned:
            environment.close()


def collect_trees(
    env: EnvSource,
    policy: Policy,
    tasks: Sequence[Task],
    *,
    width: int = 2,
    branch_depths: Sequence[int] | None = None,
    token_budget: int | None = None,
    episode_tokens: float | None = None,
    max_turns: int = 8,
    sampling: SamplingParams | None = None,
    chat_template: ChatTemplate | None = None,
    run_id: str = "tree",
) -> list[EpisodeRecord]:
    """One tree per task (:func:`grow_tree`), as records: the drop-in tree counterpart of
    :func:`~turngym.rollout.collect` for a training or study loop.

    Task i's leaves form group ``"{run_id}-g{i}"``; each record's ``metadata["tree"]`` holds
    its node ids (for :func:`tree_turn_rows` and TEMPO) and its tree's ``generated_tokens``.
    With a sampling seed, task i uses ``seed + 104729 * i`` (levels add ``7919 * depth``).
    """
    if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Sequence):
        raise ValueError("tasks must be a list with one entry (seed, None or {'seed', 'options'}) per tree")
    sampling = sampling or SamplingParams()
    records: list[EpisodeRecord] = []
    for index, task in enumerate(tasks):
        seed, options = parse_task(task, index)
        params = sampling.with_seed(None if sampling.seed is None else sampling.seed + 104729 * index)
        tree = grow_tree(
            env, policy, {"seed": seed, "options": options}, width=width, branch_depths=branch_depths,
            token_budget=token_budget, episode_tokens=episode_tokens, max_turns=max_turns, sampling=params,
            chat_template=chat_template,
            group_id=f"{run_id}-g{index}",
        )
        records.extend(tree.records())
    return records


def flat_group_size(tree_tokens: int, mean_episode_tokens: float) -> int:
    """How many flat episodes cost about ``tree_tokens`` generated tokens (at least 1).

    ``mean_episode_tokens`` is the mean number of tokens a flat episode samples (e.g. from a
    pilot :func:`~turngym.rollout.collect` run). Used to compare tree and flat sampling at
    equal cost.
    """
    if mean_episode_tokens <= 0 or not math.isfinite(mean_episode_tokens):
        raise ValueError(f"mean_episode_tokens must be a positive number, got {mean_episode_tokens!r}")
    return max(1, round(tree_tokens / mean_episode_tokens))


def tree_node_ids(record: EpisodeRecord) -> list[str] | None:
    """The tree node each turn of ``record`` leads to (``metadata["tree"]["node_ids"]``, paths from
    the root, unique within a group), or ``None`` for a flat record.

    Raises ``ValueError`` when a tree record does not name one node per turn."""
    nodes = record.metadata.get("tree", {}).get("node_ids")
    if nodes is not None and len(nodes) != len(record.turns):
        raise ValueError(
            f"episode {record.episode_id}: {len(nodes)} tree node ids for {len(record.turns)} turns; "
            "metadata['tree']['node_ids'] names the node each turn leads to, one per turn "
            "(records as grow_tree(...).records() makes them)"
        )
    return nodes


def path_weights(records: Sequence[EpisodeRecord]) -> list[float]:
    """Each record's weight as a sample of flat episodes: 1 for a flat record; for a tree
    path the probability that flat sampling follows it, the product over its turns of
    ``1 / (children of the turn's parent)`` (a whole tree's paths sum to 1).

    Paths through a node that branched less are fewer, so a plain mean over a tree's leaves
    over-weights the branching parts; ``sum(w * x) / sum(w)`` estimates the policy's
    per-episode mean of ``x`` (success, outcome, tokens) from tree or flat records alike.
    """
    children: dict[tuple[str, str], set[str]] = {}
    paths = [tree_node_ids(r) for r in records]
    for record, nodes in zip(records, paths):
        for parent, node in zip(["r", *(nodes or [])], nodes or []):
            children.setdefault((record.group_id, parent), set()).add(node)
    weights = []
    for record, nodes in zip(records, paths):
        weight = 1.0
        for parent in ["r", *(nodes or [])][: len(nodes or [])]:
            weight /= len(children[(record.group_id, parent)])
        weights.append(weight)
    return weights


def flat_episode_tokens(records: Sequence[EpisodeRecord]) -> float:
    """The expected generated tokens of one flat episode of the policy that produced ``records``:
    the :func:`path_weights`-weighted mean of each record's sampled tokens (flat records: the mean)."""
    if not records:
        raise ValueError("flat_episode_tokens needs at least one record")
    weights = path_weights(records)
    tokens = [sum(len(turn.action_ids) for turn in r.turns) for r in records]
    return float(sum(w * t for w, t in zip(weights, tokens)) / sum(weights))


@dataclass
class EqualCostBudget:
    """Tree budgets that cost what flat groups of ``episodes`` episodes would, step after step.

    Before each step :meth:`plan` gives the keyword arguments of :func:`collect_trees`; after
    it :meth:`update` books the step's tree records. The cost of the flat group the step
    replaces is ``episodes`` times :func:`flat_episode_tokens` of the step's own trees (the
    current policy's episode cost); each tree's budget is that cost, with the running
    difference between what the trees spent and what flat groups would have spent shared out
    over the next step's trees, so the totals stay equal over a run. The first step, with no
    estimate yet, is a flat group itself (``width=episodes`` at depth 0 only), and so is a step
    after one whose records sampled no tokens (an estimate of 0 budgets nothing).

    ``target_tokens`` (flat-equivalent cost so far) and ``spent_tokens`` are the bookkeeping a
    report shows; ``spent_tokens / target_tokens`` is the tree sampler's relative cost.
    """

    episodes: int
    estimate: float | None = None
    target_tokens: float = 0.0
    spent_tokens: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.episodes, int) or self.episodes < 1:
            raise ValueError(f"episodes must be a positive int, got {self.episodes!r}")

    def plan(self, trees: int) -> dict[str, Any]:
        """:func:`collect_trees` arguments for a step of ``trees`` trees (budget per tree)."""
        if not isinstance(trees, int) or trees < 1:
            raise ValueError(f"trees must be a positive int, got {trees!r}")
        if self.estimate is None or self.estimate <= 0:
            # no estimate yet, or the last step sampled no tokens at all (every turn ended at
            # once): no cost to budget trees by, so sample a flat group and measure again
            return {"width": self.episodes, "branch_depths": [0], "token_budget": None,
                    "episode_tokens": None}
        carry = (self.target_tokens - self.spent_tokens) / trees
        budget = max(0, round(self.episodes * self.estimate + carry))
        return {"token_budget": budget, "episode_tokens": self.estimate}

    def update(self, records: Sequence[EpisodeRecord], trees: int) -> None:
        """Book one step: ``records`` of ``trees`` trees (all their leaves)."""
        self.estimate = flat_episode_tokens(records)
        self.target_tokens += self.episodes * self.estimate * trees
        self.spent_tokens += generated_tokens(records)

    def state(self) -> dict[str, Any]:
        """The bookkeeping as plain data (JSON-safe: a checkpoint keeps it, see :meth:`from_state`)."""
        return {"episodes": self.episodes, "estimate": self.estimate, "target_tokens": self.target_tokens,
                "spent_tokens": self.spent_tokens}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], episodes: int | None = None) -> EqualCostBudget:
        """The budget :meth:`state` described, exactly (floats survive JSON bit for bit).

        ``episodes`` overrides the saved flat group size (a run resumed with another
        ``group_size``: the totals so far stay what they were).
        """
        if not isinstance(state, Mapping) or not {"episodes", "estimate", "target_tokens",
                                                  "spent_tokens"} <= set(state):
            raise ValueError(f"not an EqualCostBudget state (keys episodes, estimate, target_tokens, "
                             f"spent_tokens): {state!r}")
        estimate = state["estimate"]
        if estimate is not None and (isinstance(estimate, bool) or not isinstance(estimate, (int, float))
                                     or not estimate >= 0):
            raise ValueError(f"EqualCostBudget state: estimate must be a number >= 0 or None, "
                             f"got {estimate!r}")
        return cls(int(state["episodes"]) if episodes is None else episodes,
                   estimate=None if estimate is None else float(estimate),
                   target_tokens=float(state["target_tokens"]), spent_tokens=int(state["spent_tokens"]))


def generated_tokens(records: Sequence[EpisodeRecord]) -> int:
    """Tokens sampled to produce ``records``, each shared tree turn counted once.

    Flat records have no shared turns, so this is the sum of their action tokens; tree
    records (``metadata["tree"]``) count each node once.
    """
    seen: set[tuple[str, str]] = set()
    total = 0
    for record in records:
        nodes = tree_node_ids(record)
        for index, turn in enumerate(record.turns):
            key = (record.group_id, nodes[index]) if nodes else (record.episode_id, str(index))
            if key not in seen:
                seen.add(key)
                total += len(turn.action_ids)
    return total


def tree_turn_rows(records: Sequence[EpisodeRecord]) -> dict[str, list[Any]]:
    """Flat per-turn arrays of tree records, for :class:`~turngym.trainers.advantages.TurnBatch`.

    Returns ``group_ids``, ``episode_ids``, ``turn_index``, ``rewards`` and ``node_ids``
    (the tree node each turn leads to, shared by every path through it), row by row,
    episode-major in record order: the row order of
    :func:`turngym.trainers.batching.turn_batch` for the same records, so ``node_ids`` can go
    with a trainer's own batch.
    """
    keys = ("group_ids", "episode_ids", "turn_index", "rewards", "node_ids")
    rows: dict[str, list[Any]] = {k: [] for k in keys}
    for record in records:
        nodes = tree_node_ids(record)
        if not nodes:
            raise ValueError(
                f"record {record.episode_id!r} has no tree node ids (metadata['tree']['node_ids']); "
                "tree rows come from grow_tree(...).records()"
            )
        for index, turn in enumerate(record.turns):
            rows["group_ids"].append(record.group_id)
            rows["episode_ids"].append(record.episode_id)
            rows["turn_index"].append(index)
            rows["rewards"].append(turn.reward)
            rows["node_ids"].append(f"{record.group_id}/{nodes[index]}")
    return rows


# ----- the one expansion step ---------------------------------------------------------------


def _widths(
    tree: Tree,
    frontier: list[BranchNode],
    width: int,
    depths: set[int] | None,
    token_budget: int | None,
    episode_tokens: float | None,
) -> list[int]:
    """How many children each open node gets at this level (see :func:`grow_tree`'s budget)."""
    depth = frontier[0].depth
    if depths is not None and depth not in depths:
        return [1] * len(frontier)
    if token_budget is None:
        return [width] * len(frontier)
    spent = tree.generated_tokens
    if episode_tokens is None:
        return [width if spent < token_budget else 1] * len(frontier)
    turns = sum(n.depth for n in frontier)
    tokens = [sum(len(t.action_ids) for t in n.record.turns) for n in frontier]
    per_turn = sum(tokens) / turns if turns else episode_tokens
    rest = [max(per_turn, episode_tokens - t, 1.0) for t in tokens]  # finishing one path from each node
    projected = spent + sum(rest)
    widths = []
    for cost in rest:
        extra = (width - 1) * cost
        if projected + extra <= token_budget:
            projected += extra
            widths.append(width)
        else:
            widths.append(1)
    return widths


def _expand(
    env: gym.Env,
    policy: Policy,
    requests: list[tuple[BranchNode, int]],
    params: SamplingParams,
    max_turns: int | None,
) -> list[list[BranchNode]]:
    """Give each (node, n) n children: one generate call for all, each child played from node.state."""
    inner = _inner(env)
    prompts: list[list[int]] = []
    owners: list[BranchNode] = []
    for node, n in requests:
        if node.done:
            raise ValueError(f"node {node.node_id!r} has ended (its episode is over); it cannot be branched")
        prompts.extend([node.prompt_ids] * n)
        owners.extend([node] * n)
    generations = policy.generate(prompts, params)
    if len(generations) != len(prompts):
        raise BranchingError(
            f"policy.generate returned {len(generations)} generations for {len(prompts)} prompts"
        )
    out: list[list[BranchNode]] = [[] for _ in requests]
    slot = {id(node): i for i, (node, _) in enumerate(requests)}
    for node, generation in zip(owners, generations):
        inner.set_state(node.state)
        conversation = _fork_conversation(node.conversation)
        text = conversation.action_text(generation.token_ids)
        observation, reward, terminated, truncated, info = check_step(env.step(text))
        tokens = conversation.add_turn(generation.token_ids, observation)
        child_id = f"{node.node_id}.{len(node.children)}"
        record = fork_episode(node.record, f"{node.record.group_id}-{child_id}")
        record_turn(
            record, action_text=text, action_ids=generation.token_ids, action_logprobs=generation.logprobs,
            observation=observation, observation_ids=tokens.observation_ids, reward=reward,
            terminated=terminated, truncated=truncated, info=info,
            extra={"finish_reason": generation.finish_reason, "node_id": child_id},
        )
        done = terminated or truncated
        if not done and max_turns is not None and len(record.turns) >= max_turns:
            record_cutoff(record, "max_turns")
            done = True
        child = BranchNode(
            child_id, node, _snapshot(env), conversation, record, done, len(generation.token_ids)
        )
        node.children.append(child)
        out[slot[id(node)]].append(child)
    return out


def _fork_conversation(conversation: Conversation) -> Conversation:
    """An independent copy of a conversation (the template is shared, the streams are not)."""
    twin = copy.copy(conversation)
    twin.messages = copy.deepcopy(conversation.messages)
    twin.ids = list(conversation.ids)
    twin.prompt_ids = list(conversation.prompt_ids)
    twin._rendered_ids = list(conversation._rendered_ids)
    return twin


def _tree_metadata(leaf: BranchNode) -> dict[str, Any]:
    path: list[str] = []
    node: BranchNode | None = leaf
    while node is not None and node.parent is not None:
        path.append(node.node_id)
        node = node.parent
    return {"node_ids": path[::-1], "root": "r"}


def _inner(env: gym.Env) -> Any:
    """The environment under Gymnasium's wrappers, which do not forward get_state/set_state."""
    inner = getattr(env, "unwrapped", env)
    for name in ("get_state", "set_state"):
        if not callable(getattr(inner, name, None)):
            raise BranchingError(f"{type(inner).__name__} has no {name}(): only environments with "
                                 "get_state/set_state can be branched")
    return inner


def _snapshot(env: gym.Env) -> Any:
    try:
        return _inner(env).get_state()
    except NotImplementedError as exc:
        raise BranchingError(f"{exc}; only environments with get_state/set_state can be branched") from exc
