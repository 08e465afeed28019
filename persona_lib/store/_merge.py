"""Merging stores: union another store file into this one, by key, in one durable transaction.

Several processes never share one store; each writes its own, and :func:`merge_store` (``ResponseStore.merge_from``)
copies another store's responses with their message nodes, run info and every tag set. A key stored final in both
with a different answer is a :class:`MergeConflict`: reported, and this store's answer is kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from persona_lib.store._schema import RECORD_COLUMNS


@dataclass(frozen=True)
class MergeConflict:
    """One key answered differently in two stores (both final).

    Attributes:
        key: The request key.
        model: The model that answered.
        kept_text: The answer already in the target store (kept).
        other_text: The answer in the source store (not copied).
        kept_finish_reason: Finish reason of the kept answer.
        other_finish_reason: Finish reason of the other answer.
        source: The source store's path.
    """

    key: str
    model: str
    kept_text: str
    other_text: str
    kept_finish_reason: str
    other_finish_reason: str
    source: str


@dataclass(frozen=True)
class MergeReport:
    """What :meth:`ResponseStore.merge_from` did.

    Attributes:
        source: The source store's path.
        selected: Keys considered (present in the source).
        added: Keys the target did not have.
        replaced_errors: Keys stored as ``error`` in the target and final in the source (the final answer wins).
        identical: Keys final in both with the same answer (only their tag sets were added).
        conflicts: Keys final in both with different answers (the target's answer kept).
    """

    source: str
    selected: int
    added: int
    replaced_errors: int
    identical: int
    conflicts: tuple[MergeConflict, ...] = ()


def merge_store(
    db: sqlite3.Connection,
    target: Path,
    source: Path,
    keys: Iterable[str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> MergeReport:
    """Union the store file ``source`` into the store open as ``db`` (the file ``target``).

    See :meth:`persona_lib.store.ResponseStore.merge_from` for what is copied.

    Args:
        db: The target store's connection (autocommit mode).
        target: The target store file.
        source: The source store file; it is only read.
        keys: The keys to take (default: all of the source's); keys the source lacks are ignored.
        tags: Copy only the tag sets holding these tag values (default: every tag set of a taken key).

    Raises:
        FileNotFoundError: if ``source`` is not a file.
        ValueError: if ``source`` is ``target``.
    """
    if not source.is_file():
        raise FileNotFoundError(f"no response store at {source}")
    if source.resolve() == target.resolve():
        raise ValueError(f"cannot merge the store {source} into itself")
    db.execute("ATTACH DATABASE ? AS src", (str(source),))
    try:
        db.execute("CREATE TEMP TABLE IF NOT EXISTS merge_keys (key TEXT PRIMARY KEY)")
        db.execute("DELETE FROM temp.merge_keys")
        if keys is None:
            db.execute("INSERT INTO temp.merge_keys SELECT key FROM src.responses")
        else:
            db.executemany(
                "INSERT OR IGNORE INTO temp.merge_keys SELECT key FROM src.responses WHERE key = ?",
                ((key,) for key in keys),
            )
        return _merge_selected(db, str(source), tags or {})
    finally:
        db.execute("DETACH DATABASE src")


def _merge_selected(db: sqlite3.Connection, source: str, tags: Mapping[str, str]) -> MergeReport:
    """Count, then copy, the keys in ``temp.merge_keys`` from the attached ``src`` (one transaction)."""
    both_final = (
        "FROM src.responses s JOIN main.responses m ON m.key = s.key "
        "WHERE s.key IN (SELECT key FROM temp.merge_keys) "
        "AND s.finish_reason != 'error' AND m.finish_reason != 'error'"
    )
    same = "(s.text = m.text AND s.finish_reason = m.finish_reason)"
    cursor = db.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    try:
        selected = cursor.execute("SELECT COUNT(*) FROM temp.merge_keys").fetchone()[0]
        identical = cursor.execute(f"SELECT COUNT(*) {both_final} AND {same}").fetchone()[0]
        conflicts = tuple(
            MergeConflict(key, model, kept, other, kept_finish, other_finish, source)
            for key, model, kept, other, kept_finish, other_finish in cursor.execute(
                f"SELECT s.key, s.model, m.text, s.text, m.finish_reason, s.finish_reason {both_final} "
                f"AND NOT {same} ORDER BY s.rowid"
            ).fetchall()
        )
        added = cursor.execute(
            "SELECT COUNT(*) FROM temp.merge_keys k WHERE k.key NOT IN (SELECT key FROM main.responses)"
        ).fetchone()[0]
        replaced = cursor.execute(
            "SELECT COUNT(*) FROM src.responses s JOIN main.responses m ON m.key = s.key "
            "WHERE s.key IN (SELECT key FROM temp.merge_keys) "
            "AND m.finish_reason = 'error' AND s.finish_reason != 'error'"
        ).fetchone()[0]
        cursor.execute(
            "WITH RECURSIVE chain(id) AS ("
            " SELECT conversation FROM src.responses WHERE key IN (SELECT key FROM temp.merge_keys)"
            " AND conversation != ''"
            " UNION SELECT n.parent FROM src.messages n JOIN chain ON n.id = chain.id WHERE n.parent IS NOT NULL)"
            " INSERT OR IGNORE INTO main.messages (id, parent, role, content)"
            " SELECT n.id, n.parent, n.role, n.content FROM src.messages n JOIN chain ON n.id = chain.id"
        )
        cursor.execute(
            "INSERT OR IGNORE INTO main.run_info (id, created, info) SELECT id, created, info FROM src.run_info "
            "WHERE id IN (SELECT run_info_id FROM src.responses WHERE key IN (SELECT key FROM temp.merge_keys))"
        )
        cursor.execute(
            f"INSERT INTO main.responses ({RECORD_COLUMNS}) SELECT {RECORD_COLUMNS} FROM src.responses "
            "WHERE key IN (SELECT key FROM temp.merge_keys) ORDER BY rowid "
            "ON CONFLICT(key) DO UPDATE SET created=excluded.created, text=excluded.text, "
            "prompt_tokens=excluded.prompt_tokens, completion_tokens=excluded.completion_tokens, "
            "finish_reason=excluded.finish_reason, error=excluded.error, run_info_id=excluded.run_info_id "
            "WHERE responses.finish_reason = 'error' AND excluded.finish_reason != 'error'"
        )
        chosen = "".join(" AND json_extract(tags, ?) = ?" for _ in tags)
        cursor.execute(
            "INSERT OR IGNORE INTO main.tags (key, stage, tags) SELECT key, stage, tags FROM src.tags "
            f"WHERE key IN (SELECT key FROM temp.merge_keys){chosen} ORDER BY rowid",
            [part for name, value in tags.items() for part in (f'$."{name}"', value)],
        )
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    return MergeReport(source, selected, added, replaced, identical, conflicts)
