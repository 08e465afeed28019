"""Attention that reads a prefix shared by every row of a batch once per step, not once per row.

The benchmark items asked at one checkpoint all continue the same dialogue prefix (up to thousands of tokens), and
they are decoded as one batch. With that prefix copied into every row's key/value cache, each decoding step reads
it once per row, and on a CPU those memory reads dominate a step over long prefixes. Here the batch's cache holds
only each row's own positions; the shared prefix's keys/values travel beside it (:class:`SharedPrefix`), and every
attention layer combines the two parts exactly: the scores of all rows' queries against the prefix come from one
matrix product per key/value head, the scores against each row's own positions from the usual masked product, and
one softmax runs over both. Without a shared prefix the layer runs transformers'
``sdpa`` attention unchanged.

Imported only by the transformers backend (it imports ``transformers``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION_NAME = "persona_lib_shared_prefix"
"""The name the attention function is registered under (``attn_implementation`` of the loaded model)."""


@dataclass(frozen=True)
class SharedPrefix:
    """Keys and values of the prefix every row of a batch starts with, per model layer.

    Attributes:
        layers: Per layer, keys and values shaped ``[key/value heads, prefix length, head_dim]``, already rotated
            for their positions ``0 .. length - 1``.
    """

    layers: list[tuple[torch.Tensor, torch.Tensor]]

    @property
    def length(self) -> int:
        """Number of prefix positions."""
        return self.layers[0][0].shape[1]


def register() -> str:
    """Register the attention function and its mask builder with transformers (idempotent); return the name."""
    AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
    return ATTENTION_NAME


def shared_prefix_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    shared_prefix: SharedPrefix | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Attention of ``query`` over the shared prefix (if any) followed by each row's own keys/values.

    Args:
        module: The attention layer (its ``layer_idx`` picks the prefix's layer).
        query: ``[batch, heads, q_len, head_dim]``.
        key: Each row's own keys, ``[batch, kv_heads, kv_len, head_dim]``.
        value: Each row's own values, same shape as ``key``.
        attention_mask: Boolean ``[batch, 1, q_len, kv_len]`` (``True`` = attend) or additive float mask over the
            row's own positions; ``None`` means causal (full when ``q_len == 1``).
        dropout: Must be 0 with a shared prefix (inference only).
        scaling: Score scale (default ``head_dim ** -0.5``).
        shared_prefix: The prefix every row attends to in full; ``None`` runs ``sdpa`` attention.
        **kwargs: Passed on to ``sdpa`` attention.

    Returns:
        The attention output ``[batch, q_len, heads, head_dim]`` and ``None`` (no weights).
    """
    if shared_prefix is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    if dropout:
        raise ValueError("shared-prefix attention is for inference: dropout must be 0")
    batch, heads, q_len, head_dim = query.shape
    kv_heads, own_len = key.shape[1], key.shape[2]
    group = heads // kv_heads
    scale = head_dim**-0.5 if scaling is None else scaling
    prefix_keys, prefix_values = shared_prefix.layers[module.layer_idx]

    # Query heads sharing a key/value head become extra query rows: [batch, kv_heads, group * q_len, head_dim].
    grouped = (query * scale).reshape(batch, kv_heads, group * q_len, head_dim)
    # Against the prefix, every row's queries in one product per key/value head: [kv_heads, batch * rows, prefix].
    stacked = grouped.transpose(0, 1).reshape(kv_heads, batch * group * q_len, head_dim)
    prefix_scores = torch.matmul(stacked, prefix_keys.transpose(1, 2)).float()
    own_scores = _masked(torch.matmul(grouped, key.transpose(2, 3)).float(), attention_mask, group, q_len, own_len)

    prefix_scores = prefix_scores.reshape(kv_heads, batch, group * q_len, -1).transpose(0, 1)
    # One softmax over [prefix | own]: the largest score is finite, as every query sees the whole prefix, so a
    # fully masked own part (a padding query) only adds zeros.
    largest = torch.maximum(prefix_scores.amax(dim=-1, keepdim=True), own_scores.amax(dim=-1, keepdim=True))
    prefix_weights = torch.exp(prefix_scores - largest)
    own_weights = torch.exp(own_scores - largest)
    total = prefix_weights.sum(dim=-1, keepdim=True) + own_weights.sum(dim=-1, keepdim=True)
    prefix_part = (
        torch.matmul(
            prefix_weights.to(query.dtype).transpose(0, 1).reshape(kv_heads, batch * group * q_len, -1), prefix_values
        )
        .reshape(kv_heads, batch, group * q_len, head_dim)
        .transpose(0, 1)
    )
    output = (prefix_part.float() + torch.matmul(own_weights.to(query.dtype), value).float()) / total
    output = output.to(query.dtype).reshape(batch, heads, q_len, head_dim).transpose(1, 2).contiguous()
    return output, None


def _masked(
    scores: torch.Tensor, attention_mask: torch.Tensor | None, group: int, q_len: int, own_len: int
) -> torch.Tensor:
    """``scores`` ``[batch, kv_heads, group * q_len, own_len]`` with masked positions at ``-inf``."""
    if attention_mask is None:
        if q_len == 1:
            return scores
        # causal over the row's own positions, the queries being the last q_len of them
        allowed = torch.ones(q_len, own_len, dtype=torch.bool, device=scores.device).tril(own_len - q_len)
        attention_mask = allowed[None, None]
    mask = (
        attention_mask[:, :, None]
        .expand(-1, -1, group, -1, -1)
        .reshape(attention_mask.shape[0], 1, group * q_len, own_len)
    )
    if mask.dtype == torch.bool:
        return scores.masked_fill(~mask, float("-inf"))
    return scores + mask.float()
