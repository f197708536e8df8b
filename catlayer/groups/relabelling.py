"""Relabellings of the index values that fix a group's tables, and one multi-index per orbit.

F(d)[x] and every layer plan are invariant under a relabelling x ↦ π(x) that fixes the group's
pair form, free weights and (evenly) the Levi-Civita symbol, so a matrix-free certificate needs
to compare them only at one multi-index per orbit (:meth:`catlayer.groups.Group.relabelling_orbits`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .base import Group

__all__ = ["orbits_of_value_classes", "restricted_growth", "value_classes"]


def restricted_growth(size: int, max_blocks: int) -> np.ndarray:
    """Every restricted growth string of length ``size`` with at most ``max_blocks`` distinct
    values (value = block number in order of first appearance): one row per set partition of the
    positions into at most ``max_blocks`` blocks.

    >>> restricted_growth(3, 2).tolist()
    [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1]]
    """
    rows = np.zeros((1, 0), dtype=np.int64)
    counts = np.zeros(1, dtype=np.int64)
    for _ in range(size):
        grown, grown_counts = [], []
        for value in range(min(max_blocks, size)):
            keep = counts >= value
            grown.append(np.column_stack([rows[keep], np.full(int(keep.sum()), value, dtype=np.int64)]))
            grown_counts.append(np.maximum(counts[keep], value + 1))
        rows, counts = np.concatenate(grown), np.concatenate(grown_counts)
        order = np.lexsort(rows.T[::-1])
        rows, counts = rows[order], counts[order]
    return rows


def value_classes(group: Group) -> list[list[int]]:
    """The values 0..n−1 grouped by what the group's tables say about them: a diagonal pair form
    η (O(p, q)) and free weights (SO(p, q)) must agree inside a class; one class without them."""
    n = group.n
    form = group.pair_form
    weights = group.free_weights if group.free_singletons else None
    if form is not None and np.count_nonzero(form - np.diag(np.diagonal(form))):
        raise ValueError(f"the pair form of {group!r} is not diagonal: its values do not fall into classes")
    keys: dict[tuple[int, int], list[int]] = {}
    for a in range(n):
        key = (0 if form is None else int(form[a, a]), 0 if weights is None else int(weights[a]))
        keys.setdefault(key, []).append(a)
    return list(keys.values())


def orbits_of_value_classes(group: Group, size: int, uses_levi_civita: bool) -> tuple[np.ndarray, str]:
    """One multi-index per orbit of the permutations of the index values within the classes of
    :func:`value_classes` (even permutations only when the Levi-Civita symbol is involved)."""
    # Permuting the values inside each class fixes the tables. An orbit: a class per position and
    # a set partition of the positions of each class into at most |class| blocks. With the
    # Levi-Civita symbol only even permutations fix it: an orbit splits in two when no class has
    # two unused values (then no odd permutation fixes the indices), the second reached by swapping
    # two values of one class.
    classes = value_classes(group)
    blocks: list[np.ndarray] = []
    for colouring in np.ndindex(*(len(classes),) * size):
        colours = np.array(colouring, dtype=np.int64)
        parts = []
        for c, values in enumerate(classes):
            where = np.flatnonzero(colours == c)
            labels = restricted_growth(len(where), len(values))
            parts.append((where, np.asarray(values, dtype=np.int64)[labels]))
        count = int(np.prod([len(v) for _, v in parts]))
        points = np.zeros((count, size), dtype=np.int64)
        grids = np.indices([len(v) for _, v in parts]).reshape(len(parts), count)
        for (where, values), choice in zip(parts, grids, strict=True):
            points[:, where] = values[choice]
        blocks.append(points)
    points = np.concatenate(blocks) if blocks else np.zeros((1, 0), dtype=np.int64)
    how = "the permutations of the index values" + (" within each class of the metric" if len(classes) > 1 else "")
    if uses_levi_civita:
        odd = next((values for values in classes if len(values) >= 2), None)
        if odd is not None:
            unused = [np.array([len(set(values) - set(p.tolist())) for p in points]) for values in classes]
            split = points[np.all(np.stack(unused) <= 1, axis=0)]
            a, b = odd[0], odd[1]
            points = np.concatenate([points, np.where(split == a, b, np.where(split == b, a, split))])
        how = "the even " + how[4:]
    return points, f"{how} (they fix the group's tables), {len(points)} orbits"
