"""Label distributions and next-token log-probabilities on the transformers backend: prefill only, nothing generated.

A request with ``SamplingParams.score_labels`` is answered with the model's next-token log-probabilities for the
first token of each label (:mod:`~persona_lib.backends._labels` matches labels to tokens and encodes the
distribution). Judge prompts form a tree of shared prefixes, so the prompts are sorted by token ids and the prefix
each shares with its neighbour is cached first; each batch's prefill then computes only the prompts' own remainders.

Used only by the transformers backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from persona_lib.backends._batch_decoder import MIN_SHARED_PREFIX, BatchDecoder
from persona_lib.backends._labels import distribution_completion
from persona_lib.backends._prefix_kv import common_prefix_length
from persona_lib.contract import Completion

if TYPE_CHECKING:
    import torch


def next_token_logprobs(decoder: BatchDecoder, prompts: list[list[int]], batch_size: int) -> torch.Tensor:
    """The log-probability of every vocabulary token as the next token after each prompt (one forward pass per
    batch, reusing cached prefixes; nothing is generated).

    Args:
        decoder: The backend's decoder (its prefix cache and token counters are used).
        prompts: Token id lists.
        batch_size: Prompts per forward pass.

    Returns:
        A float tensor of shape ``(len(prompts), vocabulary size)``.
    """
    import torch

    rows = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        running = decoder.prefill(batch)
        for ids, reused in zip(batch, running.reused):
            decoder.stats.prompt_tokens += len(ids)
            decoder.stats.reused_tokens += reused
            decoder.stats.prefilled_tokens += len(ids) - reused
        rows.append(torch.log_softmax(running.logits, dim=-1))
    return torch.cat(rows)


def score_labels(
    decoder: BatchDecoder,
    prompts: dict[int, list[int]],
    labels: tuple[str, ...],
    label_ids: dict[int, list[int]],
    batch_size: int,
    results: list[Completion | None],
) -> None:
    """Fill ``results`` with each prompt's distribution over ``labels``; a failing batch fails its prompts only.

    Args:
        decoder: The backend's decoder.
        prompts: Token ids of each prompt by its index in ``results``.
        labels: The labels, in the order the distribution lists them.
        label_ids: Per prompt index, the first token id of each label after the prompt.
        batch_size: Prompts per forward pass.
        results: The call's completions by input index, filled here at the indices of ``prompts``.
    """
    indices = sorted(prompts, key=lambda index: prompts[index])  # shared prefixes end up next to each other
    _cache_neighbour_prefixes(decoder, [prompts[index] for index in indices])
    for start in range(0, len(indices), batch_size):
        batch = indices[start : start + batch_size]
        try:
            vocabulary = next_token_logprobs(decoder, [prompts[index] for index in batch], batch_size)
            logprobs = [vocabulary[row, label_ids[index]].tolist() for row, index in enumerate(batch)]
        except Exception as err:  # noqa: BLE001 -- the batch fails, not the caller
            for index in batch:
                results[index] = Completion("", len(prompts[index]), 0, "error", error=f"{type(err).__name__}: {err}")
            continue
        for index, row in zip(batch, logprobs):
            results[index] = distribution_completion(labels, row, len(prompts[index]))


def _cache_neighbour_prefixes(decoder: BatchDecoder, sorted_prompts: list[list[int]]) -> None:
    """Cache the prefix each prompt shares with the next one (prompts sorted by token ids).

    Judge prompts form a tree of shared prefixes — the template's opening and the character's description, then
    one dialogue turn judged on three criteria — so computing each neighbouring pair's common prefix once (only
    the part not cached yet) leaves every prompt's own remainder for the batched pass.
    """
    for left, right in zip(sorted_prompts, sorted_prompts[1:]):
        if common_prefix_length(left, right) >= MIN_SHARED_PREFIX:
            decoder.compute_shared_prefix([left, right])
