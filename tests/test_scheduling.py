"""Prefix-cache scheduling and the prefix-cache simulator (hand-computed cases)."""

from __future__ import annotations

import random

import pytest

from persona_lib.backends import ScriptedBackend
from persona_lib.config import RunConfig
from persona_lib.generation import generate_benchmarks, schedule, simulate_prefix_cache
from persona_lib.store import Request, ResponseStore


def _requests(seed: int = 0) -> list[Request]:
    requests = [
        Request(
            [{"role": "user", "content": f"{c}/{k}/{t}/{i}"}],
            {"condition": c, "kind": k, "checkpoint": t, "item_id": i},
        )
        for c in ("Gaston", "empty")
        for k in ("persona_directed", "goal_oriented")
        for t in (0, 11, 22, 102)
        for i in range(3)
    ]
    random.Random(seed).shuffle(requests)
    return requests


def _prefix(request: Request) -> tuple:
    return tuple(request.tags[tag] for tag in ("condition", "kind", "checkpoint"))


def test_each_group_is_one_shared_prefix_and_keeps_every_request():
    requests = _requests()
    groups = schedule(requests)
    assert len(groups) == 2 * 2 * 4
    assert all(len({_prefix(r) for r in group}) == 1 for group in groups)
    assert len({_prefix(group[0]) for group in groups}) == len(groups)
    assert sorted(id(r) for group in groups for r in group) == sorted(id(r) for r in requests)
    first = groups[0]
    assert [r.tags["item_id"] for r in first] == [
        r.tags["item_id"] for r in requests if _prefix(r) == _prefix(first[0])
    ]


def test_groups_walk_each_dialogue_with_ascending_checkpoints():
    requests = _requests(seed=3)
    order = [_prefix(group[0]) for group in schedule(requests)]
    dialogues = [prefix[:2] for prefix in order]
    first_seen = list(dict.fromkeys(_prefix(r)[:2] for r in requests))
    assert list(dict.fromkeys(dialogues)) == first_seen
    for dialogue in first_seen:
        positions = [i for i, d in enumerate(dialogues) if d == dialogue]
        assert positions == list(range(positions[0], positions[0] + 4))
        assert [order[i][2] for i in positions] == [0, 11, 22, 102]


def test_schedule_names_a_request_without_prefix_tags():
    with pytest.raises(ValueError, match=r"request 1 .* lacks tag\(s\) \['checkpoint'\]"):
        schedule(
            [
                Request([], {"condition": "a", "kind": "b", "checkpoint": 0}),
                Request([], {"condition": "a", "kind": "b"}),
            ]
        )


def test_generate_benchmarks_submits_groups_in_scheduled_order(tmp_path):
    config = RunConfig(
        personas=["Gaston"],
        n_rounds=2,
        checkpoints=[0, 1, 2],
        shuffled_replicate=False,
        datasets=["bfi"],
        item_limit={"bfi": 5},
    )
    backend = ScriptedBackend()
    store = ResponseStore(tmp_path / "responses.sqlite")
    generate_benchmarks(config, backend, store, batch_size=3)
    benchmark_calls = backend.calls[2:]  # two dialogue rounds first
    sent = backend.seen[sum(backend.calls[:2]) :]
    prefixes = [tuple(m["content"] for m in conversation[:-1]) for conversation in sent]
    runs = [p for i, p in enumerate(prefixes) if i == 0 or p != prefixes[i - 1]]
    assert len(runs) == len(set(runs))  # every prefix is sent in one contiguous run
    # t=0 questions are identical for both kinds: sent once. Groups of 5 split into batches of 3 + 2.
    assert len(set(prefixes)) == 2 * (1 + 2 * 2) and benchmark_calls == [3, 2] * 10
    lengths = [len(p) for p in runs]
    gaston = lengths[:5]
    assert gaston == [1, 3, 5, 3, 5]  # system + 0/1/2 rounds, then the other kind (t=0 already answered)


# ------------------------------------------------------------------------------------------- simulator
def test_two_requests_sharing_a_32_token_prefix():
    stats = simulate_prefix_cache([[("p", 32), ("a", 10)], [("p", 32), ("b", 10)]], kv_budget_tokens=None)
    assert stats.prompt_tokens == 84 and stats.prefill_tokens == 42 + 10 and stats.cached_tokens == 32


def test_shared_prefix_must_cover_whole_blocks():
    # 20 shared tokens: only the first 16-token block is shared; the rest of the second request is computed.
    stats = simulate_prefix_cache([[("p", 20), ("a", 30)], [("p", 20), ("b", 30)]], None)
    assert stats.prefill_tokens == 50 + (50 - 16)


def test_a_fully_cached_prompt_recomputes_its_last_block():
    stats = simulate_prefix_cache([[("p", 32)], [("p", 32)]], None)
    assert stats.prefill_tokens == 32 + 16


def test_a_longer_checkpoint_extends_the_cached_dialogue():
    # Dialogue stream d: checkpoint prefixes of 48 and 96 tokens, then an 8-token item each.
    stats = simulate_prefix_cache([[("d", 48), ("x", 8)], [("d", 96), ("x", 8)]], None)
    assert stats.prefill_tokens == 56 + (104 - 48)


def test_lru_eviction_under_a_small_budget():
    # Budget 3 blocks. R1 caches p's 2 blocks; R2 caches q's 2 blocks, evicting p's least recent (deepest) block;
    # R3 finds only p's first block: 42 - 16 = 26 tokens.
    requests = [[("p", 32), ("a", 10)], [("q", 40)], [("p", 32), ("b", 10)]]
    stats = simulate_prefix_cache(requests, kv_budget_tokens=48)
    assert stats.prefill_tokens == 42 + 40 + 26
    assert stats.evicted_blocks == 2
    assert simulate_prefix_cache(requests, None).prefill_tokens == 42 + 40 + 10


def test_recently_used_blocks_survive_eviction():
    # Budget 4 blocks: p is used again before r arrives, so q (older) is evicted, not p.
    requests = [[("p", 32)], [("q", 32)], [("p", 32), ("a", 16)], [("r", 32)], [("p", 32), ("b", 16)]]
    stats = simulate_prefix_cache(requests, kv_budget_tokens=64)
    assert stats.prefill_tokens == 32 + 32 + 16 + 32 + 16


def test_negative_segment_is_rejected():
    with pytest.raises(ValueError, match="negative token count"):
        simulate_prefix_cache([[("p", -1)]], None)
