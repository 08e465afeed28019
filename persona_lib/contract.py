"""The contract every package shares with the model backends: messages, decoding parameters, completions.

A backend takes a batch of chat conversations and returns one :class:`Completion` per conversation, in order.
It never raises for a single bad request (context overflow, API error after retries): that request's
completion carries ``finish_reason`` ``"context_overflow"`` or ``"error"`` and an ``error`` message.

This module sits below every package that talks to a model (``store``, ``backends``, ``generation``, ``judging``,
``study``) and imports none of them: they all speak in these types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

Message = dict[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

Conversation = list[Message]

FINISH_REASONS = ("stop", "length", "context_overflow", "error")


@dataclass(frozen=True)
class SamplingParams:
    """Decoding parameters understood by every backend.

    Attributes:
        temperature: 0 for greedy decoding.
        top_p: Nucleus sampling mass (ignored when greedy).
        max_new_tokens: Cap on generated tokens.
        seed: Seed of sampling.
        truncate_prompt_tokens: Keep only the last this many prompt tokens (vLLM's ``truncate_prompt_tokens``);
            ``None`` sends the prompt whole.
        answer_prefix: Text the assistant's answer is made to begin with (prefilled after the chat template's
            generation prompt); only used with ``score_labels``.
        score_labels: When set, nothing is generated: the backend reads the model's next-token probabilities
            after the prompt (and ``answer_prefix``) for each label — by the label's first token — and returns
            them, renormalised over the labels, as the completion's text (see
            :func:`~persona_lib.backends.encode_label_distribution`). Labels are written as they would follow the
            prefix, e.g. ``(" 1", " 2")`` after ``"**Result:**"``.
    """

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 8192
    seed: int = 0
    truncate_prompt_tokens: int | None = None
    answer_prefix: str | None = None
    score_labels: tuple[str, ...] | None = None

    def as_dict(self) -> dict:
        """Plain-dict form (used in request keys and stored records); unset optional fields are left out, so
        keys made before those fields existed stay valid."""
        values = asdict(self)
        for optional in ("truncate_prompt_tokens", "answer_prefix", "score_labels"):
            if values[optional] is None:
                del values[optional]
        if "score_labels" in values:
            values["score_labels"] = list(values["score_labels"])
        return values


@dataclass
class Completion:
    """One generated answer and how it ended.

    Attributes:
        text: The generated text ('' when nothing was generated).
        prompt_tokens: Tokens in the prompt as the model saw it (after the chat template).
        completion_tokens: Tokens generated.
        finish_reason: ``stop``, ``length``, ``context_overflow`` or ``error``.
        error: Why the request failed, for ``context_overflow`` and ``error``.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    error: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.finish_reason not in FINISH_REASONS:
            raise ValueError(f"finish_reason must be one of {FINISH_REASONS}, got {self.finish_reason!r}")

    @property
    def ok(self) -> bool:
        """True when the model produced an answer (finished or hit the token limit)."""
        return self.finish_reason in ("stop", "length")


@runtime_checkable
class Backend(Protocol):
    """What the generation and judging code needs from a model backend."""

    name: str
    """Backend kind: ``transformers``, ``vllm``, ``openai`` (or a test backend's name)."""

    model: str
    """Model identifier as configured (part of every request key)."""

    def generate(self, conversations: list[Conversation], params: SamplingParams) -> list[Completion]:
        """Answer each conversation's last user turn; one completion per conversation, same order."""
        ...

    def version_info(self) -> dict[str, str]:
        """Library and model versions recorded with every stored response."""
        ...


# A label distribution travels as a completion's text, so the response store keeps it like any answer.
def encode_label_distribution(probs: Mapping[str, float], mass: float) -> str:
    """The stored text of a label distribution (JSON, labels in their order, values rounded to 1e-9)."""
    return json.dumps({"probs": {label: round(p, 9) for label, p in probs.items()}, "mass": round(mass, 9)})


def decode_label_distribution(text: str) -> tuple[dict[str, float], float]:
    """``(probs, mass)`` from a stored label distribution (:func:`encode_label_distribution`).

    Raises:
        ValueError: if ``text`` is not such a distribution.
    """
    try:
        data = json.loads(text)
        probs = {str(label): float(p) for label, p in data["probs"].items()}
        return probs, float(data["mass"])
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as err:
        raise ValueError(f"not a stored label distribution: {text[:80]!r} ({err})") from None
