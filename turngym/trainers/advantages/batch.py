"""TurnBatch: a ragged batch of turns (groups of episodes of turns) as flat per-turn arrays.

Every estimator reads the batch through its :class:`Layout`, a canonical view computed
once at construction: rows sorted by (group, episode, turn), with integer codes for groups,
episodes and anchors. Working in that canonical order is what makes every estimator give
bit-identical results whatever order the turns arrive in.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ArrayLike = Sequence[Any] | np.ndarray


@dataclass(frozen=True, eq=False)
class Layout:
    """The batch in canonical order: rows sorted by (group, episode, turn).

    Per-row arrays (length N, canonical order): ``group``, ``episode`` (codes, both
    non-decreasing), ``turn`` (0-based), ``length`` (the episode's number of turns),
    ``remaining`` (turns after this one), ``is_last``, ``rewards``, ``info_gain``,
    ``entropy``, ``anchor`` (anchor codes) and ``group_turn`` (a dense id of the
    (group, turn index) pool, whose group code and turn are ``group_turn_group`` and
    ``group_turn_key``). Per-episode arrays (length E): ``ep_start``, ``ep_length``,
    ``ep_group``. ``group_ids`` / ``episode_ids`` / ``anchor_values`` map codes back to the
    caller's ids. ``order[j]`` is the input row at canonical position ``j``.
    """

    order: np.ndarray
    group: np.ndarray
    episode: np.ndarray
    turn: np.ndarray
    length: np.ndarray
    remaining: np.ndarray
    is_last: np.ndarray
    rewards: np.ndarray
    info_gain: np.ndarray | None
    entropy: np.ndarray | None
    anchor: np.ndarray | None
    anchor_values: np.ndarray | None
    group_turn: np.ndarray
    group_turn_group: np.ndarray
    group_turn_key: np.ndarray
    n_group_turn: int
    ep_start: np.ndarray
    ep_length: np.ndarray
    ep_group: np.ndarray
    group_ids: np.ndarray
    episode_ids: np.ndarray

    @property
    def n_turns(self) -> int:
        return int(self.order.size)

    @property
    def n_episodes(self) -> int:
        return int(self.ep_start.size)

    @property
    def n_groups(self) -> int:
        return int(self.group_ids.size)

    def episode_sums(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (canonical order) over each episode, in episode-code order."""
        return np.add.reduceat(values, self.ep_start)

    def to_input_order(self, values: np.ndarray) -> np.ndarray:
        """Scatter per-row ``values`` from canonical order back to the caller's row order."""
        out = np.empty_like(values)
        out[self.order] = values
        return out


class TurnBatch:
    """A batch of turns given as flat per-turn arrays of equal length N.

    Args:
        group_ids: the group of each turn: episodes that share a task reset share a group.
            Any hashable values (ints, strings, ...).
        episode_ids: the episode of each turn; an episode belongs to exactly one group.
        turn_index: 0-based position of the turn in its episode (integers); within each
            episode the indices must be exactly 0, 1, ..., T-1 (any order across rows).
        rewards: the turn's reward; the terminal turn's includes the outcome.
        anchors: optional hashable key of the environment state the turn acts from (GiGPO);
            equal keys within a group mean the same state.
        info_gain: optional per-turn information gain (IGPO, A^2TGPO). The terminal turn's
            value is ignored by those estimators (give 0 if there is none).
        entropy: optional per-turn policy entropy (EMPG).
        node_ids: optional hashable id of the rollout-tree node each turn leads to (tree
            estimators ``tempo`` and ``tree_step``): equal ids within a group = the same node,
            shared by every path through it. Filled from the records' ``metadata["tree"]`` by
            :func:`turngym.trainers.batching.turn_batch` for tree rollouts
            (:func:`turngym.rollout.branching.grow_tree`); kept in the caller's row order.

    Turns may arrive in any order; every estimator returns its per-turn arrays in the
    order given here. Invalid input raises ``ValueError`` (lengths, non-finite values,
    turn indices that are not 0..T-1, an episode in two groups, an empty batch) or
    ``TypeError`` (non-numeric rewards, non-integer turn indices, unhashable ids).

    Factorising string ids and anchors happens here, once, with ``hash`` and ``np.unique``
    on the 64-bit hashes (collisions are detected and resolved exactly); codes are made
    canonical so that results do not depend on row order or on ``PYTHONHASHSEED``.

    Example:
        >>> batch = TurnBatch(
        ...     group_ids=["q1", "q1", "q1", "q2"],
        ...     episode_ids=[7, 7, 8, 9],
        ...     turn_index=[1, 0, 0, 0],
        ...     rewards=[1.0, 0.0, 0.5, 1.0],
        ... )
        >>> batch.n_turns, batch.n_episodes, batch.n_groups
        (4, 3, 2)
        >>> batch.layout.rewards.tolist()  # canonical order: (group, episode, turn)
        [0.0, 1.0, 0.5, 1.0]
    """

    def __init__(
        self,
        group_ids: ArrayLike,
        episode_ids: ArrayLike,
        turn_index: ArrayLike,
        rewards: ArrayLike,
        *,
        anchors: ArrayLike | None = None,
        info_gain: ArrayLike | None = None,
        entropy: ArrayLike | None = None,
        node_ids: ArrayLike | None = None,
    ) -> None:
        n = _check_lengths(
            group_ids=group_ids,
            episode_ids=episode_ids,
            turn_index=turn_index,
            rewards=rewards,
            anchors=anchors,
            info_gain=info_gain,
            entropy=entropy,
            node_ids=node_ids,
        )
        self.group_ids = _as_ids("group_ids", group_ids)
        self.episode_ids = _as_ids("episode_ids", episode_ids)
        self.turn_index = _as_turns(turn_index, n)
        self.rewards = _as_real("rewards", rewards)
        self.anchors = None if anchors is None else _as_ids("anchors", anchors)
        self.info_gain = None if info_gain is None else _as_real("info_gain", info_gain)
        self.entropy = None if entropy is None else _as_real("entropy", entropy)
        self.node_ids = None if node_ids is None else _as_ids("node_ids", node_ids)
        if self.node_ids is not None and self.node_ids.dtype.kind == "O":
            try:
                set(self.node_ids)
            except TypeError as exc:
                raise TypeError(f"node_ids must be hashable (strings, ints, tuples): {exc}") from None
        self.layout = _build_layout(self)

    @classmethod
    def from_groups(
        cls,
        rewards: Sequence[Sequence[Sequence[float]]],
        *,
        anchors: Sequence[Sequence[Sequence[Hashable]]] | None = None,
        info_gain: Sequence[Sequence[Sequence[float]]] | None = None,
        entropy: Sequence[Sequence[Sequence[float]]] | None = None,
        node_ids: Sequence[Sequence[Sequence[Hashable]]] | None = None,
    ) -> TurnBatch:
        """Build a batch from nested lists ``rewards[group][episode][turn]``.

        Group ids are 0, 1, ...; episode ids run 0, 1, ... over the whole batch; rows are
        in nesting order. ``anchors``, ``info_gain``, ``entropy`` and ``node_ids`` take the same
        nesting.

        >>> b = TurnBatch.from_groups([[[0, 1], [1]], [[0]]])
        >>> b.group_ids.tolist(), b.episode_ids.tolist(), b.turn_index.tolist()
        ([0, 0, 0, 1], [0, 0, 1, 2], [0, 1, 0, 0])
        """
        groups, episodes, turns, flat = [], [], [], []
        episode = 0
        for g, group in enumerate(rewards):
            for ep in group:
                for t, r in enumerate(ep):
                    groups.append(g)
                    episodes.append(episode)
                    turns.append(t)
                    flat.append(r)
                episode += 1

        def flatten(name: str, nested: Any) -> list[Any] | None:
            if nested is None:
                return None
            out = [x for group in nested for ep in group for x in ep]
            if len(out) != len(flat):
                raise ValueError(f"{name} must have the same nesting as rewards")
            return out

        return cls(
            groups,
            episodes,
            turns,
            flat,
            anchors=flatten("anchors", anchors),
            info_gain=flatten("info_gain", info_gain),
            entropy=flatten("entropy", entropy),
            node_ids=flatten("node_ids", node_ids),
        )

    @property
    def n_turns(self) -> int:
        return self.layout.n_turns

    @property
    def n_episodes(self) -> int:
        return self.layout.n_episodes

    @property
    def n_groups(self) -> int:
        return self.layout.n_groups

    def __len__(self) -> int:
        return self.layout.n_turns

    def __repr__(self) -> str:
        extras = [
            name
            for name in ("anchors", "info_gain", "entropy", "node_ids")
            if getattr(self, name) is not None
        ]
        return (
            f"TurnBatch(turns={self.n_turns}, episodes={self.n_episodes}, "
            f"groups={self.n_groups}, with={extras})"
        )

    def require(self, field: str, estimator: str) -> np.ndarray:
        """Return the canonical-order array of an optional field, or raise if it is absent."""
        value = getattr(self.layout, "anchor" if field == "anchors" else field)
        if value is None:
            raise ValueError(
                f"estimator {estimator!r} needs per-turn {field!r} in the TurnBatch; "
                f"pass TurnBatch(..., {field}=...)"
            )
        return value


# --------------------------------------------------------------------------- conversion


def _check_lengths(**arrays: ArrayLike | None) -> int:
    lengths = {}
    for name, value in arrays.items():
        if value is None:
            continue
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            raise TypeError(f"{name} must be a 1-D sequence or array, got {type(value).__name__}")
        if isinstance(value, np.ndarray) and value.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {value.shape}")
        lengths[name] = len(value)
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"all per-turn arrays must have the same length, got {listed}")
    n = lengths["rewards"]
    if n == 0:
        raise ValueError("a TurnBatch needs at least one turn, got empty arrays")
    return n


