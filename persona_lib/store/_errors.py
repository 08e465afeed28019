"""What can go wrong with a run's response store, as exceptions whose messages say what to do next.

SQLite reports every failure as ``sqlite3.OperationalError``/``DatabaseError`` with a terse text ("database or disk
is full"); :func:`failure_reason` names the ones a user can act on and :func:`write_error` words the message of a
failed write (disk full, read-only folder, I/O error). Turning a failure into the exception to raise — which, for a
damaged file, means inspecting it — is :func:`persona_lib.store._connection.translate_sqlite_error`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from persona_lib.store._health_report import StoreHealth

# Primary SQLite result codes (extended codes carry the primary code in their low byte).
_SQLITE_PERM = 3
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26


class StoreError(RuntimeError):
    """A response store that cannot be used as it is; the message names the file and what to do.

    Attributes:
        path: The store file.
    """

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        super().__init__(message)


class StoreWriteError(StoreError):
    """The store could not be written (disk full, read-only folder, I/O error).

    Nothing committed is lost: SQLite rolls the failed transaction back, so the store still opens and a re-run
    resumes after the last committed batch.

    Attributes:
        reason: ``disk full``, ``read-only`` or ``I/O error``.
    """

    def __init__(self, path: str | Path, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(path, message)


class StoreDamagedError(StoreError):
    """The store file is damaged (not a SQLite database, truncated, or failing its integrity check).

    It is never written to or replaced; ``self.health`` says what still reads, and
    :func:`persona_lib.store.salvage_store` copies that into a new store.

    Attributes:
        health: The inspection of the damaged file.
    """

    def __init__(self, health: StoreHealth) -> None:
        self.health = health
        super().__init__(health.path, health.describe())


def _primary_code(err: sqlite3.Error) -> int | None:
    code = getattr(err, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def failure_reason(err: sqlite3.Error) -> str | None:
    """``disk full``, ``read-only``, ``damaged``, ``I/O error``, or ``None`` for any other SQLite failure."""
    code = _primary_code(err)
    text = str(err).lower()
    if code == _SQLITE_FULL or "disk is full" in text:
        return "disk full"
    if code in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN) or "readonly" in text or "unable to open" in text:
        return "read-only"
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in text or "not a database" in text:
        return "damaged"
    if code == _SQLITE_IOERR or "disk i/o error" in text:
        return "I/O error"
    return None


_ADVICE = {
    "disk full": "the disk holding it is full. Free space there (or move the run folder to a larger disk)",
    "read-only": "the file or its folder cannot be written (read-only file system or missing permission). Make "
    "the folder writable, or run with another output_dir",
    "I/O error": "the operating system reported an I/O error (a failing or disconnected disk?). Check the disk",
}


def write_error(err: sqlite3.Error, reason: str, path: Path, committed: int | None) -> StoreWriteError:
    """The :class:`StoreWriteError` for a write to ``path`` that failed for ``reason``.

    Args:
        err: The SQLite exception.
        reason: ``disk full``, ``read-only`` or ``I/O error`` (see :func:`failure_reason`).
        path: The store file.
        committed: Answers committed so far (to reassure the user that they are kept), if known.
    """
    kept = (
        f"the {committed:,} answers committed so far are kept"
        if committed is not None
        else ("every answer committed so far is kept")
    )
    return StoreWriteError(
        path,
        reason,
        f"cannot write the response store {path}: {_ADVICE[reason]}, then run the same command again: it resumes "
        f"where it stopped. Nothing committed was lost: the batch in flight was rolled back and {kept} "
        f"(SQLite: {err})",
    )
