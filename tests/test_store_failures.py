"""Bad conditions lose nothing: a full disk or read-only folder stops a run cleanly and it resumes; a damaged store
is reported with what still reads, never overwritten, and salvaged on request."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from papermill.exceptions import PapermillExecutionError

from persona_lib import pipeline
from persona_lib.backends import ScriptedBackend
from persona_lib.cli import main
from persona_lib.config import RunConfig
from persona_lib.generation import generate_benchmarks, generate_dialogues
from persona_lib.store import (
    ResponseStore,
    StoreDamagedError,
    StoreWriteError,
    inspect_store,
)

CONFIG = {
    "personas": ["Gaston", "HAL 9000"],
    "n_rounds": 6,
    "checkpoints": [0, 3, 6],
    "shuffled_replicate": True,
    "datasets": ["bfi", "xstest"],
    "item_limit": {"bfi": 4, "xstest": 4},
}


def _run(store: ResponseStore) -> None:
    """Generate the dialogues and benchmark answers of CONFIG into ``store`` (3 requests per commit)."""
    config = RunConfig(**CONFIG)
    backend = ScriptedBackend()
    dialogues = generate_dialogues(config, backend, store)
    generate_benchmarks(config, backend, store, dialogues=dialogues, batch_size=3)


def _texts(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT key, text FROM responses"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    """Every answer of an undisturbed run (key → text)."""
    path = tmp_path_factory.mktemp("reference") / "responses.sqlite"
    store = ResponseStore(path)
    _run(store)
    store.close()
    return _texts(path)


def _assert_resumes_to(path: Path, committed: int, reference: dict[str, str]) -> None:
    """The store reopens with exactly the committed answers, all correct, and a re-run completes it."""
    store = ResponseStore(path)
    stored = _texts(path)
    assert len(store) == len(stored) == committed
    assert all(reference[key] == text for key, text in stored.items())
    _run(store)
    assert _texts(path) == reference
    store.close()


def test_a_full_disk_stops_with_a_clear_message_and_the_run_resumes(tmp_path, tmpfs, reference):
    disk = tmpfs("400k")  # room for the store's first batches only
    path = disk.path / "responses.sqlite"
    store = ResponseStore(path)
    with pytest.raises(StoreWriteError) as stopped:
        _run(store)
    committed = len(store)
    assert stopped.value.reason == "disk full"
    assert 0 < committed < len(reference)
    message = str(stopped.value)
    assert message.startswith(f"cannot write the response store {path}: the disk holding it is full")
    assert f"the {committed:,} answers committed so far are kept" in message
    assert "run the same command again: it resumes where it stopped" in message
    store.close()
    disk.remount("size=16m")  # space freed
    _assert_resumes_to(path, committed, reference)


def test_sqlite_full_mid_batch_without_a_ram_disk(tmp_path, reference):
    """The same through SQLite's own limit on the file size, for machines where no tmpfs can be mounted."""
    path = tmp_path / "responses.sqlite"
    store = ResponseStore(path)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 25}")
    with pytest.raises(StoreWriteError) as stopped:
        _run(store)
    committed = len(store)
    assert stopped.value.reason == "disk full" and 0 < committed < len(reference)
    store.close()
    _assert_resumes_to(path, committed, reference)


def test_a_store_that_turns_read_only_mid_run(tmp_path, reference):
    path = tmp_path / "responses.sqlite"
    store = ResponseStore(path)
    config = RunConfig(**CONFIG)
    generate_dialogues(config, ScriptedBackend(), store)
    committed = len(store)
    store._db.execute("PRAGMA query_only = ON")  # every write now fails as on a read-only file
    with pytest.raises(StoreWriteError) as stopped:
        _run(store)
    assert stopped.value.reason == "read-only"
    assert "cannot be written (read-only file system or missing permission)" in str(stopped.value)
    store.close()
    _assert_resumes_to(path, committed, reference)


