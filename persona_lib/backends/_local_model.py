"""Loading a model for the transformers backend: device, dtype, CPU threads, tokenizer and weights, the tokens that
end a generation, and whether prefix key/value reuse can run on the model.

Prefix reuse needs two things of the model. Every attention layer must see the whole sequence: rows with a cached
part are padded in the middle, and sliding-window or linear-attention masks would count those padding columns as
tokens (such models load with reuse off). And attention must be the shared-prefix implementation
(:mod:`~persona_lib.backends._shared_prefix_attention`), installed on the model here when reuse is on.

Used only by the transformers backend; importing this module imports neither torch nor transformers.
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass
from typing import Any

from persona_lib.backends._bundled import resolve_model_path
from persona_lib.backends._dtype import DtypeChoice, resolve_dtype
from persona_lib.backends._prefix_kv import PrefixKVCache
from persona_lib.config import ModelConfig

logger = logging.getLogger(__name__)

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
class LocalModel:
    """A model loaded for local generation, with what decoding needs to know about it.

    Attributes:
        path: Where the weights were loaded from (:func:`~persona_lib.backends._bundled.resolve_model_path`).
        device: ``cpu``, ``cuda`` or the device ``model.extra.device`` names.
        dtype: The resolved dtype and why it was chosen.
        tokenizer: The model's ``transformers`` tokenizer.
        hf_model: The ``transformers`` causal language model, in eval mode on ``device``.
        pad_token_id: The tokenizer's padding token, else its end-of-sequence token.
        eos_token_ids: Every token that ends a generation (the model's generation config and the tokenizer's).
        context_length: ``ModelConfig.max_model_len``, else the model's ``max_position_embeddings``.
        cache_argument: The forward argument taking the key/value cache (``past_key_values``; ``cache`` in
            transformers 5).
        prefix_cache: The cache of prefix keys/values, ``None`` when reuse is off.
        prefix_cache_status: Whether reuse is on (with its budget) or off (with the reason when the model rules it
            out), as ``version_info`` reports it.
    """

    path: str
    device: str
    dtype: DtypeChoice
    tokenizer: Any
    hf_model: Any
    pad_token_id: int
    eos_token_ids: set[int]
    context_length: int
    cache_argument: str
    prefix_cache: PrefixKVCache | None
    prefix_cache_status: str


def load_local_model(config: ModelConfig) -> LocalModel:
    """Load ``config.model`` with its tokenizer, on its device and in its dtype, ready for batched decoding.

    ``config.extra`` may set ``num_threads`` (CPU threads, a process-wide torch setting; default
    :func:`default_num_threads`), ``device`` (default: ``cuda`` when available, else ``cpu``), ``prefix_cache``
    (``false`` turns key/value reuse off) and ``prefix_cache_mb`` (its memory budget, default
    :data:`DEFAULT_PREFIX_CACHE_MB`). The settings are checked before the weights are loaded.

    Args:
        config: The model configuration (``backend: transformers``).

    Raises:
        ValueError: for an unknown ``dtype`` or a malformed ``prefix_cache`` / ``prefix_cache_mb``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(config.model)
    device = config.extra.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    prefix_cache = prefix_cache_from(config.extra)
    dtype = resolve_dtype(config.dtype, device)
    if device == "cpu":
        torch.set_num_threads(int(config.extra.get("num_threads", default_num_threads())))
    tokenizer = AutoTokenizer.from_pretrained(path)
    hf_model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype.dtype).to(device)
    hf_model.eval()
    pad_token_id = tokenizer.pad_token_id
    if pad_token_id is None:
        pad_token_id = tokenizer.eos_token_id
    status = f"on ({prefix_cache.budget_bytes / 2**20:g} MiB)" if prefix_cache is not None else "off"
    if prefix_cache is not None and not full_attention_only(hf_model.config):
        # Rows with a cached part are padded in the middle; windowed masks count those columns as tokens.
        prefix_cache = None
        status = "off (the model has sliding-window or linear attention layers)"
        logger.warning("%s: prefix key/value reuse %s", config.model, status)
    if prefix_cache is not None:
        from persona_lib.backends._shared_prefix_attention import register

        hf_model.set_attn_implementation(register())
    # transformers 5 renamed the forward argument ``past_key_values`` to ``cache``.
    forward_parameters = inspect.signature(hf_model.forward).parameters
    return LocalModel(
        path=path,
        device=device,
        dtype=dtype,
        tokenizer=tokenizer,
        hf_model=hf_model,
        pad_token_id=pad_token_id,
        eos_token_ids=_eos_token_ids(hf_model, tokenizer),
        context_length=config.max_model_len or int(hf_model.config.max_position_embeddings),
        cache_argument="cache" if "cache" in forward_parameters else "past_key_values",
        prefix_cache=prefix_cache,
        prefix_cache_status=status,
    )


def full_attention_only(model_config) -> bool:
    """Whether every attention layer sees the whole sequence (no sliding window, no linear attention).

    Args:
        model_config: A ``transformers`` model configuration.
    """
    text_config = model_config.get_text_config()
    layer_types = getattr(text_config, "layer_types", None)
    if layer_types is not None:
        return all(kind == "full_attention" for kind in layer_types)
    return not getattr(text_config, "sliding_window", None)


def prefix_cache_from(extra: dict[str, Any]) -> PrefixKVCache | None:
    """The prefix cache ``model.extra`` asks for (``prefix_cache``, ``prefix_cache_mb``), ``None`` when it is off.

    Raises:
        ValueError: for a ``prefix_cache`` that is not a boolean or a ``prefix_cache_mb`` that is not a number >= 0.
    """
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


def _eos_token_ids(hf_model, tokenizer) -> set[int]:
    configured = hf_model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured]) - {None}
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids
