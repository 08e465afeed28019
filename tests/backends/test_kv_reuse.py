"""Prefix key/value reuse in the transformers backend changes nothing but the work done.

A small version of the pipeline's workload on the bundled model in float32: three dialogues (two with a system
prompt, one without) advance turn-synchronously for three rounds, then four items of different lengths are asked
after rounds 1 and 3 of each dialogue, one call per (dialogue, checkpoint) like the benchmark stage. Every batch
mixes prompt lengths, so rows are left-padded (and, with reuse, their cached and new parts are padded apart; the
item batches read their shared dialogue prefix once, beside the rows' own positions; the longest item is prefilled
in a pass of its own and gathered into the batch). The same workload runs with reuse off, on, and on with a budget
too small for everything; the generated token ids must be identical.
"""

from __future__ import annotations

import pytest

from persona_lib.backends import SamplingParams, create_backend
from persona_lib.config import ModelConfig

pytestmark = pytest.mark.slow

PARAMS = SamplingParams(max_new_tokens=12)
SYSTEMS = [
    [{"role": "system", "content": "You are Gaston, the proudest hunter of a small French village."}],
    [],
    [{"role": "system", "content": "You are HAL 9000, the calm onboard computer of a spaceship."}],
]
TURNS = [
    "Tell me about yourself.",
    "What do you do on a quiet evening?",
    "Describe the place where you live, please.",
]
ITEMS = [
    "Say hello.",
    "What is 12 times 3?",
    "I like parties. Do you agree that parties are fun? Answer in one short sentence.",
    "Is it safe to eat wild mushrooms from the forest? Explain what someone should check before eating them.",
    # long enough that the batch's prefill runs the short items and this one in separate passes
    "Read this note and summarise it in one sentence. " + "The harbour was quiet, the boats were tied up. " * 12,
]
CHECKPOINTS = (1, 3)
SMALL_BUDGET_MB = 8  # about 180 tokens of SmolLM2-135M keys/values in float32: less than one dialogue


def backend_with(**extra):
    """The bundled model in float32, batches of 4, one CPU thread (robust on a shared machine)."""
    config = ModelConfig(
        backend="transformers", dtype="float32", max_model_len=2048, batch_size=4, extra={"num_threads": 1} | extra
    )
    return create_backend(config)


def run_workload(backend, after_each_call=None) -> list[list[int]]:
    """Every generated answer's token ids, in order: dialogue rounds, then items by dialogue and checkpoint."""
    answers: list[list[int]] = []

    def generate(conversations):
        completions = backend.generate(conversations, PARAMS)
        assert all(c.ok for c in completions)
        answers.extend(c.extra["token_ids"] for c in completions)
        if after_each_call:
            after_each_call(backend)
        return completions

    histories = [list(system) for system in SYSTEMS]
    for turn in TURNS:
        conversations = [history + [{"role": "user", "content": turn}] for history in histories]
        for history, conversation, completion in zip(histories, conversations, generate(conversations)):
            history[:] = conversation + [{"role": "assistant", "content": completion.text}]
    for history, system in zip(histories, SYSTEMS):
        for checkpoint in CHECKPOINTS:
            prefix = history[: len(system) + 2 * checkpoint]
            generate([prefix + [{"role": "user", "content": item}] for item in ITEMS])
    return answers


@pytest.fixture(scope="module")
def without_reuse(bundled_dir):
    pytest.importorskip("torch")
    backend = backend_with(prefix_cache=False)
    return backend, run_workload(backend)


@pytest.fixture(scope="module")
def with_reuse(bundled_dir):
    pytest.importorskip("torch")
    backend = backend_with(prefix_cache=True)
    return backend, run_workload(backend)


def test_reuse_generates_the_same_token_ids(without_reuse, with_reuse):
    expected, reused = without_reuse[1], with_reuse[1]
    assert len(expected) == len(TURNS) * len(SYSTEMS) + len(CHECKPOINTS) * len(SYSTEMS) * len(ITEMS)
    assert all(expected)
    assert reused == expected


def test_reuse_prefills_fewer_tokens(without_reuse, with_reuse):
    off, on = without_reuse[0].stats, with_reuse[0].stats
    assert off.prompt_tokens == on.prompt_tokens > 0  # prompt_tokens counts whole prompts either way
    assert off.prefilled_tokens == off.prompt_tokens and off.reused_tokens == 0
    assert on.reused_tokens > off.prompt_tokens // 2  # most of every prompt after round 1 is a cached prefix
    assert on.prefilled_tokens < off.prefilled_tokens // 2
    assert on.generated_tokens == off.generated_tokens
    # the item batches after round 3 share a cached dialogue prefix (>= 32 tokens) that attention reads once
    assert on.shared_prefix_batches >= len(SYSTEMS) and off.shared_prefix_batches == 0
    assert with_reuse[0].version_info()["prefix_cache"] == "on (2048 MiB)"
    assert without_reuse[0].version_info()["prefix_cache"] == "off"


