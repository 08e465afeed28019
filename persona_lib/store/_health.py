"""Inspecting a response store without writing to it: what is wrong, and how much of it still reads.

A store can be damaged by a disk failure, a copy cut short or a file truncated by hand. The library never writes to
such a file and never replaces it on its own: :func:`inspect_store` reports what is wrong and how many rows of each
table still read (a :class:`StoreHealth`); :mod:`persona_lib.store._salvage` copies those rows into a new store.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from persona_lib.store._health_report import TABLES, StoreHealth
from persona_lib.store._sqlite_file import connect_read_only, has_sqlite_header, integrity_problems, readable_rows


def complete_answer_keys(responses: list[tuple], parents: dict[str, str | None]) -> set[str]:
    """Keys of final answers whose conversation chain (last node back to the first) is complete.

    Args:
        responses: Rows of the ``responses`` table, ``rowid`` first (as :func:`read_all_tables` gives them).
        parents: The parent of every message node that still reads.
    """
    complete: dict[str, bool] = {"": True}

    def chain_ok(node: str) -> bool:
        path = []
        while node not in complete:
            if node not in parents:
                break
            path.append(node)
            node = parents[node] or ""
        ok = complete.get(node, False)
        for visited in path:
            complete[visited] = ok
        return ok

    # columns: rowid, key, created, backend, model, sampling, conversation, text, ..., finish_reason (index 10)
    return {row[1] for row in responses if row[10] != "error" and chain_ok(row[6] or "")}


def read_all_tables(db: sqlite3.Connection) -> dict[str, list[tuple]]:
    """Every row that still reads, per table (``rowid`` first); a table whose root page is gone reads as empty."""
    tables = {}
    for table in TABLES:
        try:
            tables[table] = list(readable_rows(db, table))
        except sqlite3.DatabaseError:  # the table itself is gone (its root page is unreadable)
            tables[table] = []
    return tables


def message_parents(tables: dict[str, list[tuple]]) -> dict[str, str | None]:
    """The parent of every message node in ``tables`` (as :func:`read_all_tables` gives them)."""
    return {row[1]: row[2] for row in tables["messages"]}


def inspect_store(path: str | Path, full: bool = False) -> StoreHealth:
    """Check a store file without writing to it; for a damaged one, count what still reads.

    Args:
        path: The store file (``responses.sqlite``).
        full: Use ``PRAGMA integrity_check`` rather than the faster ``quick_check``.

    Returns:
        The file's :class:`StoreHealth` (``ok`` for a missing or empty file: the store will be created).
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return StoreHealth(path, ok=True)
    if not has_sqlite_header(path):
        return StoreHealth(
            path,
            ok=False,
            problems=(
                "not a SQLite database: its first bytes are not the SQLite "
                "header (overwritten or not a response store)",
            ),
        )
    db = connect_read_only(path)
    try:
        problems = integrity_problems(db, full=full)
        if not problems:
            return StoreHealth(path, ok=True)
        tables = read_all_tables(db)
    finally:
        db.close()
    return StoreHealth(
        path,
        ok=False,
        problems=tuple(problems),
        readable_rows={table: len(rows) for table, rows in tables.items()},
        complete_answers=len(complete_answer_keys(tables["responses"], message_parents(tables))),
    )
