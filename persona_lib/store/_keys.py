"""Content addressing: a request's key is the hash of everything that determines its answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from persona_lib.contract import Message


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace, so equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(backend: str, model: str, sampling: dict[str, Any], messages: Sequence[Message]) -> str:
    """The store key of one request.

    Args:
        backend: Backend kind (``transformers``, ``vllm``, ``openai``...).
        model: Model identifier as configured.
        sampling: Decoding parameters as a plain dict (``SamplingParams.as_dict()``).
        messages: The full message list sent to the model.

    Returns:
        The sha256 hex digest of the canonical JSON of the four values. Tags (stage, condition...) are not
        part of the key: two stages sending the same messages share one stored answer.
    """
    payload = {"backend": backend, "model": model, "sampling": sampling, "messages": list(messages)}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def request_keys(
    backend: str, model: str, sampling: dict[str, Any], message_lists: Iterable[Sequence[Message]]
) -> list[str]:
    """The keys of many requests at once; equal to :func:`request_key` for each message list.

    Benchmark requests repeat one long dialogue prefix thousands of times. This hashes the canonical JSON
    incrementally and reuses the hash state of every shared leading run of messages, so a prefix is serialised
    and hashed once rather than once per request.

    Args:
        backend: Backend kind.
        model: Model identifier.
        sampling: Decoding parameters as a plain dict.
        message_lists: The message list of each request.

    Returns:
        One key per message list, in order.
    """
    head = hashlib.sha256(('{"backend":' + canonical_json(backend) + ',"messages":[').encode("utf-8"))
    tail = ('],"model":' + canonical_json(model) + ',"sampling":' + canonical_json(sampling) + "}").encode("utf-8")
    states: dict[tuple, tuple[int, Any]] = {}
    keys = []
    for messages in message_lists:
        node, state = 0, head
        for position, message in enumerate(messages):
            memo_key = (node, tuple(sorted(message.items())))
            cached = states.get(memo_key)
            if cached is None:
                state = state.copy()
                if position:
                    state.update(b",")
                state.update(canonical_json(message).encode("utf-8"))
                cached = states[memo_key] = (len(states) + 1, state)
            node, state = cached
        final = state.copy()
        final.update(tail)
        keys.append(final.hexdigest())
    return keys
