"""Local generation with Hugging Face ``transformers`` (the embedded default backend, CPU or GPU).

Context policy (shared with the vLLM backend): a prompt longer than ``SamplingParams.truncate_prompt_tokens`` keeps
its last that many tokens; a prompt whose token count then reaches the context length
(``ModelConfig.max_model_len``, else the model's ``max_position_embeddings``) is not generated and comes back as
``finish_reason="context_overflow"``. A prompt that fits but leaves fewer than ``max_new_tokens`` free positions
is generated with its budget cut to the free positions; hitting that budget is reported as ``"length"``.

Prefix reuse: prefill of long prompts dominates CPU time, and the pipeline's prompts share long prefixes (a
dialogue's next round extends its previous round; every benchmark item at one checkpoint follows the same dialogue
prefix). The backend keeps the attention keys/values of the sequences it processed (prompt and generated tokens)
in a :class:`~persona_lib.backends._prefix_kv.PrefixKVCache` and computes only the part of a new prompt that is
not cached (at least its last token). Within one :meth:`TransformersBackend.generate` call, the prefix shared by
all prompts is computed once before the batches. Prompts are matched by token ids, never by text. Decoding is
the backend's own loop over the model's forward pass (greedy, or temperature / top-p sampling with the request's
seed), batched with each row's cached part and new part left-padded and masked, with explicit position ids.
When every row of a batch starts with the same cached prefix (the items asked at one checkpoint), that prefix is
not copied into the rows: attention reads it once per step for the whole batch
(:mod:`~persona_lib.backends._shared_prefix_attention`). Each completion's ``extra["token_ids"]`` holds the
generated token ids.
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import asdict, dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from persona_lib.contract import Completion, Conversation, SamplingParams
from persona_lib.backends._bundled import resolve_model_path
from persona_lib.backends._chat import PromptRenderer, chat_template_for, overflow_message
from persona_lib.backends._dtype import resolve_dtype
from persona_lib.backends._labels import distribution_completion, label_token_ids
from persona_lib.backends._prefill_groups import prefill_groups
from persona_lib.backends._prefix_kv import PrefixKVCache, common_prefix_length, shared_prefix_length
from persona_lib.config import ModelConfig
from persona_lib.backends._registry import BackendSpec, register_backend

if TYPE_CHECKING:
    from persona_lib.backends._shared_prefix_attention import SharedPrefix

logger = logging.getLogger(__name__)

MIN_SHARED_PREFIX = 32
"""Label scoring caches a prefix two neighbouring prompts share only from this many tokens on (shorter ones cost a
forward pass for little), and a batch reads the cached prefix all its rows share once per step (not once per row)
only from this many tokens on."""

DEFAULT_PREFIX_CACHE_MB = 2048
"""Memory for cached keys/values unless ``model.extra.prefix_cache_mb`` says otherwise (SmolLM2-135M in float32
needs 45 KiB per token: 2 GiB hold about 46,000 tokens)."""


def default_num_threads() -> int:
    """CPU threads for torch: every core this process may use.

    Prefill of long dialogue prefixes is compute-bound, so on an otherwise idle machine every core helps: measured on
    the project's 2-core machine, 8 prompts of 700 tokens + 32 new tokens took 20.3 s with 1 thread and 12.2 s with
    2 (float32; 6.8 s with 2 threads in bfloat16). When other processes compete for the cores, torch's OpenMP
    threads spin-wait on each other (3 x 16 tokens: 2.2 s with 1 thread, 46-62 s with 2 under load); set
    ``model.extra.num_threads`` lower in that case.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class GenerationStats:
    """Token counters of a :class:`TransformersBackend` since it was created.

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
class _Running:
    """The state of a batch being decoded: its key/value cache, attention mask and next positions.

    With a ``shared`` prefix (every row starts with it), the cache and mask hold only each row's own positions
    after it; attention reads the prefix beside them.
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


