"""Writing a store: answers with their conversations, tag sets and run info, each call one durable transaction.

Durability: the connection uses a WAL journal with ``synchronous=FULL`` and every call commits once, so a killed
process loses at most the batch it was writing. A failed transaction is rolled back and its SQLite error re-raised
as the store error a user can act on (:func:`persona_lib.store._connection.raise_translated`).

Module-level functions; :class:`persona_lib.store.ResponseStore` delegates to them.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from persona_lib.contract import Message
from persona_lib.store._connection import raise_translated
from persona_lib.store._keys import canonical_json
from persona_lib.store._reads import count_responses
from persona_lib.store._record import ResponseRecord, record_row, utc_now
from persona_lib.store._schema import RECORD_COLUMNS

KnownNodes = dict[tuple[str | None, str, str], str]
"""Message nodes known to be stored, keyed by (parent id, role, content), to their id: long shared histories are
hashed and inserted once per process instead of once per request."""

_MAX_KNOWN_NODES = 1_000_000


def _committed(db: sqlite3.Connection) -> int | None:
    """Answers committed so far (``None`` when even reading fails)."""
    try:
        return count_responses(db)
    except sqlite3.Error:
        return None


@contextmanager
def write_transaction(
    db: sqlite3.Connection, path: Path, known_nodes: KnownNodes, count_committed: bool = True
) -> Iterator[sqlite3.Cursor]:
    """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` around the block, which writes through the cursor it is given.

    On failure the transaction is rolled back (SQLite may already have done so itself, e.g. on a full disk) and
    ``known_nodes`` forgotten (the nodes of the batch were not stored); a SQLite failure is re-raised translated.

    Args:
        db: The store's connection (autocommit mode).
        path: The store file (named in the error).
        known_nodes: The writer's memo of stored message nodes.
        count_committed: Say in a write error how many answers are committed.
    """
    cursor = db.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
        yield cursor
        cursor.execute("COMMIT")
    except sqlite3.Error as err:
        _roll_back(db, known_nodes)
        raise_translated(err, path, _committed(db) if count_committed else None)
    except BaseException:
        _roll_back(db, known_nodes)
        raise


def _roll_back(db: sqlite3.Connection, known_nodes: KnownNodes) -> None:
    known_nodes.clear()
    if db.in_transaction:
        db.execute("ROLLBACK")


def message_id(parent: str | None, message: Message) -> str:
    """The id of a message node: sha256 of its parent's id and the message."""
    payload = (parent or "") + canonical_json({"role": message["role"], "content": message["content"]})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def put_messages(cursor: sqlite3.Cursor, messages: Sequence[Message], known_nodes: KnownNodes) -> str:
    """Store the message nodes of a conversation (those not stored yet); returns the last node's id ('' if none)."""
    if len(known_nodes) > _MAX_KNOWN_NODES:
        known_nodes.clear()
    parent: str | None = None
    for message in messages:
        memo_key = (parent, message["role"], message["content"])
        node = known_nodes.get(memo_key)
        if node is None:
            node = message_id(parent, message)
            cursor.execute(
                "INSERT OR IGNORE INTO messages (id, parent, role, content) VALUES (?, ?, ?, ?)",
                (node, parent, message["role"], message["content"]),
            )
            known_nodes[memo_key] = node
        parent = node
    return parent or ""


def put_tags(cursor: sqlite3.Cursor, key: str, tags: dict[str, Any]) -> None:
    """Add a tag set to ``key`` (kept once)."""
    cursor.execute(
        "INSERT OR IGNORE INTO tags (key, stage, tags) VALUES (?, ?, ?)",
        (key, tags.get("stage"), canonical_json(tags)),
    )


def put_run_info(cursor: sqlite3.Cursor, info: dict[str, Any]) -> str | None:
    """Store a run-info entry (idempotent); its id is the hash of its canonical JSON (``None`` for ``{}``)."""
    if not info:
        return None
    text = canonical_json(info)
    run_info_id = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    cursor.execute(
        "INSERT OR IGNORE INTO run_info (id, created, info) VALUES (?, ?, ?)", (run_info_id, utc_now(), text)
    )
    return run_info_id


def put_records(cursor: sqlite3.Cursor, records: Sequence[ResponseRecord], known_nodes: KnownNodes) -> int:
    """Store records with their conversations, run info and tag sets; returns the response rows written.

    A key stored with a final answer is left untouched (first answer wins); a key stored as an ``error`` is
    replaced. The record's tag set is added in every case.
    """
    written = 0
    run_info_ids: dict[int, str | None] = {}
    for record in records:
        if id(record.run_info) not in run_info_ids:
            run_info_ids[id(record.run_info)] = put_run_info(cursor, record.run_info)
        conversation = put_messages(cursor, record.messages, known_nodes)
        cursor.execute(
            f"INSERT INTO responses ({RECORD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(key) DO UPDATE SET created=excluded.created, text=excluded.text, "
            "prompt_tokens=excluded.prompt_tokens, completion_tokens=excluded.completion_tokens, "
            "finish_reason=excluded.finish_reason, error=excluded.error, "
            "run_info_id=excluded.run_info_id WHERE responses.finish_reason = 'error'",
            record_row(record, conversation, run_info_ids[id(record.run_info)]),
        )
        written += cursor.rowcount
        put_tags(cursor, record.key, record.tags)
    return written


def copy_rows(
    cursor: sqlite3.Cursor,
    responses: Iterable[Sequence[Any]],
    tags: Iterable[Sequence[Any]],
    messages: Iterable[Sequence[Any]],
    run_info: Iterable[Sequence[Any]],
) -> None:
    """Insert raw table rows (columns in schema order); rows already present are kept."""
    statements = (
        (f"INSERT OR IGNORE INTO responses ({RECORD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", responses),
        ("INSERT OR IGNORE INTO tags (key, stage, tags) VALUES (?, ?, ?)", tags),
        ("INSERT OR IGNORE INTO messages (id, parent, role, content) VALUES (?, ?, ?, ?)", messages),
        ("INSERT OR IGNORE INTO run_info (id, created, info) VALUES (?, ?, ?)", run_info),
    )
    for statement, rows in statements:
        cursor.executemany(statement, rows)
