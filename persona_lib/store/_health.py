"""Inspecting a response store without writing to it, and salvaging what still reads from a damaged one.

A store can be damaged by a disk failure, a copy cut short or a file truncated by hand. The library never writes to
such a file and never replaces it on its own: :func:`inspect_store` reports what is wrong and how many rows of each
table still read, and :func:`salvage_store` copies those rows into a new store (``persona-eval salvage``), dropping
answers whose conversation can no longer be rebuilt, so that a re-run recomputes exactly what was lost.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from persona_lib.store._errors import failure_reason

SQLITE_HEADER = b"SQLite format 3\x00"
TABLES: tuple[str, ...] = ("responses", "tags", "messages", "run_info")
_MAX_REPORTED_PROBLEMS = 5


@dataclass(frozen=True)
class StoreHealth:
    """The state of a store file, found without writing to it.

    Attributes:
        path: The store file.
        ok: True when the file is a sound SQLite database (or does not exist yet).
        problems: What the integrity check (or opening the file) reported; empty when ``ok``.
        readable_rows: Rows that still read, per table (``responses``, ``tags``, ``messages``, ``run_info``).
        complete_answers: Final answers (not errors) whose whole conversation still reads: what a salvage keeps.
    """

    path: Path
    ok: bool
    problems: tuple[str, ...] = ()
    readable_rows: dict[str, int] = field(default_factory=dict)
    complete_answers: int = 0

    def describe(self) -> str:
        """A message for the user: what is wrong, what can be recovered, and how."""
        if self.ok:
            return f"{self.path}: the response store is sound"
        return f"{self.damage()}. {self.recovery()}"

    def damage(self) -> str:
        """What is wrong with the file."""
        return f"{self.path} is damaged ({'; '.join(self.problems[:_MAX_REPORTED_PROBLEMS])})"

    def recovery(self) -> str:
        """What still reads, and how to keep it."""
        rows = ", ".join(f"{self.readable_rows.get(table, 0):,} {table}" for table in TABLES)
        return (
            f"The file was not modified. Rows that still read: {rows}; {self.complete_answers:,} answers have their "
            f"whole conversation and can be recovered. To keep them, run `persona-eval salvage --run "
            f"{self.path.parent}`: it copies them into a new store, keeps the damaged file next to it (renamed "
            "responses.damaged-<time>.sqlite), and the next run recomputes only what was lost"
        )


def has_sqlite_header(path: Path) -> bool:
    """True when ``path`` starts with the SQLite file header (an empty or missing file: False)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open ``path`` without any write, including its WAL when one is present.

    ``writable_schema`` lets SQLite read a file shorter than its header says (a truncated copy) instead of refusing
    it whole; the connection is read-only, so nothing can be written either way.
    """
    for query in ("mode=ro", "immutable=1"):  # immutable: when the WAL cannot be opened read-only
        db = sqlite3.connect(f"file:{path.resolve().as_posix()}?{query}", uri=True)
        try:
            db.execute("PRAGMA writable_schema = ON")
            db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return db
        except sqlite3.Error:
            db.close()
    return sqlite3.connect(f"file:{path.resolve().as_posix()}?immutable=1", uri=True)


def integrity_problems(db: sqlite3.Connection, full: bool = False) -> list[str]:
    """The messages of SQLite's integrity check (``[]`` when the database is sound).

    Args:
        db: An open connection.
        full: Run ``PRAGMA integrity_check`` (also checks indexes against tables); the default
            ``PRAGMA quick_check`` is faster and catches truncated and overwritten pages.

    Raises:
        sqlite3.Error: when the check cannot run for a reason other than damage (e.g. a read-only folder).
    """
    pragma = "integrity_check" if full else "quick_check"
    try:
        rows = [row[0] for row in db.execute(f"PRAGMA {pragma}({_MAX_REPORTED_PROBLEMS})").fetchall()]
    except sqlite3.DatabaseError as err:
        if failure_reason(err) != "damaged":  # e.g. a read-only folder: not the file's fault
            raise
        return [str(err)]
    return [] if rows == ["ok"] else rows


def readable_rows(db: sqlite3.Connection, table: str) -> Iterator[tuple]:
    """Yield every row of ``table`` that still reads (``rowid`` first), skipping damaged pages.

    Rows are read in ``rowid`` order; when a read fails, the reader jumps ahead by a doubling step until rows read
    again, so a damaged page costs the rows on it and a few probes, not the rest of the table.
    """
    last = 0
    step = 1
    while step < 2**62:
        try:
            for row in db.execute(f"SELECT rowid, * FROM {table} WHERE rowid > ? ORDER BY rowid", (last,)):
                last, step = row[0], 1
                yield row
            return
        except sqlite3.DatabaseError:
            last += step
            step *= 2


def _complete_keys(responses: list[tuple], parents: dict[str, str | None]) -> set[str]:
    """Keys of final answers whose conversation chain (last node back to the first) is complete."""
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


def _read_everything(db: sqlite3.Connection) -> dict[str, list[tuple]]:
    tables = {}
    for table in TABLES:
        try:
            tables[table] = list(readable_rows(db, table))
        except sqlite3.DatabaseError:  # the table itself is gone (its root page is unreadable)
            tables[table] = []
    return tables


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
        return StoreHealth(path, ok=False, problems=("not a SQLite database: its first bytes are not the SQLite "
                                                      "header (overwritten or not a response store)",))
    db = connect_read_only(path)
    try:
        problems = integrity_problems(db, full=full)
        if not problems:
            return StoreHealth(path, ok=True)
        tables = _read_everything(db)
    finally:
        db.close()
    parents = {row[1]: row[2] for row in tables["messages"]}
    return StoreHealth(
        path,
        ok=False,
        problems=tuple(problems),
        readable_rows={table: len(rows) for table, rows in tables.items()},
        complete_answers=len(_complete_keys(tables["responses"], parents)),
    )


def salvage_store(path: str | Path, target: str | Path) -> StoreHealth:
    """Copy every answer of a (damaged) store that still reads, with its conversation, into a new store.

    The source file is only read. Answers whose conversation can no longer be rebuilt, and stored errors, are left
    out (a re-run recomputes them); their tag sets go with them.

    Args:
        path: The damaged store.
        target: The new store file (must not exist).

    Returns:
        The source's :class:`StoreHealth` (its ``complete_answers`` is the number of answers copied).

    Raises:
        FileExistsError: if ``target`` exists.
    """
    from persona_lib.store._sqlite import ResponseStore

    path, target = Path(path), Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose another file for the salvaged store")
    db = connect_read_only(path)
    try:
        problems = integrity_problems(db)
        tables = _read_everything(db)
    finally:
        db.close()
    parents = {row[1]: row[2] for row in tables["messages"]}
    keep = _complete_keys(tables["responses"], parents)
    store = ResponseStore(target)
    try:
        store.copy_rows(
            responses=[row[1:] for row in tables["responses"] if row[1] in keep],
            tags=[row[1:] for row in tables["tags"] if row[1] in keep],
            messages=[row[1:] for row in tables["messages"]],
            run_info=[row[1:] for row in tables["run_info"]],
        )
    finally:
        store.close()
    return StoreHealth(
        path,
        ok=not problems,
        problems=tuple(problems),
        readable_rows={table: len(rows) for table, rows in tables.items()},
        complete_answers=len(keep),
    )


def salvage_into_place(folder: str | Path) -> tuple[Path, StoreHealth]:
    """Replace a run folder's damaged store by what still reads from it, keeping the damaged file alongside.

    Holds the run folder's lock meanwhile (no run may be writing). The damaged file (and its WAL files) is renamed
    ``responses.damaged-<time>.sqlite``; the salvaged store takes its place.

    Args:
        folder: The run folder.

    Returns:
        The renamed damaged file, and the damaged store's health (its ``complete_answers`` were kept).

    Raises:
        FileNotFoundError: if the folder has no store.
        ValueError: if the store is sound (nothing to salvage).
        RunLockedError: if a run is using the folder.
    """
    from persona_lib.store._lock import RunLock

    folder = Path(folder)
    path = folder / "responses.sqlite"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no response store (responses.sqlite)")
    with RunLock(folder):
        if inspect_store(path).ok:
            raise ValueError(f"{path} passes its integrity check: there is nothing to salvage")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        salvaged = folder / f"responses.salvaged-{stamp}.sqlite"
        health = salvage_store(path, salvaged)
        kept = folder / f"responses.damaged-{stamp}.sqlite"
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                os.rename(f"{path}{suffix}", f"{kept}{suffix}")
        os.rename(salvaged, path)
    return kept, health
