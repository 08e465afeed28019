"""Opening a store file for writing (journal, durability, schema), and SQLite failures as store errors.

A full disk or a read-only folder becomes a :class:`StoreWriteError`; a damaged file (not a SQLite database,
truncated, failing ``PRAGMA quick_check`` when opened) a :class:`StoreDamagedError` carrying its inspection.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import NoReturn

from persona_lib.store._errors import StoreDamagedError, StoreError, StoreWriteError, failure_reason, write_error
from persona_lib.store._health import inspect_store
from persona_lib.store._schema import SCHEMA
from persona_lib.store._sqlite_file import has_sqlite_header, integrity_problems


def translate_sqlite_error(err: sqlite3.Error, path: Path, committed: int | None) -> StoreError | None:
    """The exception to raise for a SQLite failure on the store at ``path`` (``None``: not one a user can act on).

    Args:
        err: The SQLite exception.
        path: The store file.
        committed: Answers committed so far (to reassure the user that they are kept), if known.
    """
    reason = failure_reason(err)
    if reason is None:
        return None
    if reason == "damaged":
        return StoreDamagedError(inspect_store(path))
    return write_error(err, reason, path, committed)


def raise_translated(err: sqlite3.Error, path: Path, committed: int | None) -> NoReturn:
    """Re-raise a SQLite failure as the store error a user can act on (unchanged if there is none)."""
    translated = translate_sqlite_error(err, path, committed)
    if translated is None:
        raise err
    raise translated from err


def open_store(path: Path, verify: bool = True) -> sqlite3.Connection:
    """Connect to the store file ``path`` for writing, creating it (and its folder) if missing.

    The connection is in autocommit mode (writers open their own transactions), with a WAL journal and
    ``synchronous=FULL``, and the schema exists.

    Args:
        path: The SQLite file.
        verify: Run ``PRAGMA quick_check`` on an existing file before using it.

    Raises:
        StoreDamagedError: for an existing file that is not a sound SQLite database; it is left untouched.
        StoreWriteError: when the file or its folder cannot be created or written (full disk, read-only folder).
    """
    existing = path.is_file() and path.stat().st_size > 0
    if existing and not has_sqlite_header(path):
        raise StoreDamagedError(inspect_store(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, timeout=60)
    except (OSError, sqlite3.Error) as err:
        raise StoreWriteError(
            path,
            "read-only",
            f"cannot create the response store {path}: {err}. Make the folder "
            "writable (and check free space), or run with another output_dir",
        ) from None
    try:
        if existing and verify and integrity_problems(db):
            db.close()
            raise StoreDamagedError(inspect_store(path))
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
    except sqlite3.Error as err:
        db.close()
        raise_translated(err, path, None)
    return db
