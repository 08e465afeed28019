"""Splitting a batch's prefill into passes of similar prompt lengths, so little compute goes to padding.

A batched forward pass computes every row to the longest row's length. The benchmark items asked at one
checkpoint differ widely in length (an IFBench prompt may be ten times a BFI statement), so one pass over all of
them can spend more on padding than on tokens (measured on the benchmark stage of ``benchmarks/kv_reuse.py --quick``
with prefix reuse: 26,624 positions computed for 9,784 uncached prompt tokens, 66 s of prefill; 27 s when split).
Each extra pass costs a fixed amount (the weights are read once more and the rows' keys/values are gathered into
one batch afterwards), expressed here in padded positions.
"""

from __future__ import annotations

from collections.abc import Sequence

PASS_COST_POSITIONS = 64
"""What one extra forward pass costs, in padded positions computed for nothing."""


def prefill_groups(lengths: Sequence[int], pass_cost: int = PASS_COST_POSITIONS) -> list[list[int]]:
    """Partition rows into passes minimising padded positions plus ``pass_cost`` per extra pass.

    Rows are sorted by length and cut into runs of neighbours (an optimal partition is among these); the best
    cuts come from dynamic programming over the sorted lengths.

    Args:
        lengths: Positions each row computes (its uncached prompt tokens).
        pass_cost: Cost of one extra pass in padded positions.

    Returns:
        Row indices per pass, rows of similar length together, shortest pass first; one group when splitting
        does not pay.
    """
    order = sorted(range(len(lengths)), key=lambda row: lengths[row])
    sorted_lengths = [lengths[row] for row in order]
    # best[end]: least cost of the first `end` sorted rows; a pass over rows start..end-1 costs its rows times
    # its longest row (the last, as rows are sorted) plus pass_cost.
    best = [0.0] + [float("inf")] * len(order)
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for start in range(end):
            cost = best[start] + (end - start) * sorted_lengths[end - 1] + pass_cost
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, end = [], len(order)
    while end > 0:
        groups.append(order[cut[end] : end])
        end = cut[end]
    return groups[::-1]