class TransformersBackend:
    """Batched local generation with prefix key/value reuse, greedy when ``temperature == 0``.

    Conversations are sorted by prompt length inside each :meth:`generate` call (so a batch pads little) and
    returned in input order. ``config.dtype`` ``auto`` is resolved by :func:`~persona_lib.backends._dtype.
    resolve_dtype` (float32 on a CPU without native bfloat16). ``config.extra`` may set ``num_threads`` (CPU
    threads, a process-wide torch setting; default :func:`default_num_threads`), ``device`` (default: ``cuda`` when
    available, else ``cpu``), ``prefix_cache`` (``false`` turns key/value reuse off) and ``prefix_cache_mb``
    (its memory budget, default :data:`DEFAULT_PREFIX_CACHE_MB`). Token counters are in :attr:`stats`.

    Args:
        config: The model configuration (``backend: transformers``).

    Raises:
        ValueError: for an unknown ``dtype`` or a malformed ``prefix_cache`` / ``prefix_cache_mb``.
    """

    name = "transformers"

    def __init__(self, config: ModelConfig) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        self.model = config.model
        self.model_path = resolve_model_path(config.model)
        self.device = config.extra.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        self.prefix_cache = _prefix_cache_from(config.extra)
        self.dtype = resolve_dtype(config.dtype, self.device)
        if self.device == "cpu":
            torch.set_num_threads(int(config.extra.get("num_threads", default_num_threads())))
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self.hf_model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=self.dtype.dtype).to(self.device)
        self.hf_model.eval()
        self.pad_token_id = self.tokenizer.pad_token_id
        if self.pad_token_id is None:
            self.pad_token_id = self.tokenizer.eos_token_id
        self.eos_token_ids = self._eos_token_ids()
        self.context_length = config.max_model_len or int(self.hf_model.config.max_position_embeddings)
        self.renderer = PromptRenderer(self.tokenizer, chat_template_for(config), config)
        self.prefix_cache_status = (
            f"on ({self.prefix_cache.budget_bytes / 2**20:g} MiB)" if self.prefix_cache is not None else "off"
        )
        if self.prefix_cache is not None and not _full_attention_only(self.hf_model.config):
            # Rows with a cached part are padded in the middle; windowed masks count those columns as tokens.
            self.prefix_cache = None
            self.prefix_cache_status = "off (the model has sliding-window or linear attention layers)"
            logger.warning("%s: prefix key/value reuse %s", self.model, self.prefix_cache_status)
        if self.prefix_cache is not None:
            from persona_lib.backends import _shared_prefix_attention

            self.hf_model.set_attn_implementation(_shared_prefix_attention.register())
        # transformers 5 renamed the forward argument ``past_key_values`` to ``cache``.
        forward_parameters = inspect.signature(self.hf_model.forward).parameters
        self._cache_argument = "cache" if "cache" in forward_parameters else "past_key_values"
        self.stats = GenerationStats()

    def _eos_token_ids(self) -> set[int]:
        configured = self.hf_model.generation_config.eos_token_id
        ids = set(configured if isinstance(configured, list) else [configured]) - {None}
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    def version_info(self) -> dict[str, str]:
        """Versions of torch and transformers, the model as configured, where and how it runs."""
        return {
            "backend": self.name,
            "transformers": version("transformers"),
            "torch": version("torch"),
            "model": self.model,
            "model_path": self.model_path,
            "device": self.device,
            "dtype": self.dtype.dtype,
            "dtype_reason": self.dtype.reason,
            "prefix_cache": self.prefix_cache_status,
        }

    def generate(self, conversations: list[Conversation], params: SamplingParams) -> list[Completion]:
        """Answer each conversation (or read its label distribution when ``params.score_labels`` is set); one
        :class:`Completion` per conversation, in input order."""
        results: list[Completion | None] = [None] * len(conversations)
        prompts: dict[int, list[int]] = {}
        label_ids: dict[int, list[int]] = {}
        for index, conversation in enumerate(conversations):
            try:
                if params.score_labels:
                    context = self.renderer.render(conversation) + (params.answer_prefix or "")
                    ids, label_ids[index] = label_token_ids(self.tokenizer, context, params.score_labels)
                else:
                    ids = self.renderer.token_ids(conversation)
            except Exception as err:  # noqa: BLE001 -- a malformed conversation fails alone
                results[index] = Completion("", 0, 0, "error", error=f"could not prepare the prompt: {err}")
                continue
            if params.truncate_prompt_tokens is not None:  # keep the end of the prompt, as vLLM's option does
                ids = ids[-params.truncate_prompt_tokens :]
            if len(ids) >= self.context_length:
                results[index] = Completion(
                    "", len(ids), 0, "context_overflow", error=overflow_message(len(ids), self.context_length)
                )
            else:
                prompts[index] = ids
        self._compute_shared_prefix(list(prompts.values()))
        if params.score_labels:
            self._score_labels(prompts, params.score_labels, label_ids, results)
            return results  # type: ignore[return-value]

        # Prompts with the full token budget are batched; the rare ones near the context limit get their own cut
        # budget and run alone, so they never shorten another conversation's answer.
        fits = {i: len(ids) + params.max_new_tokens <= self.context_length for i, ids in prompts.items()}
        full_budget = sorted((i for i in prompts if fits[i]), key=lambda i: len(prompts[i]), reverse=True)
        cut_budget = [i for i in prompts if not fits[i]]
        batch_size = self.config.batch_size
        for start in range(0, len(full_budget), batch_size):
            batch = full_budget[start : start + batch_size]
            self._generate_safely(batch, prompts, params, params.max_new_tokens, results)
        for index in cut_budget:
            self._generate_safely([index], prompts, params, self.context_length - len(prompts[index]), results)
        return results  # type: ignore[return-value]

    def next_token_logprobs(self, prompts: list[list[int]]):
        """The log-probability of every vocabulary token as the next token after each prompt (one forward pass
        per batch of ``batch_size``, reusing cached prefixes; nothing is generated).

        Args:
            prompts: Token id lists.

        Returns:
            A float tensor of shape ``(len(prompts), vocabulary size)``.
        """
        import torch

        rows = []
        for start in range(0, len(prompts), self.config.batch_size):
            batch = prompts[start : start + self.config.batch_size]
            running = self._prefill(batch)
            for ids, reused in zip(batch, running.reused):
                self.stats.prompt_tokens += len(ids)
                self.stats.reused_tokens += reused
                self.stats.prefilled_tokens += len(ids) - reused
            rows.append(torch.log_softmax(running.logits, dim=-1))
        return torch.cat(rows)

    def _score_labels(
        self,
        prompts: dict[int, list[int]],
        labels: tuple[str, ...],
        label_ids: dict[int, list[int]],
        results: list[Completion | None],
    ) -> None:
        indices = sorted(prompts, key=lambda index: prompts[index])  # shared prefixes end up next to each other
        self._cache_neighbour_prefixes([prompts[index] for index in indices])
        for start in range(0, len(indices), self.config.batch_size):
            batch = indices[start : start + self.config.batch_size]
            try:
                vocabulary = self.next_token_logprobs([prompts[index] for index in batch])
                logprobs = [vocabulary[row, label_ids[index]].tolist() for row, index in enumerate(batch)]
            except Exception as err:  # noqa: BLE001 -- the batch fails, not the caller
                for index in batch:
                    results[index] = Completion(
                        "", len(prompts[index]), 0, "error", error=f"{type(err).__name__}: {err}"
                    )
                continue
            for index, row in zip(batch, logprobs):
                results[index] = distribution_completion(labels, row, len(prompts[index]))

    def _cache_neighbour_prefixes(self, sorted_prompts: list[list[int]]) -> None:
        """Cache the prefix each prompt shares with the next one (prompts sorted by token ids).

        Judge prompts form a tree of shared prefixes — the template's opening and the character's description, then
        one dialogue turn judged on three criteria — so computing each neighbouring pair's common prefix once (only
        the part not cached yet) leaves every prompt's own remainder for the batched pass.
        """
        for left, right in zip(sorted_prompts, sorted_prompts[1:]):
            if common_prefix_length(left, right) >= MIN_SHARED_PREFIX:
                self._compute_shared_prefix([left, right])

    def _generate_safely(
        self,
        batch: list[int],
        prompts: dict[int, list[int]],
        params: SamplingParams,
        budget: int,
        results: list[Completion | None],
    ) -> None:
        try:
            for index, completion in zip(batch, self._generate_batch([prompts[i] for i in batch], params, budget)):
                results[index] = completion
        except Exception as err:  # noqa: BLE001 -- isolate the failing conversation below
            if len(batch) > 1:  # find the conversation that fails; the others still get answers
                for index in batch:
                    self._generate_safely([index], prompts, params, budget, results)
            else:
                results[batch[0]] = Completion(
                    "", len(prompts[batch[0]]), 0, "error", error=f"{type(err).__name__}: {err}"
                )

    def _compute_shared_prefix(self, prompts: list[list[int]]) -> None:
        """Put the prefix every prompt shares into the prefix cache, computed once (not once per batch row)."""
        if self.prefix_cache is None or len(prompts) < 2:
            return
        shared = prompts[0][: shared_prefix_length(prompts, min(len(ids) for ids in prompts) - 1)]
        if len(shared) <= self.prefix_cache.match_length(shared):
            return
        try:
            running = self._prefill([shared])
        except Exception as err:  # noqa: BLE001 -- only a speed-up: the batches compute the prefix themselves
            logger.warning("could not precompute a shared prefix of %d tokens: %s", len(shared), err)
            return
        self.stats.prefilled_tokens += len(shared) - running.reused[0]
        self._remember(shared, running, 0)

    def _generate_batch(self, prompts: list[list[int]], params: SamplingParams, budget: int) -> list[Completion]:
        running = self._prefill(prompts, budget)
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
                    self._remember(prompts[row] + generated[row][:-1], running, slot)
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

    def _prefill(self, prompts: list[list[int]], budget: int = 0) -> _Running:
        """Take each prompt's longest cached prefix (all but its last token at most) and compute the rest.

        Rows whose uncached parts differ much in length are computed in separate passes
        (:func:`~persona_lib.backends._prefill_groups.prefill_groups`) and gathered into one batch. The cache has
        room for ``budget`` generated tokens.
        """
        found = [
            self.prefix_cache.lookup(ids, len(ids) - 1) if self.prefix_cache is not None else (0, [])
            for ids in prompts
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

    def _prefill_pass(
        self, prompts: list[list[int]], found: list[tuple[int, Any]], shared: SharedPrefix | None, budget: int
    ) -> _Running:
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
        running = _Running(cache, mask.to(self.device), positions[:, -1].to(self.device) + 1, None, reused, shared)
        running.logits = self._forward(input_ids.to(self.device), running, positions.to(self.device))
        return running

    def _decode_step(self, running: _Running, tokens) -> None:
        """Feed each row its chosen token; ``running.logits`` becomes the next token's scores."""
        import torch

        running.mask = torch.cat([running.mask, running.mask.new_ones((running.mask.shape[0], 1))], dim=1)
        running.logits = self._forward(tokens[:, None], running, running.next_position[:, None])
        running.next_position = running.next_position + 1

    def _forward(self, input_ids, running: _Running, positions):
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
                **{self._cache_argument: running.cache},
                **shared,
            )
        return output.logits[:, -1, :].float()

    def _remember(self, tokens: list[int], running: _Running, slot: int) -> None:
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


