"""Reading a store file without writing to it: its header, a read-only connection, the integrity check, and the
rows that still read from a damaged file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from persona_lib.store._errors import failure_reason
from persona_lib.store._health_report import MAX_REPORTED_PROBLEMS

SQLITE_HEADER = b"SQLite format 3\x00"


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
        rows = [row[0] for row in db.execute(f"PRAGMA {pragma}({MAX_REPORTED_PROBLEMS})").fetchall()]
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
