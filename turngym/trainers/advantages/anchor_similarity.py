"""Similarity grouping of text anchors for GiGPO: near-identical states share a step pool.

Within each group the distinct anchors are taken in canonical order (first appearance in
(episode, turn) order) and clustered greedily, as verl-agent's GiGPO does: an anchor joins
the first existing cluster whose representative (its first member) is similar enough,
otherwise it starts a new cluster. Similarity is ``difflib.SequenceMatcher.ratio`` on
normalised text (case-folded, whitespace runs collapsed to one space), the representative
being indexed once per cluster and the cheap length and ``quick_ratio`` upper bounds
tried first. difflib's ``autojunk`` heuristic is off by default: on texts of 200+
characters it stops using every character that makes up more than 1% of the representative
(for prose, most letters) as a match anchor, so a text with several scattered differences
scores far lower (0.51 instead of 0.98 for an ALFWorld-style room description with eight
digits changed). GiGPO's code compares the raw text with ``autojunk`` on;
``text="raw", autojunk=True`` reproduces that.

Cost: this path is a Python loop over distinct anchors. For a group with U distinct
anchors that form C clusters it makes at most U * C comparisons, each O(L^2) in the
anchor length L in the worst case: O(sum_g U_g C_g L^2) overall (O(U^2 L^2) when nothing
merges). Exact matching (the default) is fully vectorised; use this for small batches or
for environments whose state text carries noise such as timestamps.
"""

from __future__ import annotations

from difflib import SequenceMatcher

import numpy as np

from .batch import Layout


def _normalise_text(text: str) -> str:
    return " ".join(text.casefold().split())


class _Representative:
    """A cluster's first anchor, with a matcher that has indexed it once (``set_seq2``)."""

    def __init__(self, text: str, autojunk: bool = False) -> None:
        self.text = text
        self.matcher = SequenceMatcher(None, autojunk=autojunk)
        self.matcher.set_seq2(text)

    def similar(self, text: str, threshold: float) -> bool:
        if text == self.text:
            return True
        total = len(text) + len(self.text)
        if 2.0 * min(len(text), len(self.text)) < threshold * total:  # real_quick_ratio
            return False
        self.matcher.set_seq1(text)
        return self.matcher.quick_ratio() >= threshold and self.matcher.ratio() >= threshold


def similar_anchor_pools(
    layout: Layout, threshold: float, *, text: str = "normalised", autojunk: bool = False
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Cluster the anchors of each group; return ``(row_pool, n_pools, pool_group,
    pool_anchor)``: the cluster of each row (canonical order), how many clusters, and each
    cluster's group code and representative anchor.

    ``text="normalised"`` compares case-folded, whitespace-collapsed text; ``"raw"`` the
    anchors as given. ``autojunk`` is passed to ``difflib.SequenceMatcher``.

    >>> from turngym.trainers.advantages import TurnBatch
    >>> b = TurnBatch.from_groups(
    ...     [[[0, 0], [0, 0]]], anchors=[[["Room  A", "room b"], ["room a", "Hall"]]]
    ... )
    >>> row_pool, n, _, rep = similar_anchor_pools(b.layout, 0.95)
    >>> row_pool.tolist(), n, rep.tolist()
    ([0, 1, 0, 2], 3, ['Room  A', 'room b', 'Hall'])
    """
    assert layout.anchor is not None and layout.anchor_values is not None
    n_anchor = layout.anchor_values.size
    key = layout.group * n_anchor + layout.anchor
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    by_appearance = np.argsort(first, kind="stable")
    rank = np.empty_like(by_appearance)
    rank[by_appearance] = np.arange(by_appearance.size)
    pair_rows = first[by_appearance]  # rows are grouped by group, so pairs are too
    pair_group = layout.group[pair_rows]
    pair_anchor = layout.anchor_values[layout.anchor[pair_rows]]
    not_text = [type(a).__name__ for a in pair_anchor if not isinstance(a, str)]
    if not_text:
        raise TypeError(
            "similarity_threshold needs string anchors; got values of type "
            f"{sorted(set(not_text))} (use similarity_threshold=None for exact matching)"
        )
    texts = [_normalise_text(a) for a in pair_anchor] if text == "normalised" else list(pair_anchor)

    cluster = np.empty(len(texts), dtype=np.int64)
    representatives: list[int] = []  # pair index of each cluster's first member
    matchers: list[_Representative] = []
    group_start = 0  # clusters of the current group start here
    for j, anchor_text in enumerate(texts):
        if j and pair_group[j] != pair_group[j - 1]:
            group_start = len(representatives)
        for c in range(group_start, len(representatives)):
            if matchers[c].similar(anchor_text, threshold):
                cluster[j] = c
                break
        else:
            cluster[j] = len(representatives)
            representatives.append(j)
            matchers.append(_Representative(anchor_text, autojunk))

    reps = np.asarray(representatives, dtype=np.int64)
    return cluster[rank[inverse]], reps.size, pair_group[reps], pair_anchor[reps]
