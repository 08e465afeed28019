"""The ``scripted`` backend: no model at all — deterministic placeholder answers, for tests and exercises only.

Its answers are words derived from a hash of the whole conversation, so a re-run gives the same text and every
stage of the pipeline (generation, the store, scoring, analysis, the book) can run in seconds without a model. A
judge prompt that ends with a result line such as ``RESULT: <an integer from 1 to 5>`` gets a short reasoning and a
well-formed verdict picked by the same hash, so judged metrics have values; a request for a label distribution
(``SamplingParams.score_labels``) gets probabilities derived from the same hash. None of its numbers mean anything;
the book's provenance notes say so wherever it was used.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable

from persona_lib.backends._registry import BackendSpec, register_backend
from persona_lib.config import ModelConfig
from persona_lib.contract import Completion, Conversation, SamplingParams, encode_label_distribution

_RESULT_FORMAT = re.compile(r"result\W*:\W*<(?P<choices>[^>]+)>", re.IGNORECASE)
_RANGE = re.compile(r"(?P<low>\d+)\s*(?:to|-|\u2013)\s*(?P<high>\d+)")


def word_count(conversation: Conversation) -> int:
    """Prompt 'tokens' of the scripted backend: one per whitespace-separated word of every message."""
    return sum(len(message["content"].split()) for message in conversation)


def verdict_choices(prompt: str) -> list[str]:
    """The values a judge prompt allows on its result line (``[]`` when the prompt asks for no verdict).

    ``RESULT: <an integer from 1 to 5>`` gives ``["1", ..., "5"]``; ``RESULT: <A or B>`` gives ``["A", "B"]``.
    """
    matches = list(_RESULT_FORMAT.finditer(prompt))
    if not matches:
        return []
    choices = matches[-1].group("choices")
    numbers = _RANGE.search(choices)
    if numbers:
        return [str(value) for value in range(int(numbers["low"]), int(numbers["high"]) + 1)]
    return [choice.strip() for choice in re.split(r"\s+or\s+|,", choices) if choice.strip()]


class ScriptedBackend:
    """Answers derived from a hash of the whole conversation; token counts are word counts.

    Args:
        name: Backend name (part of request keys).
        model: Model name (part of request keys).
        context_limit: Prompts with more words than this get ``context_overflow``.
        fail_when: A predicate on the conversation; matching requests get ``finish_reason == "error"``.
        delay_per_batch: Seconds to sleep in every ``generate`` call (for kill-and-resume tests).
        reply_words: Words per answer.

    Attributes:
        calls: The number of conversations in each ``generate`` call, in order.
        seen: Every conversation sent, in order.
    """

    def __init__(
        self,
        name: str = "scripted",
        model: str = "scripted",
        context_limit: int | None = None,
        fail_when: Callable[[Conversation], bool] | None = None,
        delay_per_batch: float = 0.0,
        reply_words: int = 3,
    ) -> None:
        self.name = name
        self.model = model
        self.context_limit = context_limit
        self.fail_when = fail_when
        self.delay_per_batch = delay_per_batch
        self.reply_words = reply_words
        self.calls: list[int] = []
        self.seen: list[Conversation] = []

    @classmethod
    def from_config(cls, config: ModelConfig) -> ScriptedBackend:
        """The backend a configuration names (``backend: scripted``); ``extra`` may set ``reply_words``,
        ``context_limit`` and ``delay_per_batch``."""
        allowed = {"reply_words", "context_limit", "delay_per_batch"}
        unknown = sorted(set(config.extra) - allowed)
        if unknown:
            raise ValueError(f"the scripted backend takes extra {sorted(allowed)}; got unknown {unknown}")
        return cls(name="scripted", model=config.model, **config.extra)

    def reply_for(self, conversation: Conversation) -> str:
        """The deterministic answer to ``conversation``."""
        digest = hashlib.sha256(repr(conversation).encode("utf-8")).hexdigest()
        words = " ".join(f"w{digest[2 * i : 2 * i + 6]}" for i in range(self.reply_words))
        choices = verdict_choices(conversation[-1]["content"]) if conversation else []
        if not choices:
            return words
        return f"{words}\nRESULT: {choices[int(digest[-8:], 16) % len(choices)]}"

    def label_distribution_for(self, conversation: Conversation, labels: tuple[str, ...]) -> str:
        """The deterministic label distribution (stored form) for ``conversation``."""
        digest = hashlib.sha256(repr(conversation).encode("utf-8")).digest()
        weights = [1 + digest[i % len(digest)] for i in range(len(labels))]
        total = sum(weights)
        return encode_label_distribution({label: w / total for label, w in zip(labels, weights)}, 0.9)

    def generate(self, conversations: list[Conversation], params: SamplingParams) -> list[Completion]:
        """One completion per conversation, in order (see the class docstring)."""
        self.calls.append(len(conversations))
        self.seen.extend(conversations)
        if self.delay_per_batch:
            time.sleep(self.delay_per_batch)
        completions = []
        for conversation in conversations:
            prompt_tokens = word_count(conversation)
            if self.context_limit is not None and prompt_tokens > self.context_limit:
                completions.append(
                    Completion("", prompt_tokens, 0, "context_overflow", f"{prompt_tokens} > {self.context_limit}")
                )
            elif self.fail_when is not None and self.fail_when(conversation):
                completions.append(Completion("", prompt_tokens, 0, "error", "injected failure"))
            elif params.score_labels:
                text = self.label_distribution_for(conversation, params.score_labels)
                completions.append(Completion(text, prompt_tokens, 0, "stop"))
            else:
                text = self.reply_for(conversation)
                completions.append(Completion(text, prompt_tokens, len(text.split()), "stop"))
        return completions

    def version_info(self) -> dict[str, str]:
        """Marks every stored answer as made by the scripted test backend."""
        return {"backend": self.name, "model": self.model, "note": "scripted test backend: no model"}


register_backend(
    BackendSpec(
        name="scripted",
        create=ScriptedBackend.from_config,
        model_source="none",
        tokens_per_word=1.0,
    )
)
