"""Salvaging a damaged store: copy every answer that still reads, with its conversation, into a new store.

The damaged file is only read (:func:`salvage_store`), or — for a run folder — kept next to the salvaged store under
a new name (:func:`salvage_into_place`, ``persona-eval salvage``). Answers whose conversation can no longer be
rebuilt are dropped, so that a re-run recomputes exactly what was lost.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from persona_lib.store._health import complete_answer_keys, inspect_store, message_parents, read_all_tables
from persona_lib.store._health_report import StoreHealth
from persona_lib.store._lock import RunLock
from persona_lib.store._sqlite_file import connect_read_only, integrity_problems
from persona_lib.store._store import ResponseStore


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
    path, target = Path(path), Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose another file for the salvaged store")
    db = connect_read_only(path)
    try:
        problems = integrity_problems(db)
        tables = read_all_tables(db)
    finally:
        db.close()
    keep = complete_answer_keys(tables["responses"], message_parents(tables))
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
