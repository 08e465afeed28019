"""A scripted, deterministic backend for tests (never used outside tests/)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from persona_lib.backends._base import Completion, Conversation, SamplingParams


def word_count(conversation: Conversation) -> int:
    """Prompt 'tokens' of the fake backend: one per whitespace-separated word of every message."""
    return sum(len(message["content"].split()) for message in conversation)


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
        name: str = "fake",
        model: str = "fake-model",
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

    def reply_for(self, conversation: Conversation) -> str:
        """The deterministic answer to ``conversation``."""
        digest = hashlib.sha256(repr(conversation).encode("utf-8")).hexdigest()
        return " ".join(f"w{digest[2 * i : 2 * i + 6]}" for i in range(self.reply_words))

    def generate(self, conversations: list[Conversation], params: SamplingParams) -> list[Completion]:
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
            else:
                completions.append(Completion(self.reply_for(conversation), prompt_tokens, self.reply_words, "stop"))
        return completions

    def version_info(self) -> dict[str, str]:
        return {"fake_backend": "1"}