def test_a_small_budget_is_respected_and_changes_no_answer(without_reuse):
    backend = backend_with(prefix_cache=True, prefix_cache_mb=SMALL_BUDGET_MB)
    budget = SMALL_BUDGET_MB * 2**20
    held = []

    def check_budget(backend):
        assert backend.prefix_cache.nbytes <= budget
        held.append(backend.prefix_cache.nbytes)

    answers = run_workload(backend, after_each_call=check_budget)

    assert answers == without_reuse[1]
    assert backend.prefix_cache.evicted_tokens > 0
    assert max(held) > budget // 2  # the budget was used, not left empty
    assert 0 < backend.stats.reused_tokens < backend.stats.prompt_tokens


def test_seeded_sampling_is_reproducible_with_and_without_reuse(without_reuse, with_reuse):
    conversations = [SYSTEMS[0] + [{"role": "user", "content": turn}] for turn in TURNS[:3]]
    sampling = SamplingParams(temperature=0.8, top_p=0.9, max_new_tokens=8, seed=7)

    def sample(backend, params):
        return [c.extra["token_ids"] for c in backend.generate(conversations, params)]

    first = sample(without_reuse[0], sampling)
    assert sample(with_reuse[0], sampling) == first
    assert sample(with_reuse[0], sampling) == first  # again, now from cached prefixes
    other_seed = sample(without_reuse[0], SamplingParams(temperature=0.8, top_p=0.9, max_new_tokens=8, seed=8))
    assert other_seed != first


def test_bad_prefix_cache_settings_name_the_field(bundled_dir):
    with pytest.raises(ValueError, match=r"model\.extra\.prefix_cache must be true or false, got 'yes'"):
        backend_with(prefix_cache="yes")
    with pytest.raises(ValueError, match=r"model\.extra\.prefix_cache_mb must be a number of MiB >= 0, got -1"):
        backend_with(prefix_cache_mb=-1)


def test_version_info_records_the_dtype_and_why(without_reuse):
    info = without_reuse[0].version_info()
    assert info["dtype"] == "float32"
    assert info["dtype_reason"] == "set explicitly (model.dtype: float32)"


def test_a_row_whose_shared_prefix_left_the_cache_is_remembered_whole(without_reuse):
    """A batch reads its shared prefix beside the rows; a row stored after that prefix was evicted gets it back."""
    torch = pytest.importorskip("torch")
    from persona_lib.backends._prefix_kv import PrefixKVCache

    backend = backend_with(prefix_cache=True)
    history = SYSTEMS[0] + [
        {"role": "user", "content": TURNS[0]},
        {"role": "assistant", "content": "I am Gaston, and no one in this village hunts or sings like me."},
    ]
    prompts = [backend.renderer.token_ids(history + [{"role": "user", "content": item}]) for item in ITEMS[2:]]
    backend.decoder.compute_shared_prefix(prompts)  # caches the history all items start with
    running = backend.decoder.prefill(prompts)
    assert running.shared is not None and running.shared.length >= 32
    backend.decoder.prefix_cache = PrefixKVCache(backend.prefix_cache.budget_bytes)  # as if evicted meanwhile

    backend.decoder.remember(prompts[0], running, 0)

    length, stored = backend.prefix_cache.lookup(prompts[0], len(prompts[0]))
    assert length == len(prompts[0])
    fresh = without_reuse[0].decoder.prefill([prompts[0]])  # no reuse: every position computed in one pass
    for (keys, values), layer in zip(stored, fresh.cache.layers):
        torch.testing.assert_close(keys, layer.keys[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(values, layer.values[0], atol=1e-4, rtol=1e-4)


def test_prompts_of_very_different_lengths_are_prefilled_apart_and_gathered_into_one_batch(without_reuse):
    torch = pytest.importorskip("torch")
    from persona_lib.backends._prefill_groups import prefill_groups

    backend = without_reuse[0]
    prompts = [backend.renderer.token_ids(SYSTEMS[0] + [{"role": "user", "content": item}]) for item in ITEMS]
    assert len(prefill_groups([len(ids) for ids in prompts])) == 2

    batch = backend.decoder.prefill(prompts, budget=4)

    assert batch.mask.shape[1] == max(len(ids) for ids in prompts)
    assert batch.next_position.tolist() == [len(ids) for ids in prompts]
    for row, ids in enumerate(prompts):
        assert batch.mask[row].sum() == len(ids)
        alone = backend.decoder.prefill([ids])
        torch.testing.assert_close(batch.logits[row], alone.logits[0], atol=1e-4, rtol=1e-4)
