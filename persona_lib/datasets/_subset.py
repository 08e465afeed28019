"""Deterministic, seeded subsets of benchmark items."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def _allocate(group_sizes: list[int], limit: int, tie_order: list[int]) -> list[int]:
    """Seats per group: one each when ``limit`` allows, the rest to the group furthest below its share."""
    total = sum(group_sizes)
    shares = [limit * size / total for size in group_sizes]
    quotas = [1 if limit >= len(group_sizes) else 0 for _ in group_sizes]
    for _ in range(limit - sum(quotas)):
        open_groups = [g for g in tie_order if quotas[g] < group_sizes[g]]
        best = max(open_groups, key=lambda g: shares[g] - quotas[g])
        quotas[best] += 1
    return quotas


def seeded_subset(
    items: Sequence[T], limit: int | None, seed: int, stratum: Callable[[T], Hashable] | None = None
) -> list[T]:
    """A deterministic random subset of ``items``, stratified when ``stratum`` is given.

    Without ``stratum``, ``limit`` items are drawn uniformly without replacement. With it, every stratum first
    gets one item (when ``limit`` is at least the number of strata) and the remaining places go, one at a time,
    to the stratum furthest below its proportional share, so each stratum keeps roughly its share of the data
    (XSTest ``limit=6`` → 3 safe + 3 unsafe). Within a stratum items are drawn uniformly. The result keeps the
    items' original order, and the same ``(items, limit, seed)`` always gives the same subset.

    Args:
        items: The full item list.
        limit: Maximum number of items; ``None`` (or a limit >= ``len(items)``) returns all items.
        seed: Seed for ``numpy.random.default_rng``.
        stratum: Maps an item to its stratum (e.g. XSTest's safe/unsafe label).

    Raises:
        ValueError: if ``limit`` is below 1.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    rng = np.random.default_rng(seed)
    if stratum is None:
        chosen = rng.choice(len(items), size=limit, replace=False)
        return [items[index] for index in sorted(chosen)]
    groups: dict[Hashable, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(stratum(item), []).append(index)
    members = list(groups.values())
    tie_order = [int(g) for g in rng.permutation(len(members))]
    quotas = _allocate([len(m) for m in members], limit, tie_order)
    chosen = []
    for indices, quota in zip(members, quotas, strict=True):
        chosen.extend(int(i) for i in rng.choice(indices, size=quota, replace=False))
    return [items[index] for index in sorted(chosen)]
