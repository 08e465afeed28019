"""A small simulator of a vLLM-like automatic prefix cache, to compare submission orders.

Model of the engine (vLLM's automatic prefix caching, simplified to what decides prefill cost):

* The KV cache holds fixed-size *blocks* of ``block_size`` tokens. Only full blocks are cached. A block's
  identity is its content together with everything before it (vLLM hashes the chain of block contents), so two
  requests share block ``b`` exactly when their first ``(b + 1) * block_size`` tokens are identical.
* A request reuses its longest run of cached leading blocks, capped so that its last token is always computed
  (a fully cached prompt still recomputes its last block); every other prompt token is prefilled.
* After a request, all its full blocks are cached and marked used now. When the cache exceeds its budget the
  least recently used block is evicted; among blocks last used together the deepest goes first (vLLM frees a
  sequence's blocks tail first). This keeps the cache prefix-closed.

Requests are described by *segments* instead of token ids: a segment ``(stream, n)`` stands for the first ``n``
tokens of a token stream named ``stream`` (e.g. a dialogue, or one benchmark item). Two requests have identical
first ``k`` tokens when their segment lists agree up to the segment containing token ``k`` and, in that segment,
name the same stream. The simulator works on runs of blocks, so a 100-round dialogue costs a handful of
operations per request rather than thousands.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

Segment = tuple[Hashable, int]
"""``(stream id, n_tokens)``: the first ``n_tokens`` tokens of the stream."""


@dataclass(frozen=True)
class CacheStats:
    """Totals of one simulation.

    Attributes:
        requests: Requests simulated.
        prompt_tokens: Prompt tokens over all requests.
        prefill_tokens: Tokens that had to be computed (not served from the cache).
        cached_tokens: Tokens served from the cache.
        evicted_blocks: Blocks evicted to stay within the budget.
    """

    requests: int
    prompt_tokens: int
    prefill_tokens: int
    cached_tokens: int
    evicted_blocks: int


class _Node:
    """Cached blocks of one (preceding segments, stream) pair: ``[start, runs[-1][0])``.

    ``runs`` are ``[end_block, last_used]`` from shallow to deep; ``last_used`` decreases with depth.
    """

    __slots__ = ("runs", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.runs: list[list[int]] = []

    @property
    def end(self) -> int:
        return self.runs[-1][0] if self.runs else self.start


def _chain(segments: Sequence[Segment], block_size: int) -> tuple[list[tuple[tuple, int, int]], int]:
    """The request's full blocks as ``(node key, first block, end block)`` runs, and its token count."""
    chain = []
    position = 0
    preceding: tuple = ()
    for stream, n_tokens in segments:
        if n_tokens < 0:
            raise ValueError(f"segment {stream!r} has a negative token count {n_tokens}")
        if n_tokens == 0:
            continue
        first, end = position // block_size, (position + n_tokens) // block_size
        if end > first:
            chain.append(((preceding, stream), first, end))
        preceding += ((stream, n_tokens),)
        position += n_tokens
    return chain, position


def simulate_prefix_cache(
    requests: Iterable[Sequence[Segment]],
    kv_budget_tokens: int | None,
    block_size: int = 16,
) -> CacheStats:
    """Prefill cost of a request stream under an LRU block prefix cache (see the module docstring).

    Args:
        requests: Each request as a list of segments ``(stream id, n_tokens)``, in submission order.
        kv_budget_tokens: Cache size in tokens (rounded down to whole blocks); ``None`` for unlimited, which
            gives the floor where every distinct block is computed once.
        block_size: Tokens per block (vLLM's default is 16).

    Returns:
        The totals.

    Example:
        Two requests sharing a 32-token prefix, 16-token blocks: the second reuses both prefix blocks.

        >>> simulate_prefix_cache([[("p", 32), ("a", 10)], [("p", 32), ("b", 10)]], None).prefill_tokens
        52
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    capacity = None if kv_budget_tokens is None else kv_budget_tokens // block_size
    nodes: dict[tuple, _Node] = {}
    heap: list[tuple[int, int, int, tuple]] = []
    cached = evicted = prompt_total = prefill_total = n_requests = 0
    push_count = 0

    def push(key: tuple, node: _Node) -> None:
        nonlocal push_count
        end, used = node.runs[-1]
        push_count += 1
        heapq.heappush(heap, (used, -end, push_count, key))

    for now, segments in enumerate(requests, start=1):
        chain, n_tokens = _chain(segments, block_size)
        n_requests += 1
        prompt_total += n_tokens
        max_hit = max(n_tokens - 1, 0) // block_size
        hit = 0
        for key, first, end in chain:
            node = nodes.get(key)
            covered = (min(node.end, end) - first) if node is not None else 0
            hit += covered
            if covered < end - first:
                break
        hit = min(hit, max_hit)
        prefill_total += n_tokens - hit * block_size

        for key, first, end in chain:
            node = nodes.get(key)
            if node is None:
                node = nodes[key] = _Node(first)
            cached += max(0, end - node.end)
            node.runs = [[end, now]] + [run for run in node.runs if run[0] > end]
            push(key, node)

        while capacity is not None and cached > capacity:
            used, negative_end, _, key = heapq.heappop(heap)
            node = nodes.get(key)
            if node is None or not node.runs or node.runs[-1] != [-negative_end, used]:
                continue
            run_start = node.runs[-2][0] if len(node.runs) > 1 else node.start
            take = min(cached - capacity, -negative_end - run_start)
            cached -= take
            evicted += take
            if -negative_end - take == run_start:
                node.runs.pop()
            else:
                node.runs[-1][0] -= take
            if node.runs:
                push(key, node)
            else:
                del nodes[key]

    return CacheStats(
        requests=n_requests,
        prompt_tokens=prompt_total,
        prefill_tokens=prefill_total,
        cached_tokens=prompt_total - prefill_total,
        evicted_blocks=evicted,
    )
