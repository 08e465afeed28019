"""Any OpenAI-compatible chat endpoint (OpenAI, Gemini's OpenAI surface, a ``vllm serve`` server...).

API key: read from the environment variable ``config.api_key_env`` (default ``OPENAI_API_KEY``); when it is
unset the key ``"EMPTY"`` is sent, which local servers such as ``vllm serve`` accept.

Failures never raise: rate limits (429), server errors (5xx), timeouts and connection errors are retried with
exponential back-off and jitter (the client's own retries are switched off so every attempt is ours); after the
last attempt the request's completion has ``finish_reason="error"``. A 400 saying the context is too long becomes
``finish_reason="context_overflow"``. When that 400 shows the prompt itself fits and only the generation budget
does not, the request is sent once more with the budget cut to the free context (the local backends' policy).
vLLM 0.32 words it differently: a prompt longer than the context gets "your prompt contains N input tokens"; a
budget larger than the whole context gets "max_tokens=M cannot be greater than max_model_len=C", after which the
request is sent once more asking for C tokens, and the server cuts that to the free context itself.

The server renders the chat template, so the prompt is the one its model's template makes: serve the bundled
model with ``--chat-template persona_lib/backends/templates/chatml_no_default_system.jinja`` to get the prompts the
local backends build (SmolLM2's own template adds a default system prompt to the no-persona baseline).

``SamplingParams.truncate_prompt_tokens`` is sent as vLLM's ``truncate_prompt_tokens`` request field (a ``vllm serve``
server keeps the end of the prompt); servers that do not know the field reject the request, so leave the judge's
``truncate_prompt_tokens`` unset for them.

Label distributions (``SamplingParams.score_labels``) need a server that returns ``top_logprobs`` (one generated
token is requested) and, for ``answer_prefix``, accepts vLLM's ``continue_final_message`` (the prefix is sent as a
final assistant message to continue). Labels are matched to the returned tokens by their text without surrounding
whitespace; a label outside the top log-probabilities gets probability 0. A server that returns no log-probabilities
gives an error completion that names the fix (``judging.mode: generate``).

``config.extra`` keys: ``top_logprobs`` (how many next tokens a label distribution reads, default 20, OpenAI's
maximum), ``request_options`` (fields added to every chat request, e.g. ``{reasoning_effort: none}``
to switch a reasoning model's thinking off, as the study ran Gemini), ``max_retries`` (attempts after the first,
default 5), ``retry_base_delay`` (seconds,
default 1.0), ``retry_max_delay`` (default 60.0), ``timeout`` (seconds per request, default 600), ``blocked_text``
(the text recorded for an answer the API withholds, i.e. a choice without content such as a safety block; default
``""``; the study judged Gemini's withheld answers as the word ``null``, authors' ``inference_eval.py``, ``main``).
A withheld answer is marked ``blocked`` in the completion's ``extra``.
"""

from __future__ import annotations

import math
import os
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

from persona_lib.backends._chat import overflow_message, prepare_conversation
from persona_lib.backends._labels import distribution_completion, shared_leading_whitespace
from persona_lib.backends._registry import BackendSpec, register_backend
from persona_lib.config import ModelConfig
from persona_lib.contract import Completion, Conversation, SamplingParams

_CONTEXT_ERROR_HINTS = ("context length", "context_length", "maximum context", "too long", "context window")
_TOKEN_NUMBERS = (
    # vLLM before 0.32: "maximum context length is 256 tokens. However, you requested 310 tokens (278 in the
    # messages, 32 in the completion)"; OpenAI: "maximum context length is 8192 tokens. However, your messages
    # resulted in 9000"; vLLM 0.32: "maximum context length is 256 tokens. However, your prompt contains [at least]
    # 257 input tokens" and, with a prompt cut, "Input length (300) exceeds model's maximum context length (256)".
    re.compile(r"maximum context length is (?P<context>\d+) tokens.*?\((?P<prompt>\d+) in the messages"),
    re.compile(r"maximum context length is (?P<context>\d+) tokens.*?messages resulted in (?P<prompt>\d+) tokens"),
    re.compile(r"maximum context length is (?P<context>\d+) tokens.*?contains (?:at least )?(?P<prompt>\d+) input"),
    re.compile(r"Input length \((?P<prompt>\d+)\) exceeds model's maximum context length \((?P<context>\d+)\)"),
)
_BUDGET_LIMIT = re.compile(r"max_(?:completion_)?tokens=\d+ cannot be greater than max_model_len=(?P<context>\d+)")


