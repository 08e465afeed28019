"""One stored answer (:class:`ResponseRecord`), and its conversion to and from a row of the ``responses`` table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from persona_lib.contract import Message
from persona_lib.store._keys import canonical_json


@dataclass(frozen=True)
class ResponseRecord:
    """One stored answer.

    Attributes:
        key: The request key (:func:`persona_lib.store.request_key`).
        backend: Backend kind that produced it.
        model: Model identifier.
        sampling: Decoding parameters (dict).
        messages: The full message list that was sent (``None`` when read with ``with_messages=False``).
        tags: The tag set of the first request that produced the answer (all tag sets: ``tags`` table).
        text: The answer ('' for overflow and errors).
        prompt_tokens: Prompt tokens as counted by the backend.
        completion_tokens: Generated tokens.
        finish_reason: ``stop``, ``length``, ``context_overflow`` or ``error``.
        error: Why the request failed, if it did.
        run_info: Resolved config and versions the answer was produced under.
        created: UTC ISO time of storage.
    """

    key: str
    backend: str
    model: str
    sampling: dict[str, Any]
    messages: list[Message] | None
    tags: dict[str, Any]
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str
    error: str | None = None
    run_info: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    @property
    def ok(self) -> bool:
        """True when the model produced an answer (``stop`` or ``length``)."""
        return self.finish_reason in ("stop", "length")

    @property
    def final(self) -> bool:
        """False for errors, which a re-run retries."""
        return self.finish_reason != "error"


def utc_now() -> str:
    """The current UTC time as stored (ISO, milliseconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def record_from_row(
    row: tuple, tags: dict[str, Any], messages: list[Message] | None, run_info: dict[str, Any]
) -> ResponseRecord:
    """The record of a ``responses`` row (columns in schema order), with what the row only points at.

    Args:
        row: The row's columns (:data:`persona_lib.store._schema.RECORD_COLUMNS`).
        tags: The key's first tag set.
        messages: The rebuilt conversation (``None``: not loaded).
        run_info: The run info the row points at (``{}``: none).
    """
    (
        key,
        created,
        backend,
        model,
        sampling,
        _conversation,
        text,
        prompt_tokens,
        completion_tokens,
        finish_reason,
        error,
        _run_info_id,
    ) = row
    return ResponseRecord(
        key=key,
        backend=backend,
        model=model,
        sampling=json.loads(sampling),
        messages=messages,
        tags=tags,
        text=text,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason=finish_reason,
        error=error,
        run_info=run_info,
        created=created,
    )


def record_row(record: ResponseRecord, conversation: str, run_info_id: str | None) -> tuple:
    """The ``responses`` row of ``record`` (columns in schema order); an unset ``created`` becomes now.

    Args:
        record: The record.
        conversation: The id of its conversation's last message node (``''``: no messages).
        run_info_id: The id of its stored run info (``None``: none).
    """
    return (
        record.key,
        record.created or utc_now(),
        record.backend,
        record.model,
        canonical_json(record.sampling),
        conversation,
        record.text,
        record.prompt_tokens,
        record.completion_tokens,
        record.finish_reason,
        record.error,
        run_info_id,
    )
