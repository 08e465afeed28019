"""Local generation with Hugging Face ``transformers`` (the embedded default backend, CPU or GPU).

Context policy (shared with the vLLM backend): a prompt whose token count reaches the context length
(``ModelConfig.max_model_len``, else the model's ``max_position_embeddings``) is not generated and comes back as
``finish_reason="context_overflow"``. A prompt that fits but leaves fewer than ``max_new_tokens`` free positions
is generated with its budget cut to the free positions; hitting that budget is reported as ``"length"``.
"""

from __future__ import annotations

import os
from importlib.metadata import version

from persona_lib.backends._base import Completion, Conversation, SamplingParams
from persona_lib.backends._bundled import resolve_model_path
from persona_lib.backends._chat import PromptRenderer, chat_template_for, overflow_message
from persona_lib.config import ModelConfig


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


class TransformersBackend:
    """Batched local generation with left padding, greedy when ``temperature == 0``.

    Conversations are sorted by prompt length inside each :meth:`generate` call (so a batch pads little) and
    returned in input order. ``config.extra`` may set ``num_threads`` (CPU threads, a process-wide torch setting;
    default :func:`default_num_threads`) and
    ``device`` (default: ``cuda`` when available, else ``cpu``).

    Args:
        config: The model configuration (``backend: transformers``).
    """

    name = "transformers"

    def __init__(self, config: ModelConfig) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        self.model = config.model
        self.model_path = resolve_model_path(config.model)
        self.device = config.extra.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu":
            torch.set_num_threads(int(config.extra.get("num_threads", default_num_threads())))
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self.hf_model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=config.dtype).to(self.device)
        self.hf_model.eval()
        self.pad_token_id = self.tokenizer.pad_token_id
        if self.pad_token_id is None:
            self.pad_token_id = self.tokenizer.eos_token_id
        self.eos_token_ids = self._eos_token_ids()
        self.context_length = config.max_model_len or int(self.hf_model.config.max_position_embeddings)
        self.renderer = PromptRenderer(self.tokenizer, chat_template_for(config), config)

    def _eos_token_ids(self) -> set[int]:
        configured = self.hf_model.generation_config.eos_token_id
        ids = set(configured if isinstance(configured, list) else [configured]) - {None}
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    def version_info(self) -> dict[str, str]:
        """Versions of torch and transformers, the model as configured and the folder it was loaded from."""
        return {
            "backend": self.name,
            "transformers": version("transformers"),
            "torch": version("torch"),
            "model": self.model,
            "model_path": self.model_path,
            "device": self.device,
            "dtype": str(self.hf_model.dtype),
        }

    def generate(self, conversations: list[Conversation], params: SamplingParams) -> list[Completion]:
        """Answer each conversation; one :class:`Completion` per conversation, in input order."""
        results: list[Completion | None] = [None] * len(conversations)
        prompts: dict[int, list[int]] = {}
        for index, conversation in enumerate(conversations):
            try:
                ids = self.renderer.token_ids(conversation)
            except Exception as err:  # noqa: BLE001 -- a malformed conversation fails alone
                results[index] = Completion("", 0, 0, "error", error=f"could not render the prompt: {err}")
                continue
            if len(ids) >= self.context_length:
                results[index] = Completion(
                    "", len(ids), 0, "context_overflow", error=overflow_message(len(ids), self.context_length)
                )
            else:
                prompts[index] = ids

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

    def _generate_batch(self, prompts: list[list[int]], params: SamplingParams, budget: int) -> list[Completion]:
        import torch

        width = max(len(ids) for ids in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1
        sampling: dict = {"do_sample": False}
        if params.temperature > 0:
            sampling = {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            output = self.hf_model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                max_new_tokens=budget,
                pad_token_id=self.pad_token_id,
                eos_token_id=sorted(self.eos_token_ids),
                top_k=None,
                **sampling,
            )
        completions = []
        for row, ids in enumerate(prompts):
            new_tokens = output[row, width:].tolist()
            end = next((pos for pos, token in enumerate(new_tokens) if token in self.eos_token_ids), None)
            if end is None:
                generated, finish = new_tokens, "length"
            else:
                generated, finish = new_tokens[: end + 1], "stop"
            text = self.tokenizer.decode(generated, skip_special_tokens=True)
            completions.append(Completion(text, len(ids), len(generated), finish))
        return completions
