"""Reading a store: records by key, final keys, conversations, run info, keys by filter, the whole table.

Module-level functions of an open connection; :class:`persona_lib.store.ResponseStore` delegates to them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from persona_lib.contract import Message
from persona_lib.store._record import ResponseRecord, record_from_row
from persona_lib.store._schema import RECORD_COLUMNS

_CHUNK = 500
"""Keys per ``IN (...)`` query (below SQLite's limit on bound parameters)."""


def count_responses(db: sqlite3.Connection) -> int:
    """The number of stored responses."""
    return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


def has_key(db: sqlite3.Connection, key: object) -> bool:
    """True when a response is stored under ``key`` (final or not)."""
    return db.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone() is not None


def conversation(db: sqlite3.Connection, path: Path, conversation_id: str) -> list[Message]:
    """Rebuild a stored conversation from its last message node.

    Raises:
        KeyError: when a node of the chain is missing (the store at ``path`` is damaged).
    """
    chain: list[Message] = []
    node: str | None = conversation_id
    while node:
        row = db.execute("SELECT parent, role, content FROM messages WHERE id = ?", (node,)).fetchone()
        if row is None:
            raise KeyError(f"{path}: message node {node} is missing; the store is damaged")
        chain.append({"role": row[1], "content": row[2]})
        node = row[0]
    chain.reverse()
    return chain


def run_info(db: sqlite3.Connection, cache: dict[str, dict[str, Any]], run_info_id: str) -> dict[str, Any]:
    """The run info stored under ``run_info_id`` ({} if unknown), remembered in ``cache``."""
    if run_info_id not in cache:
        row = db.execute("SELECT info FROM run_info WHERE id = ?", (run_info_id,)).fetchone()
        cache[run_info_id] = json.loads(row[0]) if row else {}
    return cache[run_info_id]


def first_tags(db: sqlite3.Connection, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The first tag set stored for each of ``keys`` (keys without one are absent)."""
    marks = ",".join("?" * len(keys))
    first: dict[str, dict[str, Any]] = {}
    for key, tags in db.execute(f"SELECT key, tags FROM tags WHERE key IN ({marks}) ORDER BY rowid", keys):
        first.setdefault(key, json.loads(tags))
    return first


def get_records(
    db: sqlite3.Connection,
    path: Path,
    run_info_cache: dict[str, dict[str, Any]],
    keys: Iterable[str],
    with_messages: bool = True,
) -> dict[str, ResponseRecord]:
    """Stored records for the given keys (missing keys are absent from the result).

    Args:
        db: The store's connection.
        path: The store file (named when a conversation is missing).
        run_info_cache: Run info already read, by id (filled as it is read).
        keys: Request keys.
        with_messages: Rebuild each record's message list.
    """
    keys = list(dict.fromkeys(keys))
    records: dict[str, ResponseRecord] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(f"SELECT {RECORD_COLUMNS} FROM responses WHERE key IN ({marks})", chunk).fetchall()
        tags = first_tags(db, chunk)
        for row in rows:
            conversation_id, run_info_id = row[5], row[11]
            record = record_from_row(
                row,
                tags.get(row[0], {}),
                conversation(db, path, conversation_id) if with_messages else None,
                run_info(db, run_info_cache, run_info_id) if run_info_id else {},
            )
            records[record.key] = record
    return records


def final_keys(db: sqlite3.Connection, keys: Iterable[str]) -> set[str]:
    """The subset of ``keys`` stored with a final answer (anything but ``error``)."""
    keys = list(dict.fromkeys(keys))
    found: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(f"SELECT key FROM responses WHERE key IN ({marks}) AND finish_reason != 'error'", chunk)
        found.update(row[0] for row in rows)
    return found


def responses_table(
    db: sqlite3.Connection, path: Path, stage: str | None = None, include_messages: bool = False
) -> pd.DataFrame:
    """All responses as a table, one row per (response, tag set), tags expanded into columns.

    See :meth:`persona_lib.store.ResponseStore.to_dataframe`.
    """
    query = (
        "SELECT r.key, r.created, r.backend, r.model, r.sampling, r.conversation, r.text, r.prompt_tokens, "
        "r.completion_tokens, r.finish_reason, r.error, r.run_info_id, t.tags "
        "FROM responses r LEFT JOIN tags t ON t.key = r.key"
    )
    params: tuple = ()
    if stage is not None:
        query += " WHERE t.stage = ?"
        params = (stage,)
    query += " ORDER BY r.rowid, t.rowid"
    rows = db.execute(query, params).fetchall()
    base_columns = [
        "key",
        "created",
        "backend",
        "model",
        "sampling",
        "conversation",
        "text",
        "prompt_tokens",
        "completion_tokens",
        "finish_reason",
        "error",
        "run_info_id",
    ]
    table = pd.DataFrame([row[:-1] for row in rows], columns=base_columns)
    tag_table = pd.DataFrame([json.loads(row[-1]) if row[-1] else {} for row in rows], index=table.index)
    clashing = [name for name in tag_table.columns if name in base_columns]
    tag_table = tag_table.rename(columns={name: f"tag_{name}" for name in clashing})
    table = pd.concat([table, tag_table], axis=1)
    table["sampling"] = table["sampling"].map(json.loads)
    if include_messages:
        table["messages"] = table["conversation"].map(lambda node: conversation(db, path, node))
    return table.drop(columns="conversation")


def matching_keys(
    db: sqlite3.Connection,
    *,
    backend: str | None = None,
    model: str | None = None,
    stages: Sequence[str] | None = None,
    tags: dict[str, Any] | None = None,
) -> list[str]:
    """Stored keys matching every given filter (in storage order); see :meth:`persona_lib.store.ResponseStore.keys`."""
    query = "SELECT r.key FROM responses r WHERE 1"
    params: list[Any] = []
    if backend is not None:
        query += " AND r.backend = ?"
        params.append(backend)
    if model is not None:
        query += " AND r.model = ?"
        params.append(model)
    if stages is not None or tags:
        condition = "t.key = r.key"
        if stages is not None:
            condition += f" AND t.stage IN ({','.join('?' * len(stages))})"
            params.extend(stages)
        for name, value in (tags or {}).items():
            condition += " AND json_extract(t.tags, ?) = ?"
            params.extend([f'$."{name}"', value])
        query += f" AND EXISTS (SELECT 1 FROM tags t WHERE {condition})"
    return [row[0] for row in db.execute(query + " ORDER BY r.rowid", params)]