def _as_real(name: str, values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (int or float), got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(
            f"{name} must be finite: {int(bad.sum())} NaN/inf value(s), "
            f"first at row {first} ({float(arr[first])!r})"
        )
    arr.setflags(write=False)
    return arr


def _as_turns(values: ArrayLike, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"turn_index must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"turn_index must hold integers (0-based), got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= n:
        bad = int(np.argmax((arr < 0) | (arr >= n)))
        raise ValueError(
            f"turn_index must run 0..T-1 within each episode; row {bad} has turn {arr[bad]}"
        )
    arr.setflags(write=False)
    return arr


def _as_ids(name: str, values: ArrayLike) -> np.ndarray:
    """Ids stay numeric arrays when numeric; anything else becomes an object array."""
    if isinstance(values, np.ndarray):
        arr = values
    else:
        # Keep each element as given (np.asarray(["a", 1]) would turn 1 into "1"), and
        # only convert to a numeric array when every element is an integer or a float.
        arr = np.fromiter(values, dtype=object, count=len(values))
        kinds = {type(arr[0])} if isinstance(arr[0], str) else set(map(type, arr))
        if all(issubclass(k, (int, np.integer)) for k in kinds):
            arr = _numeric_or_object(arr, np.int64)
        elif all(issubclass(k, (int, float, np.integer, np.floating)) for k in kinds):
            arr = _numeric_or_object(arr, np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} must not contain NaN/inf")
    if arr.dtype.kind not in "biufO":
        raise TypeError(
            f"{name} must hold hashable ids (ints, strings, ...), got dtype {arr.dtype}"
        )
    arr = arr.view()
    arr.setflags(write=False)
    return arr


def _py(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, for error messages."""
    return value.item() if isinstance(value, np.generic) else value


def _numeric_or_object(arr: np.ndarray, dtype: type) -> np.ndarray:
    try:
        return arr.astype(dtype)
    except (OverflowError, ValueError, TypeError):  # e.g. ints beyond 64 bits
        return arr


# --------------------------------------------------------------------------- factorising


def factorize(values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(uniques, codes)`` with ``uniques[codes] == values``, codes in value order.

    Numeric arrays use ``np.unique``. Object arrays (strings, tuples, mixed) go through
    ``hash`` and ``np.unique`` on the 64-bit hashes, checked exactly (see
    :func:`_hash_codes`); the distinct values are then sorted (by ``(type name, repr)``
    when they are not mutually comparable), so codes never depend on ``PYTHONHASHSEED``.
    """
    if values.dtype.kind != "O":
        uniques, codes = np.unique(values, return_inverse=True)
        return uniques, codes.astype(np.int64)
    codes, representative = _hash_codes(values, name)
    uniques = values[representative]
    try:
        perm = np.argsort(uniques, kind="stable")
    except TypeError:  # values of mixed, mutually unorderable types
        keys = np.fromiter(
            ((type(v).__name__, repr(v)) for v in uniques), dtype=object, count=uniques.size
        )
        perm = np.argsort(keys, kind="stable")
    rank = np.empty_like(perm)
    rank[perm] = np.arange(perm.size)
    return uniques[perm], rank[codes]


def factorize_by_appearance(
    values: np.ndarray, order: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`factorize` but codes follow first appearance in ``values[order]``; the
    codes returned are for the rows of ``values[order]``."""
    if values.dtype.kind != "O":
        codes = np.unique(values, return_inverse=True)[1].astype(np.int64)
    else:
        codes, _ = _hash_codes(values, name)
    codes = codes[order]
    first = np.full(codes.max() + 1, codes.size, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(codes.size))
    perm = np.argsort(first)  # first positions are distinct: any sort is exact
    rank = np.empty_like(perm)
    rank[perm] = np.arange(perm.size)
    return values[order[first[perm]]], rank[codes]


def _hash_codes(values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes for an object array via ``hash`` + ``np.unique``, and one row per code.

    Exactness: there are as many distinct hashes as distinct values (``len(set(values))``,
    which uses ``==``) unless two distinct values share a hash (``hash(-1) == hash(-2)``,
    or a rare 64-bit collision); then the codes are recomputed with a dictionary.
    """
    try:
        hashes = np.fromiter(map(hash, values), dtype=np.int64, count=values.size)
    except TypeError as exc:
        raise TypeError(f"{name} must be hashable: {exc}") from None
    _, codes = np.unique(hashes, return_inverse=True)
    codes = codes.astype(np.int64)
    representative = np.empty(codes.max() + 1, dtype=np.int64)
    representative[codes] = np.arange(codes.size)  # any row of the code will do
    if len(set(values)) != representative.size:  # more distinct values than hashes
        index: dict[Any, int] = {}
        codes = np.fromiter(
            (index.setdefault(v, len(index)) for v in values), np.int64, count=values.size
        )
        representative = np.empty(len(index), dtype=np.int64)
        representative[codes] = np.arange(codes.size)
    return codes, representative


# --------------------------------------------------------------------------- layout


def _build_layout(batch: TurnBatch) -> Layout:
    n = batch.rewards.size
    group_ids, g_code = factorize(batch.group_ids, "group_ids")
    episode_ids, e_code = factorize(batch.episode_ids, "episode_ids")
    n_ep = episode_ids.size

    # Each episode must sit in exactly one group.
    ep_group = np.empty(n_ep, dtype=np.int64)
    ep_group[e_code] = g_code
    clash = ep_group[e_code] != g_code
    if clash.any():
        row = int(np.argmax(clash))
        other = group_ids[ep_group[e_code[row]]]
        raise ValueError(
            f"episode {_py(episode_ids[e_code[row]])!r} appears in two groups "
            f"({_py(group_ids[g_code[row]])!r} and {_py(other)!r}); episode ids must be unique "
            "across the batch and each episode must belong to one group"
        )

    # Canonical order: episodes ranked by (group, episode id), then turns ascending. With
    # valid turn indices each row's canonical position is its episode's start + its turn,
    # so the order is a scatter, not a sort; positions that collide or overflow the
    # episode mean the turn indices are not 0..T-1.
    by_group = np.argsort(ep_group, kind="stable")
    ep_rank = np.empty(n_ep, dtype=np.int64)
    ep_rank[by_group] = np.arange(n_ep)
    ep_of_row = ep_rank[e_code]
    ep_length = np.bincount(ep_of_row, minlength=n_ep)
    ep_start = np.concatenate(([0], np.cumsum(ep_length)[:-1]))
    turn_in = batch.turn_index
    overflow = turn_in >= ep_length[ep_of_row]
    position = ep_start[ep_of_row] + np.minimum(turn_in, ep_length[ep_of_row] - 1)
    filled = np.bincount(position, minlength=n)
    if overflow.any() or filled.max() > 1:
        if overflow.any():
            bad = int(ep_of_row[np.argmax(overflow)])
        else:
            bad = int(np.searchsorted(ep_start, np.argmax(filled > 1), side="right") - 1)
        turns = np.sort(turn_in[ep_of_row == bad])
        shown = turns[:20].tolist() + (["..."] if turns.size > 20 else [])
        raise ValueError(
            "turn_index must run 0..T-1 without gaps or repeats within each episode; "
            f"episode {_py(episode_ids[by_group[bad]])!r} has turns {shown}"
        )
    order = np.empty(n, dtype=np.int64)
    order[position] = np.arange(n)
    episode = np.repeat(np.arange(n_ep), ep_length)
    turn = np.arange(n) - np.repeat(ep_start, ep_length)

    ep_group_sorted = ep_group[by_group]
    ep_ids_sorted = episode_ids[by_group]
    group = ep_group_sorted[episode]
    length = ep_length[episode]
    remaining = length - 1 - turn

    # Dense ids for (group, turn index) pools: offset of the group + turn.
    group_max_len = np.zeros(group_ids.size, dtype=np.int64)
    np.maximum.at(group_max_len, ep_group_sorted, ep_length)
    group_turn_offset = np.concatenate(([0], np.cumsum(group_max_len)[:-1]))
    n_group_turn = int(group_max_len.sum())

    anchor = anchor_values = None
    if batch.anchors is not None:
        anchor_values, anchor = factorize_by_appearance(batch.anchors, order, "anchors")

    def take(arr: np.ndarray | None) -> np.ndarray | None:
        return None if arr is None else arr[order]

    layout = Layout(
        order=order,
        group=group,
        episode=episode,
        turn=turn,
        length=length,
        remaining=remaining,
        is_last=remaining == 0,
        rewards=batch.rewards[order],
        info_gain=take(batch.info_gain),
        entropy=take(batch.entropy),
        anchor=anchor,
        anchor_values=anchor_values,
        group_turn=group_turn_offset[group] + turn,
        group_turn_group=np.repeat(np.arange(group_ids.size), group_max_len),
        group_turn_key=np.arange(n_group_turn) - np.repeat(group_turn_offset, group_max_len),
        n_group_turn=n_group_turn,
        ep_start=ep_start,
        ep_length=ep_length,
        ep_group=ep_group_sorted,
        group_ids=group_ids,
        episode_ids=ep_ids_sorted,
    )
    for value in vars(layout).values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return layout
