"""The transformers backend's batched decoding: prefill with prefix key/value reuse, then its own decode loop.

A batch's prefill takes each prompt's longest cached prefix from the
:class:`~persona_lib.backends._prefix_kv.PrefixKVCache` (all but the prompt's last token at most) and computes only
the rest. Each row's cached part and new part are left-padded and masked, with explicit position ids. Rows whose
uncached parts differ much in length are computed in separate passes
(:func:`~persona_lib.backends._prefill_groups.prefill_groups`) and gathered into one batch. When every row starts
with the same cached prefix (the items asked at one checkpoint), that prefix is not copied into the rows: attention
reads it once per step for the whole batch (:mod:`~persona_lib.backends._shared_prefix_attention`).

Decoding is a loop over the model's forward pass (greedy, or temperature / top-p sampling with the request's seed)
that writes into a preallocated cache (:mod:`~persona_lib.backends._growing_cache`). A row leaves the batch when it
finishes, and its keys/values (prompt and generated tokens) go into the prefix cache for later prompts.

Used only by the transformers backend.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from persona_lib.backends._prefill_groups import prefill_groups
from persona_lib.backends._prefix_kv import shared_prefix_length
from persona_lib.contract import Completion, SamplingParams

if TYPE_CHECKING:
    from persona_lib.backends._local_model import LocalModel
    from persona_lib.backends._shared_prefix_attention import SharedPrefix

logger = logging.getLogger(__name__)

MIN_SHARED_PREFIX = 32
"""Label scoring caches a prefix two neighbouring prompts share only from this many tokens on (shorter ones cost a
forward pass for little), and a batch reads the cached prefix all its rows share once per step (not once per row)
only from this many tokens on."""


@dataclass
class GenerationStats:
    """Token counters of a transformers backend since it was created.

    Attributes:
        prompt_tokens: Prompt tokens of the conversations generated (each prompt counted in full).
        prefilled_tokens: Tokens run through the model before decoding: the uncached part of each prompt, plus
            shared prefixes computed once per call.
        reused_tokens: Prompt tokens whose keys/values came from the prefix cache instead.
        generated_tokens: Tokens generated.
        shared_prefix_batches: Batches whose rows all started with one cached prefix, which attention then read
            once per step for the whole batch instead of once per row.
    """

    prompt_tokens: int = 0
    prefilled_tokens: int = 0
    reused_tokens: int = 0
    generated_tokens: int = 0
    shared_prefix_batches: int = 0

    def as_dict(self) -> dict[str, int]:
        """Plain-dict form."""
        return asdict(self)


@dataclass
class RunningBatch:
    """The state of a batch being decoded: its key/value cache, attention mask and next positions.

    With a ``shared`` prefix (every row starts with it), the cache and mask hold only each row's own positions
    after it; attention reads the prefix beside them.

    Attributes:
        cache: The batch's key/value cache.
        mask: The attention mask over the cache's columns (1 for real tokens, 0 for padding).
        next_position: Per row, the position of its next token.
        logits: Per row, the scores of its next token.
        reused: Per row, how many of its prompt's tokens came from the prefix cache.
        shared: The cached prefix every row starts with, read beside the cache, or ``None``.
    """

    cache: Any
    mask: Any
    next_position: Any
    logits: Any
    reused: list[int]
    shared: SharedPrefix | None = None

    def keep(self, slots: list[int]) -> None:
        """Drop every row except ``slots`` (finished rows leave the batch)."""
        import torch

        index = torch.tensor(slots, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask = self.mask[index]
        self.next_position = self.next_position[index]


class BatchDecoder:
    """Prefill and decoding of token id prompts in batches, reusing and filling the model's prefix cache.

    Token counters are in ``self.stats``.

    Args:
        model: The loaded model, with its prefix cache (``None``: every prompt is computed in full).
    """

    def __init__(self, model: LocalModel) -> None:
        self.hf_model = model.hf_model
        self.tokenizer = model.tokenizer
        self.device = model.device
        self.pad_token_id = model.pad_token_id
        self.eos_token_ids = model.eos_token_ids
        self.cache_argument = model.cache_argument
        self.prefix_cache = model.prefix_cache
        self.stats = GenerationStats()

    def generate_batch(self, prompts: list[list[int]], params: SamplingParams, budget: int) -> list[Completion]:
        """Generate up to ``budget`` tokens after each prompt, as one batch.

        Args:
            prompts: Token id lists; each leaves at least ``budget`` free positions in the context.
            params: Sampling parameters (temperature, top-p, seed).
            budget: Most tokens generated per prompt; reaching it finishes with ``"length"``.

        Returns:
            One completion per prompt, in order, with the generated token ids in ``extra["token_ids"]``.
        """
        running = self.prefill(prompts, budget)
        for ids, reused in zip(prompts, running.reused):
            self.stats.prompt_tokens += len(ids)
            self.stats.reused_tokens += reused
            self.stats.prefilled_tokens += len(ids) - reused
        choose = self._sampler(params)
        active = list(range(len(prompts)))
        generated: list[list[int]] = [[] for _ in prompts]
        finish: list[str | None] = [None] * len(prompts)
        while True:
            next_tokens = choose(running.logits)
            keep = []
            for slot, (row, token) in enumerate(zip(active, next_tokens.tolist())):
                generated[row].append(token)
                if token in self.eos_token_ids:
                    finish[row] = "stop"
                elif len(generated[row]) == budget:
                    finish[row] = "length"
                if finish[row] is None:
                    keep.append(slot)
                else:  # the cache holds the prompt and every generated token but the last (never fed back)
                    self.remember(prompts[row] + generated[row][:-1], running, slot)
            if not keep:
                break
            if len(keep) < len(active):
                running.keep(keep)
                next_tokens = next_tokens[keep]
                active = [active[slot] for slot in keep]
            self._decode_step(running, next_tokens)

        completions = []
        for ids, tokens, reason in zip(prompts, generated, finish):
            self.stats.generated_tokens += len(tokens)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            completions.append(Completion(text, len(ids), len(tokens), reason, extra={"token_ids": tokens}))
        return completions

    def compute_shared_prefix(self, prompts: list[list[int]]) -> None:
        """Put the prefix every prompt shares into the prefix cache, computed once (not once per batch row)."""
        if self.prefix_cache is None or len(prompts) < 2:
            return
        shared = prompts[0][: shared_prefix_length(prompts, min(len(ids) for ids in prompts) - 1)]
        if len(shared) <= self.prefix_cache.match_length(shared):
            return
        try:
            running = self.prefill([shared])
        except Exception as err:  # noqa: BLE001 -- only a speed-up: the batches compute the prefix themselves
            logger.warning("could not precompute a shared prefix of %d tokens: %s", len(shared), err)
            return
        self.stats.prefilled_tokens += len(shared) - running.reused[0]
        self.remember(shared, running, 0)

    def prefill(self, prompts: list[list[int]], budget: int = 0) -> RunningBatch:
        """Take each prompt's longest cached prefix (all but its last token at most) and compute the rest.

        Rows whose uncached parts differ much in length are computed in separate passes
        (:func:`~persona_lib.backends._prefill_groups.prefill_groups`) and gathered into one batch. The cache has
        room for ``budget`` generated tokens.
        """
        found = [
            self.prefix_cache.lookup(ids, len(ids) - 1) if self.prefix_cache is not None else (0, []) for ids in prompts
        ]
        shared = _shared_prefix(prompts, found)
        self.stats.shared_prefix_batches += shared is not None
        groups = prefill_groups([len(ids) - length for ids, (length, _) in zip(prompts, found)])
        if len(groups) == 1:
            return self._prefill_pass(prompts, found, shared, budget)
        passes = [
            self._prefill_pass([prompts[row] for row in group], [found[row] for row in group], shared, 0)
            for group in groups
        ]
        return _gather(passes, groups, budget)

    def remember(self, tokens: list[int], running: RunningBatch, slot: int) -> None:
        """Store the keys/values of batch row ``slot`` (its real, unmasked columns) for ``tokens``."""
        if self.prefix_cache is None:
            return
        import torch

        columns = running.mask[slot].nonzero().squeeze(1)
        shared = running.shared.layers if running.shared is not None else None
        offset = running.shared.length if running.shared is not None else 0  # tokens before the row's own columns
        if offset + len(columns) != len(tokens):
            raise RuntimeError(f"batch row holds {offset + len(columns)} positions, expected {len(tokens)}")

        def kv_from(start: int):
            picked = columns[max(start - offset, 0) :]
            own = [
                (layer.keys[slot].index_select(1, picked), layer.values[slot].index_select(1, picked))
                for layer in running.cache.layers
            ]
            if start >= offset:
                return own
            return [
                (torch.cat([keys[:, start:], own_keys], dim=1), torch.cat([values[:, start:], own_values], dim=1))
                for (keys, values), (own_keys, own_values) in zip(shared, own)
            ]

        self.prefix_cache.insert(tokens, kv_from)

    def _prefill_pass(
        self, prompts: list[list[int]], found: list[tuple[int, Any]], shared: SharedPrefix | None, budget: int
    ) -> RunningBatch:
        """One forward pass over the uncached part of every prompt.

        Row layout (width ``cached + new``): the cached keys/values after the ``shared`` prefix are right-aligned
        in the first ``cached`` columns and the new tokens right-aligned in the last ``new`` columns; padding in
        front of either part is masked out and positions count real tokens only.
        """
        import torch

        from persona_lib.backends._growing_cache import preallocated_cache

        reused = [length for length, _ in found]
        start = shared.length if shared is not None else 0  # each row's own cached part begins here
        cached_width = max(reused) - start
        new_width = max(len(ids) - length for ids, length in zip(prompts, reused))
        rows = len(prompts)
        cache = preallocated_cache(cached_width + new_width + budget)
        if cached_width:
            layers = next(kv for length, kv in found if length > start)
            for layer, (keys_like, _) in enumerate(layers):
                heads, _, head_dim = keys_like.shape
                keys = keys_like.new_zeros((rows, heads, cached_width, head_dim))
                values = keys_like.new_zeros((rows, heads, cached_width, head_dim))
                for row, (length, kv) in enumerate(found):
                    if length > start:
                        keys[row, :, cached_width - (length - start) :] = kv[layer][0][:, start:]
                        values[row, :, cached_width - (length - start) :] = kv[layer][1][:, start:]
                cache.update(keys, values, layer)
        input_ids = torch.full((rows, new_width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((rows, cached_width + new_width), dtype=torch.long)
        positions = torch.zeros((rows, new_width), dtype=torch.long)
        for row, (ids, length) in enumerate(zip(prompts, reused)):
            fresh = len(ids) - length
            mask[row, cached_width - (length - start) : cached_width] = 1
            mask[row, cached_width + new_width - fresh :] = 1
            input_ids[row, new_width - fresh :] = torch.tensor(ids[length:], dtype=torch.long)
            positions[row, new_width - fresh :] = torch.arange(length, len(ids))
        running = RunningBatch(cache, mask.to(self.device), positions[:, -1].to(self.device) + 1, None, reused, shared)
        running.logits = self._forward(input_ids.to(self.device), running, positions.to(self.device))
        return running

    def _decode_step(self, running: RunningBatch, tokens) -> None:
        """Feed each row its chosen token; ``running.logits`` becomes the next token's scores."""
        import torch

        running.mask = torch.cat([running.mask, running.mask.new_ones((running.mask.shape[0], 1))], dim=1)
        running.logits = self._forward(tokens[:, None], running, running.next_position[:, None])
        running.next_position = running.next_position + 1

    def _forward(self, input_ids, running: RunningBatch, positions):
        """The next-token logits after ``input_ids``, appended to ``running``'s cache."""
        import torch

        shared = {"shared_prefix": running.shared} if running.shared is not None else {}
        with torch.inference_mode():
            output = self.hf_model(
                input_ids=input_ids,
                attention_mask=running.mask,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,
                **{self.cache_argument: running.cache},
                **shared,
            )
        return output.logits[:, -1, :].float()

    def _sampler(self, params: SamplingParams):
        """The next-token rule: argmax at temperature 0, else seeded sampling with temperature and top-p."""
        import torch

        if params.temperature == 0:
            return lambda logits: logits.argmax(dim=-1)
        from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

        generator = torch.Generator(device=self.device).manual_seed(params.seed)
        warpers = [TemperatureLogitsWarper(params.temperature)]
        if params.top_p < 1.0:
            warpers.append(TopPLogitsWarper(params.top_p))

        def sample(logits):
            for warper in warpers:
                logits = warper(None, logits)
            return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).squeeze(1)

        return sample