def test_a_read_only_folder_is_reported_when_the_store_opens(tmpfs, reference):
    disk = tmpfs("2m")
    store = ResponseStore(disk.path / "run" / "responses.sqlite")
    store.put_many([])
    store.close()
    disk.remount("ro")
    with pytest.raises(StoreWriteError) as refused:
        ResponseStore(disk.path / "run" / "responses.sqlite")
    assert refused.value.reason == "read-only"
    with pytest.raises(StoreWriteError, match="Read-only file system"):
        ResponseStore(disk.path / "other" / "responses.sqlite")


@pytest.fixture
def damaged_run(tmp_path, reference) -> tuple[Path, str]:
    """A run folder whose store lost its last 40 % (a copy cut short), and the damaged file's digest."""
    path = tmp_path / "run" / "responses.sqlite"
    store = ResponseStore(path)
    _run(store)
    store.close()
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size * 6 // 10)
    return path, _digest(path)


def test_a_truncated_store_is_reported_with_what_still_reads_and_left_untouched(damaged_run, reference):
    path, digest = damaged_run
    with pytest.raises(StoreDamagedError) as damaged:
        ResponseStore(path)
    health = damaged.value.health
    assert not health.ok
    assert 0 < health.readable_rows["responses"] < len(reference)
    assert 0 < health.complete_answers <= health.readable_rows["responses"]
    message = str(damaged.value)
    assert message.startswith(f"{path} is damaged (")
    assert f"{health.complete_answers:,} answers have their whole conversation and can be recovered" in message
    assert f"persona-eval salvage --run {path.parent}" in message
    assert _digest(path) == digest  # never written to
    assert inspect_store(path) == health


def test_salvage_keeps_every_complete_answer_and_the_run_resumes(damaged_run, reference, capsys):
    path, digest = damaged_run
    expected = inspect_store(path).complete_answers
    assert main(["salvage", "--run", str(path.parent)]) == 0
    out = capsys.readouterr().out
    assert f"kept {expected:,} answers with their whole conversation" in out
    [kept] = path.parent.glob("responses.damaged-*.sqlite")
    assert _digest(kept) == digest
    store = ResponseStore(path)
    salvaged = _texts(path)
    assert len(salvaged) == expected
    assert all(reference[key] == text for key, text in salvaged.items())
    for record in store.get_many(salvaged).values():  # every kept answer rebuilds its conversation
        assert record.messages and record.messages[-1]["role"] == "user"
    _run(store)
    assert _texts(path) == reference


def test_a_file_that_is_not_a_database_is_never_overwritten(tmp_path, capsys):
    path = tmp_path / "run" / "responses.sqlite"
    path.parent.mkdir()
    path.write_bytes(b"these are notes someone saved under the store's name\n" * 50)
    digest = _digest(path)
    with pytest.raises(StoreDamagedError, match="not a SQLite database"):
        ResponseStore(path)
    assert _digest(path) == digest
    assert main(["salvage", "--run", str(path.parent)]) == 0
    assert "kept 0 answers" in capsys.readouterr().out


def test_salvage_refuses_a_sound_store(tmp_path, capsys):
    store = ResponseStore(tmp_path / "responses.sqlite")
    store.close()
    assert main(["salvage", "--run", str(tmp_path)]) == 2
    assert "passes its integrity check: there is nothing to salvage" in capsys.readouterr().err


def test_a_failing_notebook_is_one_clear_message_with_the_resume_hint(tmp_path, monkeypatch, capsys):
    def failing_run(*args, **kwargs):
        raise PapermillExecutionError(
            cell_index=4,
            exec_count=4,
            source="generate_benchmarks(...)",
            ename="StoreWriteError",
            evalue="cannot write the response store x: full",
            traceback=[],
        )

    monkeypatch.setattr(pipeline, "run_from_file", failing_run)
    assert main(["run", "--config", "configs/default.yaml"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(
        "persona-eval run: a notebook cell failed: StoreWriteError: cannot write the response store x: full"
    )
    assert "run the same command again to resume" in error