def _gather(passes: list[_Running], groups: list[list[int]], budget: int) -> _Running:
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
    return _Running(
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
        found: Per prompt, its cached prefix length and per-layer keys/values (:meth:`PrefixKVCache.lookup`).
    """
    if len(prompts) < 2:
        return None
    length = shared_prefix_length(prompts, min(reused for reused, _ in found))
    if length < MIN_SHARED_PREFIX:
        return None
    from persona_lib.backends._shared_prefix_attention import SharedPrefix

    layers = found[0][1]
    return SharedPrefix([(keys[:, :length].contiguous(), values[:, :length].contiguous()) for keys, values in layers])


def _full_attention_only(model_config) -> bool:
    """Whether every attention layer sees the whole sequence (no sliding window, no linear attention)."""
    text_config = model_config.get_text_config()
    layer_types = getattr(text_config, "layer_types", None)
    if layer_types is not None:
        return all(kind == "full_attention" for kind in layer_types)
    return not getattr(text_config, "sliding_window", None)


def _prefix_cache_from(extra: dict[str, Any]) -> PrefixKVCache | None:
    enabled = extra.get("prefix_cache", True)
    if not isinstance(enabled, bool):
        raise ValueError(f"model.extra.prefix_cache must be true or false, got {enabled!r}")
    if not enabled:
        return None
    megabytes = extra.get("prefix_cache_mb", DEFAULT_PREFIX_CACHE_MB)
    if isinstance(megabytes, bool) or not isinstance(megabytes, (int, float)) or megabytes < 0:
        raise ValueError(
            f"model.extra.prefix_cache_mb must be a number of MiB >= 0, got {megabytes!r}; "
            f"e.g. {DEFAULT_PREFIX_CACHE_MB} (the default), or set model.extra.prefix_cache: false"
        )
    return PrefixKVCache(int(megabytes * 2**20))


register_backend(BackendSpec(
    name="transformers", create=TransformersBackend, libraries=("torch", "transformers"),
    install="pip install -e '.[local]'",
))