def _gather(passes: list[RunningBatch], groups: list[list[int]], budget: int) -> RunningBatch:
    """One batch from prefill passes over disjoint rows: each row's real keys/values right-aligned, padding masked.

    Args:
        passes: The passes, each over the rows of one group.
        groups: Per pass, the batch row of each of its rows.
        budget: Room left in the cache for generated tokens.
    """
    import torch

    from persona_lib.backends._growing_cache import preallocated_cache

    placement = sorted((row, part, slot) for part, group in enumerate(groups) for slot, row in enumerate(group))
    columns = [passes[part].mask[slot].nonzero().squeeze(1) for _, part, slot in placement]
    width = max(len(picked) for picked in columns)
    cache = preallocated_cache(width + budget)
    for layer, like in enumerate(passes[0].cache.layers):
        rows_shape = (len(placement), like.keys.shape[1], width, like.keys.shape[3])
        keys, values = like.keys.new_zeros(rows_shape), like.values.new_zeros(rows_shape)
        for (row, part, slot), picked in zip(placement, columns):
            source = passes[part].cache.layers[layer]
            keys[row, :, width - len(picked) :] = source.keys[slot].index_select(1, picked)
            values[row, :, width - len(picked) :] = source.values[slot].index_select(1, picked)
        cache.update(keys, values, layer)
    mask = passes[0].mask.new_zeros((len(placement), width))
    for row, picked in enumerate(columns):
        mask[row, width - len(picked) :] = 1
    return RunningBatch(
        cache,
        mask,
        torch.stack([passes[part].next_position[slot] for _, part, slot in placement]),
        torch.stack([passes[part].logits[slot] for _, part, slot in placement]),
        [passes[part].reused[slot] for _, part, slot in placement],
        passes[0].shared,
    )


def _shared_prefix(prompts: list[list[int]], found: list[tuple[int, Any]]) -> SharedPrefix | None:
    """The cached prefix every prompt of a batch starts with, when there are several prompts and it is at least
    :data:`MIN_SHARED_PREFIX` tokens long.

    Args:
        prompts: The batch's token id lists.
        found: Per prompt, its cached prefix length and per-layer keys/values
            (:meth:`persona_lib.backends._prefix_kv.PrefixKVCache.lookup`).
    """
    if len(prompts) < 2:
        return None
    length = shared_prefix_length(prompts, min(reused for reused, _ in found))
    if length < MIN_SHARED_PREFIX:
        return None
    from persona_lib.backends._shared_prefix_attention import SharedPrefix

    layers = found[0][1]
    return SharedPrefix([(keys[:, :length].contiguous(), values[:, :length].contiguous()) for keys, values in layers])
