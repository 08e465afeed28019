"""The prefix key/value tree on small hand-made tensors: matching, splitting, memory accounting, LRU eviction.

Each token's "key" and "value" carry the token id and its position, so a lookup can be checked value by value.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from persona_lib.backends._prefix_kv import PrefixKVCache, common_prefix_length, shared_prefix_length  # noqa: E402

LAYERS, HEADS, HEAD_DIM = 2, 1, 2
BYTES_PER_TOKEN = LAYERS * 2 * HEADS * HEAD_DIM * 4  # keys and values, float32


def fake_kv(tokens: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer: keys [1, n, 2] holding (token, position), values the same plus 1000 * (layer + 1)."""
    grid = torch.tensor([[token, position] for position, token in enumerate(tokens)], dtype=torch.float32)
    return [(grid[None].clone(), grid[None] + 1000 * (layer + 1)) for layer in range(LAYERS)]


def remember(cache: PrefixKVCache, tokens: list[int]) -> list[int]:
    """Insert ``tokens``; return the ``start`` values ``kv_from`` was called with."""
    calls = []
    full = fake_kv(tokens)

    def kv_from(start: int):
        calls.append(start)
        return [(keys[:, start:], values[:, start:]) for keys, values in full]

    cache.insert(tokens, kv_from)
    return calls


def test_common_prefix_length():
    assert common_prefix_length([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_length([1, 2], [1, 2, 3]) == 2
    assert common_prefix_length([], [1]) == 0


def test_shared_prefix_length_is_the_prefix_all_sequences_share_up_to_the_limit():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]], limit=10) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]], limit=10) == 3
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]], limit=1) == 1
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]], limit=-1) == 0  # a one-token prompt leaves nothing to share
    assert shared_prefix_length([[4, 2], [1, 2]], limit=10) == 0


def test_lookup_returns_the_longest_prefix_up_to_the_limit():
    cache = PrefixKVCache(budget_bytes=10**6)
    remember(cache, [5, 6, 7, 8])

    length, kv = cache.lookup([5, 6, 7, 9, 10], limit=4)
    assert length == 3
    assert len(kv) == LAYERS
    assert kv[0][0][0, :, 0].tolist() == [5, 6, 7] and kv[0][0][0, :, 1].tolist() == [0, 1, 2]
    assert kv[1][1][0, :, 0].tolist() == [2005, 2006, 2007]

    assert cache.lookup([5, 6, 7, 8, 9], limit=2)[0] == 2  # capped: e.g. the last prompt token is recomputed
    assert cache.lookup([9, 5, 6], limit=2) == (0, [])


def test_shared_prefixes_are_stored_once_and_only_new_tokens_are_requested():
    cache = PrefixKVCache(budget_bytes=10**6)
    assert remember(cache, [1, 2, 3, 4]) == [0]
    assert remember(cache, [1, 2, 3, 4, 5, 6]) == [4]  # extends the cached run: only tokens 5, 6 are new
    assert remember(cache, [1, 2, 9]) == [2]  # diverges inside the first run: it is split, 9 is new
    assert remember(cache, [1, 2, 3]) == []  # already held
    assert cache.n_tokens == 7  # 1 2 | 3 4 | 5 6 | 9
    assert cache.nbytes == 7 * BYTES_PER_TOKEN

    length, kv = cache.lookup([1, 2, 3, 4, 5, 6, 7], limit=10)
    assert length == 6  # read across the split: 1 2 | 3 4 | 5 6
    assert kv[0][0][0, :, 0].tolist() == [1, 2, 3, 4, 5, 6]
    assert kv[0][0][0, :, 1].tolist() == [0, 1, 2, 3, 4, 5]
    length, kv = cache.lookup([1, 2, 9, 9], limit=3)
    assert length == 3 and kv[1][0][0, :, :].tolist() == [[1, 0], [2, 1], [9, 2]]


def test_eviction_drops_the_least_recently_used_sequence_and_keeps_the_budget():
    cache = PrefixKVCache(budget_bytes=10 * BYTES_PER_TOKEN)
    remember(cache, [1, 2, 3, 4])
    remember(cache, [7, 8, 9, 10])
    cache.lookup([1, 2, 3, 4], limit=4)  # [1..4] is now more recent than [7..10]
    remember(cache, [20, 21, 22, 23])  # 12 tokens > 10: the oldest sequence goes

    assert cache.nbytes <= cache.budget_bytes
    assert cache.n_tokens == 8 and cache.evicted_tokens == 4
    assert cache.lookup([7, 8, 9, 10], limit=4)[0] == 0
    assert cache.lookup([1, 2, 3, 4], limit=4)[0] == 4
    assert cache.lookup([20, 21, 22, 23], limit=4)[0] == 4


def test_eviction_removes_leaves_before_the_prefix_they_extend():
    cache = PrefixKVCache(budget_bytes=7 * BYTES_PER_TOKEN)
    remember(cache, [1, 2, 3, 4, 5])
    remember(cache, [1, 2, 3, 6])  # split: [1 2 3] with children [4 5] (older) and [6]
    remember(cache, [1, 2, 3, 7, 8])  # 8 tokens > 7: the older leaf [4 5] goes, the shared [1 2 3] stays
    assert cache.n_tokens == 6
    assert cache.lookup([1, 2, 3, 4, 5], limit=5)[0] == 3
    assert cache.lookup([1, 2, 3, 7, 8], limit=5)[0] == 5


def test_a_sequence_larger_than_the_budget_is_not_kept():
    cache = PrefixKVCache(budget_bytes=3 * BYTES_PER_TOKEN)
    remember(cache, [1, 2, 3, 4])
    assert cache.n_tokens == 0 and cache.nbytes == 0
    assert cache.lookup([1, 2, 3, 4], limit=4) == (0, [])


def test_kv_from_must_cover_the_new_tokens():
    cache = PrefixKVCache(budget_bytes=10**6)
    with pytest.raises(ValueError, match="returned 2 positions for 3 tokens"):
        cache.insert([1, 2, 3], lambda start: fake_kv([1, 2]))


def test_negative_budget_is_rejected():
    with pytest.raises(ValueError, match="budget_bytes must be >= 0"):
        PrefixKVCache(budget_bytes=-1)


def test_reuse_is_limited_to_models_whose_attention_sees_the_whole_sequence():
    """Cached rows are padded in the middle, which sliding-window masks would count as tokens."""
    transformers = pytest.importorskip("transformers")
    from persona_lib.backends._local_model import full_attention_only

    assert full_attention_only(transformers.LlamaConfig())
    assert full_attention_only(transformers.Qwen3Config())  # layer_types: all full attention
    assert full_attention_only(transformers.MistralConfig(sliding_window=None))
    assert not full_attention_only(transformers.MistralConfig(sliding_window=4096))
    assert not full_attention_only(transformers.Gemma3TextConfig())  # local sliding layers
