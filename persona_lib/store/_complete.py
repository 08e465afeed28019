"""Send requests to a backend through the store: stored answers are reused, new ones committed batch by batch."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm  # text bars: notebooks run without ipywidgets, and the pipeline forwards them

import persona_lib
from persona_lib.contract import Backend, Message, SamplingParams
from persona_lib.store._keys import request_key, request_keys
from persona_lib.store._record import ResponseRecord
from persona_lib.store._store import ResponseStore


@dataclass(frozen=True)
class Request:
    """One conversation to answer, with the tags that say where it belongs.

    Attributes:
        messages: The full message list to send (system, history, last user turn).
        tags: JSON-serialisable labels stored with the answer: ``stage`` (``dialogue``, ``benchmark``,
            ``judge``), ``condition``, ``kind``, ``replicate``, ``round`` / ``checkpoint``, ``dataset``,
            ``item_id``... Tags are not part of the key.
    """

    messages: list[Message]
    tags: dict[str, Any] = field(default_factory=dict)

    def key(self, backend: Backend, params: SamplingParams) -> str:
        """The store key of this request for ``backend`` and ``params`` (see :func:`request_key`)."""
        return request_key(backend.name, backend.model, params.as_dict(), self.messages)


def make_run_info(backend: Backend, config: Any = None) -> dict[str, Any]:
    """What is stored with every response: resolved config, library, backend and python versions.

    Args:
        backend: The backend producing the responses.
        config: The resolved :class:`~persona_lib.config.RunConfig` (or ``None``).
    """
    return {
        "config": config.model_dump(mode="json") if config is not None else None,
        "persona_lib": persona_lib.__version__,
        "backend": backend.version_info(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def complete_groups(
    store: ResponseStore,
    backend: Backend,
    groups: Sequence[Sequence[Request]],
    params: SamplingParams,
    run_info: dict[str, Any] | None = None,
    batch_size: int = 64,
    desc: str = "requests",
    show_progress: bool = True,
) -> dict[str, ResponseRecord]:
    """Answer groups of requests, reusing stored answers; batches never span two groups.

    Each group (e.g. all questions sharing one dialogue prefix) is sent as consecutive batches of at most
    ``batch_size`` requests, in the given order. Every batch is committed to the store in one durable
    transaction before the next is sent: a killed run loses at most the batch in flight, and a re-run
    continues where it stopped. Identical requests (same key) are sent once.

    Errors (``finish_reason == "error"``) are stored but are not final: they are sent again on the next call.
    ``context_overflow`` is final (the same request would overflow again).

    Args:
        store: The response store.
        backend: The model backend.
        groups: Requests grouped for submission.
        params: Decoding parameters (part of every key).
        run_info: Stored with every new response (see :func:`make_run_info`).
        batch_size: Maximum requests per backend call and per commit.
        desc: Progress-bar label naming the stage.
        show_progress: Show the progress bar (counts, rate, ETA).

    Returns:
        The stored record of every requested key (messages not loaded: ``record.messages is None``).

    Raises:
        RuntimeError: if the backend returns a different number of completions than it was sent.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sampling = params.as_dict()
    flat_keys = iter(
        request_keys(backend.name, backend.model, sampling, (r.messages for group in groups for r in group))
    )
    keyed_groups = [[(next(flat_keys), r) for r in group] for group in groups]
    all_keys = list(dict.fromkeys(key for group in keyed_groups for key, _ in group))
    done = store.final_keys(all_keys)

    batches: list[list[tuple[str, Request]]] = []
    queued: set[str] = set()
    tag_only: list[tuple[str, dict[str, Any]]] = []
    for group in keyed_groups:
        pending = []
        for key, request in group:
            if key in done or key in queued:
                tag_only.append((key, request.tags))
                continue
            queued.add(key)
            pending.append((key, request))
        batches.extend(pending[start : start + batch_size] for start in range(0, len(pending), batch_size))

    info = run_info or {}
    failures = {"error": 0, "context_overflow": 0}
    with tqdm(
        total=len(all_keys),
        initial=len(done),
        desc=desc,
        unit="req",
        dynamic_ncols=True,
        disable=not show_progress,
    ) as bar:
        for batch in batches:
            completions = backend.generate([request.messages for _, request in batch], params)
            if len(completions) != len(batch):
                raise RuntimeError(
                    f"backend {backend.name}/{backend.model} returned {len(completions)} completions for "
                    f"{len(batch)} conversations; a backend must return exactly one per conversation"
                )
            records = [
                ResponseRecord(
                    key=key,
                    backend=backend.name,
                    model=backend.model,
                    sampling=sampling,
                    messages=request.messages,
                    tags=request.tags,
                    text=completion.text,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    finish_reason=completion.finish_reason,
                    error=completion.error,
                    run_info=info,
                )
                for (key, request), completion in zip(batch, completions)
            ]
            store.put_many(records)
            for completion in completions:
                if completion.finish_reason in failures:
                    failures[completion.finish_reason] += 1
            bar.update(len(batch))
            bar.set_postfix(failures, refresh=False)
    if tag_only:
        store.add_tags(tag_only)
    return store.get_many(all_keys, with_messages=False)


def complete_requests(
    store: ResponseStore,
    backend: Backend,
    requests: Sequence[Request],
    params: SamplingParams,
    run_info: dict[str, Any] | None = None,
    batch_size: int = 64,
    desc: str = "requests",
    show_progress: bool = True,
) -> dict[str, ResponseRecord]:
    """Answer requests in order, in batches of ``batch_size``, reusing stored answers.

    Same contract as :func:`complete_groups` with all requests in one group: skips keys stored with a final
    answer, retries stored errors, commits each batch durably before sending the next, shows a progress bar.

    Returns:
        The stored record of every requested key (``record.messages is None``; the caller has them).
    """
    return complete_groups(store, backend, [requests], params, run_info, batch_size, desc, show_progress)
