"""Context-length arithmetic shared by the local backends (pure functions, no model needed)."""

from __future__ import annotations

import math


def derive_max_model_len(
    longest_prompt_tokens: int, max_new_tokens: int, model_max: int, granularity: int = 1024
) -> int:
    """The context length to allocate for a batch of work, instead of always the model's maximum.

    Enough for the longest prompt plus the full generation budget, rounded up to ``granularity`` (so nearby
    workloads share one engine size), and never more than the model supports.

    Args:
        longest_prompt_tokens: Tokens in the longest prompt to be served.
        max_new_tokens: The generation budget per request.
        model_max: The model's own maximum context (``max_position_embeddings``).
        granularity: Round the result up to a multiple of this.

    Raises:
        ValueError: for negative token counts or non-positive ``model_max``/``granularity``.
    """
    if longest_prompt_tokens < 0 or max_new_tokens < 0:
        raise ValueError(
            f"token counts must be >= 0, got longest_prompt_tokens={longest_prompt_tokens}, "
            f"max_new_tokens={max_new_tokens}"
        )
    if model_max <= 0 or granularity <= 0:
        raise ValueError(f"model_max and granularity must be > 0, got {model_max} and {granularity}")
    needed = longest_prompt_tokens + max_new_tokens
    return min(model_max, max(granularity, math.ceil(needed / granularity) * granularity))
