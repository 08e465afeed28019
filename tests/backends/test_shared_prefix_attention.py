"""Shared-prefix attention equals ordinary attention over the prefix followed by each row's own positions."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from persona_lib.backends._shared_prefix_attention import (  # noqa: E402
    SharedPrefix,
    register,
    shared_prefix_attention,
)

BATCH, HEADS, KV_HEADS, HEAD_DIM, PREFIX, OWN = 3, 6, 2, 8, 5, 7


class Layer(torch.nn.Module):
    """What the attention function reads from a model's attention layer."""

    def __init__(self, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.num_key_value_groups = HEADS // KV_HEADS
        self.is_causal = True


def reference(query, prefix_keys, prefix_values, keys, values, allowed):
    """Plain softmax attention in float64 over [prefix | own] with key/value heads repeated per query head.

    ``allowed`` is ``[batch, q_len, own]`` (True = attend); every query attends to the whole prefix.
    """
    group = HEADS // KV_HEADS
    full_keys = torch.cat([prefix_keys.expand(BATCH, -1, -1, -1), keys], dim=2).repeat_interleave(group, dim=1)
    full_values = torch.cat([prefix_values.expand(BATCH, -1, -1, -1), values], dim=2).repeat_interleave(group, dim=1)
    scores = query.double() @ full_keys.double().transpose(2, 3) / math.sqrt(HEAD_DIM)
    q_len = query.shape[2]
    mask = torch.cat([torch.ones(BATCH, q_len, PREFIX, dtype=torch.bool), allowed], dim=2)[:, None]
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return (weights @ full_values.double()).transpose(1, 2)  # [batch, q_len, heads, head_dim]


def tensors(q_len: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)

    def random(*shape):
        return torch.randn(*shape, generator=generator)

    query = random(BATCH, HEADS, q_len, HEAD_DIM)
    keys, values = random(BATCH, KV_HEADS, OWN, HEAD_DIM), random(BATCH, KV_HEADS, OWN, HEAD_DIM)
    layers = [(random(KV_HEADS, PREFIX, HEAD_DIM), random(KV_HEADS, PREFIX, HEAD_DIM)) for _ in range(2)]
    return query, keys, values, SharedPrefix(layers)


def test_one_query_with_left_padding_matches_plain_attention():
    query, keys, values, prefix = tensors(q_len=1)
    allowed = torch.ones(BATCH, 1, OWN, dtype=torch.bool)
    allowed[1, :, :3] = False  # row 1 has 3 padding columns before its own positions
    allowed[2, :, :6] = False
    output, weights = shared_prefix_attention(Layer(1), query, keys, values, allowed[:, None], shared_prefix=prefix)
    expected = reference(query, prefix.layers[1][0][None], prefix.layers[1][1][None], keys, values, allowed)
    assert weights is None
    assert output.shape == (BATCH, 1, HEADS, HEAD_DIM)
    torch.testing.assert_close(output.double(), expected, atol=1e-5, rtol=1e-5)


def test_no_mask_means_causal_for_several_queries_and_full_for_one():
    query, keys, values, prefix = tensors(q_len=4, seed=1)
    causal = torch.ones(4, OWN, dtype=torch.bool).tril(OWN - 4).expand(BATCH, -1, -1)
    output, _ = shared_prefix_attention(Layer(0), query, keys, values, None, shared_prefix=prefix)
    expected = reference(query, prefix.layers[0][0][None], prefix.layers[0][1][None], keys, values, causal)
    torch.testing.assert_close(output.double(), expected, atol=1e-5, rtol=1e-5)

    single, _ = shared_prefix_attention(Layer(0), query[:, :, -1:], keys, values, None, shared_prefix=prefix)
    full = torch.ones(BATCH, 1, OWN, dtype=torch.bool)
    expected = reference(query[:, :, -1:], prefix.layers[0][0][None], prefix.layers[0][1][None], keys, values, full)
    torch.testing.assert_close(single.double(), expected, atol=1e-5, rtol=1e-5)


def test_a_padding_query_with_no_own_position_attends_to_the_prefix_only_and_stays_finite():
    query, keys, values, prefix = tensors(q_len=2, seed=2)
    allowed = torch.ones(BATCH, 2, OWN, dtype=torch.bool).tril(OWN - 2)
    allowed[0, 0] = False  # row 0's first query is padding: none of its own positions is visible
    output, _ = shared_prefix_attention(Layer(0), query, keys, values, allowed[:, None], shared_prefix=prefix)
    assert torch.isfinite(output).all()
    expected = reference(query, prefix.layers[0][0][None], prefix.layers[0][1][None], keys, values, allowed)
    torch.testing.assert_close(output.double(), expected, atol=1e-5, rtol=1e-5)


def test_an_additive_float_mask_is_applied_like_a_boolean_one():
    query, keys, values, prefix = tensors(q_len=1, seed=3)
    allowed = torch.ones(BATCH, 1, OWN, dtype=torch.bool)
    allowed[0, :, :2] = False
    additive = torch.zeros(BATCH, 1, 1, OWN).masked_fill(~allowed[:, None], torch.finfo(torch.float32).min)
    from_bool, _ = shared_prefix_attention(Layer(0), query, keys, values, allowed[:, None], shared_prefix=prefix)
    from_float, _ = shared_prefix_attention(Layer(0), query, keys, values, additive, shared_prefix=prefix)
    torch.testing.assert_close(from_float, from_bool)


def test_without_a_shared_prefix_it_is_sdpa_attention():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    query, keys, values, _ = tensors(q_len=3, seed=4)
    ours, _ = shared_prefix_attention(Layer(0), query, keys, values, None, scaling=0.3)
    theirs, _ = sdpa_attention_forward(Layer(0), query, keys, values, None, scaling=0.3)
    assert torch.equal(ours, theirs)


def test_dropout_is_refused_and_registration_is_idempotent():
    from transformers import AttentionInterface

    query, keys, values, prefix = tensors(q_len=1)
    with pytest.raises(ValueError, match="dropout must be 0"):
        shared_prefix_attention(Layer(0), query, keys, values, None, dropout=0.1, shared_prefix=prefix)
    assert register() == register()
    assert AttentionInterface()[register()] is shared_prefix_attention
