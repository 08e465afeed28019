"""What the study kill tests share: reading a worker's store while it writes, finding a Ray worker in the middle of a
unit, and checking that no request was answered by two workers."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from persona_lib.store import ResponseStore


def stored_rows(path: Path) -> int:
    """Answers in a store, read without taking any lock its writer needs (0 before the store exists)."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def worker_mid_unit(stores: Path, phase: str = "generate", engine: str = "") -> tuple[int, str] | None:
    """A Ray worker process running units of ``phase`` right now whose store's name holds ``engine``: its process
    id and its worker name (its store is ``<stores>/<phase>-<worker>.sqlite``)."""
    stores = stores.resolve()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "StudyWorker.run_unit" not in title:
                continue
            opened = [Path(os.readlink(fd)) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        mine = [path for path in opened if path.parent == stores and path.suffix == ".sqlite"]
        if len(mine) == 1 and mine[0].stem.startswith(f"{phase}-") and engine in mine[0].stem:  # a worker writes one
            return int(entry.name), mine[0].stem.removeprefix(f"{phase}-")
    return None


def assert_no_request_answered_twice(paths: Iterable[Path], by_model_under_test: bool = False) -> None:
    """No request was answered by two workers: each key is in one store only. Judge requests are keyed by (key,
    model under test): two models may give the same answer, and its verdict is then asked once per model."""
    answered = []
    for path in paths:
        table = ResponseStore(path).to_dataframe()
        answered += set(zip(table["key"], table["model_under_test"])) if by_model_under_test else set(table["key"])
    assert len(answered) == len(set(answered)), Counter(answered).most_common(3)
