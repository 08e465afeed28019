"""The response store: one SQLite file holding every answer a run has obtained (layout: :mod:`._schema`).

:class:`ResponseStore` holds the connection and the per-process caches; reading (:mod:`._reads`), writing
(:mod:`._writes`) and merging (:mod:`._merge`) are module-level functions it delegates to.

Durability: WAL journal, ``synchronous=FULL``, one transaction per :meth:`ResponseStore.put_many` call, so a
killed process loses at most the batch it was generating.

Bad conditions: a full disk or a read-only folder stops a write with a :class:`StoreWriteError` (the batch is rolled
back; everything committed stays, and a re-run resumes). A damaged file (not a SQLite database, truncated, failing
``PRAGMA quick_check`` when opened) raises :class:`StoreDamagedError` saying what still reads; the library never
writes to it or replaces it (``persona-eval salvage`` copies what still reads into a new store).

Errors: a response with ``finish_reason == "error"`` is stored (for the record) but is not final: a later
:meth:`ResponseStore.put_many` with the same key replaces it, and :meth:`ResponseStore.final_keys` does not list it,
so re-running a stage retries failed requests. Every other finish reason (``stop``, ``length``,
``context_overflow``) is final.

Merging: several processes never share one store; each writes its own, and :meth:`ResponseStore.merge_from` unions
another store into this one by key (responses with their message nodes, run info and every tag set). A key stored
final in both with a different answer is a :class:`MergeConflict`: reported, and this store's answer is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

import persona_lib.store._reads as _reads
import persona_lib.store._writes as _writes
from persona_lib.contract import Message
from persona_lib.store._connection import open_store
from persona_lib.store._merge import MergeReport, merge_store
from persona_lib.store._record import ResponseRecord


class ResponseStore:
    """Content-addressed, crash-safe store of model responses (see the module docstring for the layout).

    Args:
        path: The SQLite file (created with its parent folder if missing).
        verify: Run ``PRAGMA quick_check`` on an existing file before using it (a few seconds per GB).

    Raises:
        StoreDamagedError: for an existing file that is not a sound SQLite database; it is left untouched.
        StoreWriteError: when the file or its folder cannot be created or written (full disk, read-only folder).

    Example:
        >>> store = ResponseStore(tmp_path / "responses.sqlite")  # doctest: +SKIP
        >>> store.put_many([record]); record.key in store  # doctest: +SKIP
        True
    """

    def __init__(self, path: str | Path, verify: bool = True) -> None:
        self.path = Path(path)
        self._db = open_store(self.path, verify=verify)
        self._run_info_cache: dict[str, dict[str, Any]] = {}
        self._known_nodes: _writes.KnownNodes = {}

    @classmethod
    def for_output_dir(cls, output_dir: str | Path) -> ResponseStore:
        """The store of a run folder: ``<output_dir>/responses.sqlite``."""
        return cls(Path(output_dir) / "responses.sqlite")

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    # ----------------------------------------------------------------------------------------------- reading
    def __len__(self) -> int:
        return _reads.count_responses(self._db)

    def __contains__(self, key: object) -> bool:
        return _reads.has_key(self._db, key)

    def get(self, key: str) -> ResponseRecord | None:
        """The stored record for ``key``, or ``None``."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str], with_messages: bool = True) -> dict[str, ResponseRecord]:
        """Stored records for the given keys (missing keys are absent from the result).

        Args:
            keys: Request keys.
            with_messages: Rebuild each record's message list (set False for speed when the caller has them).
        """
        return _reads.get_records(self._db, self.path, self._run_info_cache, keys, with_messages)

    def final_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` stored with a final answer (anything but ``error``)."""
        return _reads.final_keys(self._db, keys)

    def messages(self, conversation_id: str) -> list[Message]:
        """Rebuild a stored conversation from its last message node."""
        return _reads.conversation(self._db, self.path, conversation_id)

    def run_info(self, run_info_id: str) -> dict[str, Any]:
        """The run info stored under ``run_info_id`` ({} if unknown)."""
        return _reads.run_info(self._db, self._run_info_cache, run_info_id)

    def to_dataframe(self, stage: str | None = None, include_messages: bool = False) -> pd.DataFrame:
        """All responses as a table, one row per (response, tag set), tags expanded into columns.

        Args:
            stage: Keep only rows tagged with this stage (``dialogue``, ``benchmark``, ``judge``).
            include_messages: Also add a ``messages`` column with each full message list (slow for long runs).

        Returns:
            Columns ``key, created, backend, model, sampling, text, prompt_tokens, completion_tokens,
            finish_reason, error, run_info_id`` plus one column per tag name.
        """
        return _reads.responses_table(self._db, self.path, stage, include_messages)

    def keys(
        self,
        *,
        backend: str | None = None,
        model: str | None = None,
        stages: Sequence[str] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> list[str]:
        """Stored keys matching every given filter (in storage order).

        Args:
            backend: The response's backend.
            model: The response's model.
            stages: Keep keys requested under at least one tag set whose ``stage`` is one of these.
            tags: Keep keys requested under a tag set holding all these values (in the same tag set as the stage).

        Example:
            ``store.keys(stages=["judge"], tags={"model_under_test": "m"})``: the judge calls about model ``m``.
        """
        return _reads.matching_keys(self._db, backend=backend, model=model, stages=stages, tags=tags)

    # ----------------------------------------------------------------------------------------------- writing
    def merge_from(
        self,
        source: ResponseStore | str | Path,
        keys: Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> MergeReport:
        """Union another store into this one, by key, in one durable transaction.

        Copied for each selected key: the response (unless this store holds a final answer for it), the message
        nodes of its conversation, its run info and every tag set. A key final in both stores with a different
        text or finish reason is a conflict: this store's answer is kept and the conflict is returned, never
        dropped silently. A final answer replaces a stored ``error``. Merging the same source again changes
        nothing.

        Args:
            source: The other store (or its SQLite file); it is only read.
            keys: The keys to take (default: all of the source's); keys the source lacks are ignored.
            tags: Copy only the tag sets holding these tag values, e.g. ``{"model_under_test": ...}``: a judge
                request two models share (they gave the same answer) has one tag set per model, and each model's
                run takes its own (default: every tag set).

        Returns:
            What was added, replaced, identical and in conflict.
        """
        path = Path(source.path if isinstance(source, ResponseStore) else source)
        return merge_store(self._db, self.path, path, keys, tags)

    def put_run_info(self, info: dict[str, Any]) -> str:
        """Store a run-info entry (idempotent) and return its id (hash of its canonical JSON)."""
        return _writes.put_run_info(self._db.cursor(), info) or ""

    def put_many(self, records: Sequence[ResponseRecord]) -> int:
        """Store records in one durable transaction.

        A key already stored with a final answer is left untouched (no duplicates, first answer wins); a key
        stored as an ``error`` is replaced. The record's tag set is added to the key's tag sets in every case.

        Args:
            records: Records to store.

        Returns:
            The number of response rows written (inserted or replacing an error).
        """
        with _writes.write_transaction(self._db, self.path, self._known_nodes) as cursor:
            written = _writes.put_records(cursor, records, self._known_nodes)
        return written

    def add_tags(self, tagged_keys: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Record extra tag sets for keys that are already stored (one transaction)."""
        with _writes.write_transaction(self._db, self.path, self._known_nodes) as cursor:
            for key, tags in tagged_keys:
                _writes.put_tags(cursor, key, tags)

    def copy_rows(
        self,
        responses: Iterable[Sequence[Any]],
        tags: Iterable[Sequence[Any]],
        messages: Iterable[Sequence[Any]],
        run_info: Iterable[Sequence[Any]],
    ) -> None:
        """Insert raw table rows (columns in schema order) in one transaction; rows already present are kept.

        Used by :func:`persona_lib.store.salvage_store` to rebuild a store from the rows of a damaged one.
        """
        with _writes.write_transaction(self._db, self.path, self._known_nodes, count_committed=False) as cursor:
            _writes.copy_rows(cursor, responses, tags, messages, run_info)