def is_context_length_error(message: str) -> bool:
    """True if a 400 error message says the request does not fit the model's context."""
    lowered = message.lower()
    return any(hint in lowered for hint in _CONTEXT_ERROR_HINTS)


def parse_context_numbers(message: str) -> tuple[int, int] | None:
    """``(prompt_tokens, context)`` from a context-length error message, if it states them."""
    for pattern in _TOKEN_NUMBERS:
        match = pattern.search(message.replace("\n", " "))
        if match:
            return int(match["prompt"]), int(match["context"])
    return None


def parse_budget_limit(message: str) -> int | None:
    """The context a server says a generation budget may not exceed (vLLM 0.32's "max_tokens=M cannot be greater
    than max_model_len=C"), if the message says so."""
    match = _BUDGET_LIMIT.search(message)
    return int(match["context"]) if match else None


def backoff_delay(attempt: int, base: float, maximum: float, rng: random.Random) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): full-jitter exponential back-off."""
    return rng.uniform(0.0, min(maximum, base * 2 ** (attempt - 1)))


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server, ``config.max_concurrency`` requests at a time.

    Args:
        config: The model configuration (``backend: openai``, ``base_url`` set).
    """

    name = "openai"

    def __init__(self, config: ModelConfig) -> None:
        from openai import OpenAI

        self.config = config
        self.model = config.model
        self.max_retries = int(config.extra.get("max_retries", 5))
        self.retry_base_delay = float(config.extra.get("retry_base_delay", 1.0))
        self.retry_max_delay = float(config.extra.get("retry_max_delay", 60.0))
        self.request_options = dict(config.extra.get("request_options", {}))
        self.top_logprobs = int(config.extra.get("top_logprobs", 20))
        self.blocked_text = str(config.extra.get("blocked_text", ""))
        self.client = OpenAI(
            base_url=config.base_url,
            api_key=os.environ.get(config.api_key_env) or "EMPTY",
            max_retries=0,
            timeout=float(config.extra.get("timeout", 600.0)),
        )
        self._rng = random.Random()

    def version_info(self) -> dict[str, str]:
        """The openai client version, the endpoint and the model name."""
        return {
            "backend": self.name,
            "openai": version("openai"),
            "base_url": str(self.config.base_url),
            "request_options": str(self.request_options),
            "blocked_text": self.blocked_text,
            "model": self.model,
        }

    def generate(self, conversations: list[Conversation], params: SamplingParams) -> list[Completion]:
        """Answer each conversation; one :class:`Completion` per conversation, in input order."""
        if not conversations:
            return []
        workers = min(self.config.max_concurrency, len(conversations))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda conversation: self._complete(conversation, params), conversations))

    def _complete(self, conversation: Conversation, params: SamplingParams) -> Completion:
        try:
            messages = prepare_conversation(conversation, self.config)
        except (TypeError, ValueError) as err:
            return Completion("", 0, 0, "error", error=str(err))
        if params.score_labels:
            return self._label_distribution(messages, params)
        completion = self._request_with_retries(messages, params, params.max_new_tokens)
        limit = completion.extra.pop("budget_limit", None)
        if limit is not None:  # the budget exceeds the whole context: ask for the context; the server cuts it
            completion = self._request_with_retries(messages, params, limit)
        numbers = completion.extra.pop("context_numbers", None)
        if completion.finish_reason == "context_overflow" and numbers and numbers[0] < numbers[1]:
            prompt_tokens, context = numbers
            completion = self._request_with_retries(messages, params, context - prompt_tokens)
            completion.extra.pop("context_numbers", None)
        return completion

    def _label_distribution(self, messages: Conversation, params: SamplingParams) -> Completion:
        labels = params.score_labels
        stripped = [label.strip() for label in labels]
        prefix = (params.answer_prefix or "") + shared_leading_whitespace(labels)
        body: dict = {}
        if prefix:
            messages = [*messages, {"role": "assistant", "content": prefix}]
            body = {"continue_final_message": True, "add_generation_prompt": False}
        completion = self._request_with_retries(
            messages, params, 1, logprobs={"logprobs": True, "top_logprobs": self.top_logprobs}, extra_body=body
        )
        if not completion.ok:
            return completion
        top = completion.extra.get("top_logprobs")
        if not top:
            return Completion(
                "",
                completion.prompt_tokens,
                0,
                "error",
                error=f"the server at {self.config.base_url} returned no log-probabilities; label distributions need "
                "`logprobs`/`top_logprobs` (and `continue_final_message` for an answer prefix, as `vllm serve` has); "
                "set judging.mode: generate for this judge",
            )
        probabilities = [0.0] * len(labels)
        for token, logprob in top:
            if token.strip() in stripped:
                probabilities[stripped.index(token.strip())] += math.exp(logprob)
        logprobs = [math.log(p) if p > 0 else float("-inf") for p in probabilities]
        return distribution_completion(labels, logprobs, completion.prompt_tokens)

    def _request_with_retries(
        self,
        messages: Conversation,
        params: SamplingParams,
        budget: int,
        logprobs: dict | None = None,
        extra_body: dict | None = None,
    ) -> Completion:
        import openai

        body = dict(extra_body or {})
        if params.truncate_prompt_tokens is not None:
            body["truncate_prompt_tokens"] = params.truncate_prompt_tokens
        attempts = 0
        while True:
            attempts += 1
            try:
                response = self.client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=params.temperature,
                    top_p=params.top_p,
                    max_tokens=budget,
                    seed=params.seed,
                    **({"extra_body": body} if body else {}),
                    **(logprobs or {}),
                    **self.request_options,
                )
                return self._to_completion(response, attempts, self.blocked_text)
            except openai.BadRequestError as err:
                message = _error_message(err)
                limit = parse_budget_limit(message)
                if limit is not None and budget > limit:
                    extra = {"attempts": attempts, "budget_limit": limit}
                    return Completion("", 0, 0, "error", error=f"400 Bad Request: {message}", extra=extra)
                if not is_context_length_error(message):
                    return Completion(
                        "", 0, 0, "error", error=f"400 Bad Request: {message}", extra={"attempts": attempts}
                    )
                numbers = parse_context_numbers(message)
                error = overflow_message(*numbers) if numbers else message
                return Completion(
                    "",
                    numbers[0] if numbers else 0,
                    0,
                    "context_overflow",
                    error=error,
                    extra={"attempts": attempts, "context_numbers": numbers},
                )
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as err:
                # APITimeoutError is an APIConnectionError; InternalServerError covers every 5xx.
                if attempts > self.max_retries:
                    return Completion(
                        "",
                        0,
                        0,
                        "error",
                        extra={"attempts": attempts},
                        error=f"gave up after {attempts} attempts: {_describe(err)}",
                    )
                time.sleep(backoff_delay(attempts, self.retry_base_delay, self.retry_max_delay, self._rng))
            except openai.APIStatusError as err:  # other 4xx: retrying will not help
                return Completion("", 0, 0, "error", error=_describe(err), extra={"attempts": attempts})
            except Exception as err:  # noqa: BLE001 -- a malformed response fails this request alone
                return Completion("", 0, 0, "error", error=f"{type(err).__name__}: {err}", extra={"attempts": attempts})

    @staticmethod
    def _to_completion(response, attempts: int, blocked_text: str = "") -> Completion:
        choice = response.choices[0]
        usage = response.usage
        finish = "length" if choice.finish_reason == "length" else "stop"
        extra = {"attempts": attempts, "server_finish_reason": choice.finish_reason}
        text = choice.message.content
        if text is None:
            extra["blocked"] = True
            text = blocked_text
        content = getattr(choice.logprobs, "content", None) if choice.logprobs is not None else None
        if content:
            extra["top_logprobs"] = [(entry.token, entry.logprob) for entry in content[0].top_logprobs or []]
        return Completion(
            text=text,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            finish_reason=finish,
            extra=extra,
        )


def _error_message(err) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if body.get("message"):
            return str(body["message"])
    return str(err)


def _describe(err) -> str:
    status = getattr(err, "status_code", None)
    prefix = f"HTTP {status}: " if status else f"{type(err).__name__}: "
    return prefix + _error_message(err)


register_backend(
    BackendSpec(
        name="openai",
        create=OpenAIBackend,
        libraries=("openai",),
        install="pip install -e '.[openai]'",
        model_source="remote",
        needs_base_url=True,
    )
)
