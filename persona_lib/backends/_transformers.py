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

This module turns conversations into token ids and batches them; the work is done by its helpers:
:mod:`~persona_lib.backends._local_model` loads the model (device, dtype, threads, whether reuse can run on it),
:mod:`~persona_lib.backends._batch_decoder` prefills and decodes a batch, and
:mod:`~persona_lib.backends._label_scoring` reads label distributions.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING

from persona_lib.backends._batch_decoder import BatchDecoder, GenerationStats
from persona_lib.backends._chat import PromptRenderer, chat_template_for, overflow_message
from persona_lib.backends._label_scoring import next_token_logprobs, score_labels
from persona_lib.backends._labels import label_token_ids
from persona_lib.backends._local_model import load_local_model
from persona_lib.backends._registry import BackendSpec, register_backend
from persona_lib.config import ModelConfig
from persona_lib.contract import Completion, Conversation, SamplingParams

if TYPE_CHECKING:
    import torch

    from persona_lib.backends._prefix_kv import PrefixKVCache


class TransformersBackend:
    """Batched local generation with prefix key/value reuse, greedy when ``temperature == 0``.

    Conversations are sorted by prompt length inside each :meth:`generate` call (so a batch pads little) and
    returned in input order. ``config.dtype`` ``auto`` is resolved by :func:`~persona_lib.backends._dtype.
    resolve_dtype` (float32 on a CPU without native bfloat16). ``config.extra`` may set ``num_threads`` (CPU
    threads, a process-wide torch setting; default :func:`~persona_lib.backends._local_model.default_num_threads`),
    ``device`` (default: ``cuda`` when available, else ``cpu``), ``prefix_cache`` (``false`` turns key/value reuse
    off) and ``prefix_cache_mb`` (its memory budget, default
    :data:`~persona_lib.backends._local_model.DEFAULT_PREFIX_CACHE_MB`). Token counters are in :attr:`stats`.

    Args:
        config: The model configuration (``backend: transformers``).

    Raises:
        ValueError: for an unknown ``dtype`` or a malformed ``prefix_cache`` / ``prefix_cache_mb``.
    """

    name = "transformers"

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.model = config.model
        loaded = load_local_model(config)
        self.model_path = loaded.path
        self.device = loaded.device
        self.dtype = loaded.dtype
        self.tokenizer = loaded.tokenizer
        self.hf_model = loaded.hf_model
        self.context_length = loaded.context_length
        self.prefix_cache_status = loaded.prefix_cache_status
        self.renderer = PromptRenderer(self.tokenizer, chat_template_for(config), config)
        self.decoder = BatchDecoder(loaded)

    @property
    def prefix_cache(self) -> PrefixKVCache | None:
        """The cached prefix keys/values (``None`` when reuse is off); held by ``self.decoder``."""
        return self.decoder.prefix_cache

    @property
    def stats(self) -> GenerationStats:
        """Token counters since the backend was created."""
        return self.decoder.stats

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
        self.decoder.compute_shared_prefix(list(prompts.values()))
        if params.score_labels:
            score_labels(self.decoder, prompts, params.score_labels, label_ids, self.config.batch_size, results)
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

    def next_token_logprobs(self, prompts: list[list[int]]) -> torch.Tensor:
        """The log-probability of every vocabulary token as the next token after each prompt (one forward pass
        per batch of ``batch_size``, reusing cached prefixes; nothing is generated).

        Args:
            prompts: Token id lists.

        Returns:
            A float tensor of shape ``(len(prompts), vocabulary size)``.
        """
        return next_token_logprobs(self.decoder, prompts, self.config.batch_size)

    def _generate_safely(
        self,
        batch: list[int],
        prompts: dict[int, list[int]],
        params: SamplingParams,
        budget: int,
        results: list[Completion | None],
    ) -> None:
        """Generate ``batch`` (indices into ``prompts``) into ``results``; when the batch fails, each conversation
        is retried alone, so only the one that fails gets an error completion."""
        try:
            completions = self.decoder.generate_batch([prompts[i] for i in batch], params, budget)
            for index, completion in zip(batch, completions):
                results[index] = completion
        except Exception as err:  # noqa: BLE001 -- isolate the failing conversation below
            if len(batch) > 1:  # find the conversation that fails; the others still get answers
                for index in batch:
                    self._generate_safely([index], prompts, params, budget, results)
            else:
                results[batch[0]] = Completion(
                    "", len(prompts[batch[0]]), 0, "error", error=f"{type(err).__name__}: {err}"
                )


register_backend(
    BackendSpec(
        name="transformers",
        create=TransformersBackend,
        libraries=("torch", "transformers"),
        install="pip install -e '.[local]'",
    )
)
