"""The response store: one SQLite file holding every answer a run has obtained.

Layout (``<output_dir>/responses.sqlite``):

* ``responses`` — one row per request key (``INSERT``-once: a key is never stored twice). Columns: key, created
  (UTC ISO time), backend, model, sampling (JSON), conversation (id of the last message node, see below), text,
  prompt_tokens, completion_tokens, finish_reason, error, run_info_id.
* ``tags`` — the tag sets (JSON: stage, condition, kind, replicate, round / checkpoint, dataset, item_id...) under
  which a key was requested. Content addressing means two requests with identical messages (e.g. the checkpoint-0
  question of both dialogue kinds) share one answer; each keeps its own tag set here.
* ``messages`` — message nodes ``(id, parent, role, content)`` with ``id = sha256(parent id + message)``. A
  conversation is stored as its last node; a dialogue's long history is therefore stored once, not once per round
  and once per benchmark question (which would take gigabytes for 100-round dialogues).
* ``run_info`` — resolved configuration, library and backend versions, python version; each response points at
  the run info it was produced under.

Durability: WAL journal, ``synchronous=FULL``, one transaction per :meth:`ResponseStore.put_many` call, so a
killed process loses at most the batch it was generating.

Bad conditions: a full disk or a read-only folder stops a write with a :class:`StoreWriteError` (the batch is rolled
back; everything committed stays, and a re-run resumes). A damaged file (not a SQLite database, truncated, failing
``PRAGMA quick_check`` when opened) raises :class:`StoreDamagedError` saying what still reads; the library never
writes to it or replaces it (``persona-eval salvage`` copies what still reads into a new store).

Errors: a response with ``finish_reason == "error"`` is stored (for the record) but is not final: a later
:meth:`ResponseStore.put_many` with the same key replaces it, and :meth:`ResponseStore.final_keys` does not list it,
so re-running a stage retries failed requests. Every other finish reason (``stop``, ``length``,
``context_overflow``) is final.

Merging: several processes never share one store; each writes its own, and :meth:`ResponseStore.merge_from` unions
another store into this one by key (responses with their message nodes, run info and every tag set). A key stored
final in both with a different answer is a :class:`MergeConflict`: reported, and this store's answer is kept.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from persona_lib.contract import Message
from persona_lib.store._errors import StoreDamagedError, StoreWriteError, translate_sqlite_error
from persona_lib.store._health import has_sqlite_header, inspect_store, integrity_problems
from persona_lib.store._keys import canonical_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    sampling TEXT NOT NULL,
    conversation TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    finish_reason TEXT NOT NULL,
    error TEXT,
    run_info_id TEXT
);
CREATE TABLE IF NOT EXISTS tags (
    key TEXT NOT NULL,
    stage TEXT,
    tags TEXT NOT NULL,
    PRIMARY KEY (key, tags)
);
CREATE INDEX IF NOT EXISTS tags_stage ON tags (stage);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    parent TEXT,
    role TEXT NOT NULL,
    content TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_info (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    info TEXT NOT NULL
);
"""

_RECORD_COLUMNS = (
    "key, created, backend, model, sampling, conversation, text, prompt_tokens, completion_tokens, "
    "finish_reason, error, run_info_id"
)


@dataclass(frozen=True)
class ResponseRecord:
    """One stored answer.

    Attributes:
        key: The request key (:func:`persona_lib.store.request_key`).
        backend: Backend kind that produced it.
        model: Model identifier.
        sampling: Decoding parameters (dict).
        messages: The full message list that was sent (``None`` when read with ``with_messages=False``).
        tags: The tag set of the first request that produced the answer (all tag sets: ``tags`` table).
        text: The answer ('' for overflow and errors).
        prompt_tokens: Prompt tokens as counted by the backend.
        completion_tokens: Generated tokens.
        finish_reason: ``stop``, ``length``, ``context_overflow`` or ``error``.
        error: Why the request failed, if it did.
        run_info: Resolved config and versions the answer was produced under.
        created: UTC ISO time of storage.
    """

    key: str
    backend: str
    model: str
    sampling: dict[str, Any]
    messages: list[Message] | None
    tags: dict[str, Any]
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str
    error: str | None = None
    run_info: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    @property
    def ok(self) -> bool:
        """True when the model produced an answer (``stop`` or ``length``)."""
        return self.finish_reason in ("stop", "length")

    @property
    def final(self) -> bool:
        """False for errors, which a re-run retries."""
        return self.finish_reason != "error"


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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _message_id(parent: str | None, message: Message) -> str:
    payload = (parent or "") + canonical_json({"role": message["role"], "content": message["content"]})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ResponseStore:
    """Content-addressed, crash-safe store of model responses (see the module docstring for the layout).

    Args:
        path: The SQLite file (created with its parent folder if missing).
        verify: Run ``PRAGMA quick_check`` on an existing file before using it (a few seconds per GB).

    Raises:
        StoreDamagedError: for an existing file that is not a sound SQLite database; it is left untouched.
        StoreWriteError: when the file or its folder cannot be created or written (full disk, read-only folder).

    Example:
        >>> store = ResponseStore(tmp_path / "responses.sqlite")  # doctest: +SKIP
        >>> store.put_many([record]); record.key in store  # doctest: +SKIP
        True
    """

    def __init__(self, path: str | Path, verify: bool = True) -> None:
        self.path = Path(path)
        existing = self.path.is_file() and self.path.stat().st_size > 0
        if existing and not has_sqlite_header(self.path):
            raise StoreDamagedError(inspect_store(self.path))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        except (OSError, sqlite3.Error) as err:
            raise StoreWriteError(
                self.path, "read-only", f"cannot create the response store {self.path}: {err}. Make the folder "
                "writable (and check free space), or run with another output_dir"
            ) from None
        try:
            if existing and verify and integrity_problems(self._db):
                self._db.close()
                raise StoreDamagedError(inspect_store(self.path))
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as err:
            self._db.close()
            self._raise_translated(err, None)
        self._run_info_cache: dict[str, dict[str, Any]] = {}
        # Message nodes known to be stored, keyed by (parent id, role, content): long shared histories are
        # hashed and inserted once per process instead of once per request.
        self._known_nodes: dict[tuple[str | None, str, str], str] = {}

    @classmethod
    def for_output_dir(cls, output_dir: str | Path) -> ResponseStore:
        """The store of a run folder: ``<output_dir>/responses.sqlite``."""
        return cls(Path(output_dir) / "responses.sqlite")

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    # ----------------------------------------------------------------------------------------------- reading
    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def __contains__(self, key: object) -> bool:
        row = self._db.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone()
        return row is not None

    def get(self, key: str) -> ResponseRecord | None:
        """The stored record for ``key``, or ``None``."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str], with_messages: bool = True) -> dict[str, ResponseRecord]:
        """Stored records for the given keys (missing keys are absent from the result).

        Args:
            keys: Request keys.
            with_messages: Rebuild each record's message list (set False for speed when the caller has them).
        """
        keys = list(dict.fromkeys(keys))
        records: dict[str, ResponseRecord] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT {_RECORD_COLUMNS} FROM responses WHERE key IN ({marks})", chunk
            ).fetchall()
            first_tags = self._first_tags(chunk)
            for row in rows:
                record = self._record_from_row(row, first_tags.get(row[0], {}), with_messages)
                records[record.key] = record
        return records

    def final_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` stored with a final answer (anything but ``error``)."""
        keys = list(dict.fromkeys(keys))
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key FROM responses WHERE key IN ({marks}) AND finish_reason != 'error'", chunk
            )
            found.update(row[0] for row in rows)
        return found

    def messages(self, conversation_id: str) -> list[Message]:
        """Rebuild a stored conversation from its last message node."""
        chain: list[Message] = []
        node: str | None = conversation_id
        while node:
            row = self._db.execute("SELECT parent, role, content FROM messages WHERE id = ?", (node,)).fetchone()
            if row is None:
                raise KeyError(f"{self.path}: message node {node} is missing; the store is damaged")
            chain.append({"role": row[1], "content": row[2]})
            node = row[0]
        chain.reverse()
        return chain

    def run_info(self, run_info_id: str) -> dict[str, Any]:
        """The run info stored under ``run_info_id`` ({} if unknown)."""
        if run_info_id not in self._run_info_cache:
            row = self._db.execute("SELECT info FROM run_info WHERE id = ?", (run_info_id,)).fetchone()
            self._run_info_cache[run_info_id] = json.loads(row[0]) if row else {}
        return self._run_info_cache[run_info_id]

    def to_dataframe(self, stage: str | None = None, include_messages: bool = False) -> pd.DataFrame:
        """All responses as a table, one row per (response, tag set), tags expanded into columns.

        Args:
            stage: Keep only rows tagged with this stage (``dialogue``, ``benchmark``, ``judge``).
            include_messages: Also add a ``messages`` column with each full message list (slow for long runs).

        Returns:
            Columns ``key, created, backend, model, sampling, text, prompt_tokens, completion_tokens,
            finish_reason, error, run_info_id`` plus one column per tag name.
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
        rows = self._db.execute(query, params).fetchall()
        base_columns = [
            "key", "created", "backend", "model", "sampling", "conversation", "text", "prompt_tokens",
            "completion_tokens", "finish_reason", "error", "run_info_id",
        ]
        table = pd.DataFrame([row[:-1] for row in rows], columns=base_columns)
        tag_table = pd.DataFrame([json.loads(row[-1]) if row[-1] else {} for row in rows], index=table.index)
        clashing = [name for name in tag_table.columns if name in base_columns]
        tag_table = tag_table.rename(columns={name: f"tag_{name}" for name in clashing})
        table = pd.concat([table, tag_table], axis=1)
        table["sampling"] = table["sampling"].map(json.loads)
        if include_messages:
            table["messages"] = table["conversation"].map(self.messages)
        return table.drop(columns="conversation")

    def keys(
        self,
        *,
        backend: str | None = None,
        model: str | None = None,
        stages: Sequence[str] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> list[str]:
        """Stored keys matching every given filter (in storage order).

        Args:
            backend: The response's backend.
            model: The response's model.
            stages: Keep keys requested under at least one tag set whose ``stage`` is one of these.
            tags: Keep keys requested under a tag set holding all these values (in the same tag set as the stage).

        Example:
            ``store.keys(stages=["judge"], tags={"model_under_test": "m"})``: the judge calls about model ``m``.
        """
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
        return [row[0] for row in self._db.execute(query + " ORDER BY r.rowid", params)]

    # ----------------------------------------------------------------------------------------------- writing
    def merge_from(self, source: ResponseStore | str | Path, keys: Iterable[str] | None = None) -> MergeReport:
        """Union another store into this one, by key, in one durable transaction.

        Copied for each selected key: the response (unless this store holds a final answer for it), the message
        nodes of its conversation, its run info and every tag set. A key final in both stores with a different
        text or finish reason is a conflict: this store's answer is kept and the conflict is returned, never
        dropped silently. A final answer replaces a stored ``error``. Merging the same source again changes
        nothing.

        Args:
            source: The other store (or its SQLite file); it is only read.
            keys: The keys to take (default: all of the source's); keys the source lacks are ignored.

        Returns:
            What was added, replaced, identical and in conflict.
        """
        path = Path(source.path if isinstance(source, ResponseStore) else source)
        if not path.is_file():
            raise FileNotFoundError(f"no response store at {path}")
        if path.resolve() == self.path.resolve():
            raise ValueError(f"cannot merge the store {path} into itself")
        db = self._db
        db.execute("ATTACH DATABASE ? AS src", (str(path),))
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
            return self._merge_selected(str(path))
        finally:
            db.execute("DETACH DATABASE src")

    def _merge_selected(self, source: str) -> MergeReport:
        db = self._db
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
                f"INSERT INTO main.responses ({_RECORD_COLUMNS}) SELECT {_RECORD_COLUMNS} FROM src.responses "
                "WHERE key IN (SELECT key FROM temp.merge_keys) ORDER BY rowid "
                "ON CONFLICT(key) DO UPDATE SET created=excluded.created, text=excluded.text, "
                "prompt_tokens=excluded.prompt_tokens, completion_tokens=excluded.completion_tokens, "
                "finish_reason=excluded.finish_reason, error=excluded.error, run_info_id=excluded.run_info_id "
                "WHERE responses.finish_reason = 'error' AND excluded.finish_reason != 'error'"
            )
            cursor.execute(
                "INSERT OR IGNORE INTO main.tags (key, stage, tags) SELECT key, stage, tags FROM src.tags "
                "WHERE key IN (SELECT key FROM temp.merge_keys) ORDER BY rowid"
            )
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        return MergeReport(source, selected, added, replaced, identical, conflicts)

    def put_run_info(self, info: dict[str, Any]) -> str:
        """Store a run-info entry (idempotent) and return its id (hash of its canonical JSON)."""
        return self._run_info_id(self._db.cursor(), info) or ""

    def put_many(self, records: Sequence[ResponseRecord]) -> int:
        """Store records in one durable transaction.

        A key already stored with a final answer is left untouched (no duplicates, first answer wins); a key
        stored as an ``error`` is replaced. The record's tag set is added to the key's tag sets in every case.

        Args:
            records: Records to store.

        Returns:
            The number of response rows written (inserted or replacing an error).
        """
        written = 0
        cursor = self._db.cursor()
        run_info_ids: dict[int, str | None] = {}
        try:
            cursor.execute("BEGIN IMMEDIATE")
            for record in records:
                if id(record.run_info) not in run_info_ids:
                    run_info_ids[id(record.run_info)] = self._run_info_id(cursor, record.run_info)
                run_info_id = run_info_ids[id(record.run_info)]
                conversation = self._put_messages(cursor, record.messages)
                cursor.execute(
                    f"INSERT INTO responses ({_RECORD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT(key) DO UPDATE SET created=excluded.created, text=excluded.text, "
                    "prompt_tokens=excluded.prompt_tokens, completion_tokens=excluded.completion_tokens, "
                    "finish_reason=excluded.finish_reason, error=excluded.error, "
                    "run_info_id=excluded.run_info_id WHERE responses.finish_reason = 'error'",
                    (
                        record.key, record.created or _now(), record.backend, record.model,
                        canonical_json(record.sampling), conversation, record.text, record.prompt_tokens,
                        record.completion_tokens, record.finish_reason, record.error, run_info_id,
                    ),
                )
                written += cursor.rowcount
                self._put_tags(cursor, record.key, record.tags)
            cursor.execute("COMMIT")
        except sqlite3.Error as err:
            self._roll_back()
            self._raise_translated(err, self._committed())
        except BaseException:
            self._roll_back()
            raise
        return written

    def add_tags(self, tagged_keys: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Record extra tag sets for keys that are already stored (one transaction)."""
        cursor = self._db.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            for key, tags in tagged_keys:
                self._put_tags(cursor, key, tags)
            cursor.execute("COMMIT")
        except sqlite3.Error as err:
            self._roll_back()
            self._raise_translated(err, self._committed())
        except BaseException:
            self._roll_back()
            raise

    def copy_rows(
        self,
        responses: Iterable[Sequence[Any]],
        tags: Iterable[Sequence[Any]],
        messages: Iterable[Sequence[Any]],
        run_info: Iterable[Sequence[Any]],
    ) -> None:
        """Insert raw table rows (columns in schema order) in one transaction; rows already present are kept.

        Used by :func:`persona_lib.store.salvage_store` to rebuild a store from the rows of a damaged one.
        """
        statements = (
            (f"INSERT OR IGNORE INTO responses ({_RECORD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", responses),
            ("INSERT OR IGNORE INTO tags (key, stage, tags) VALUES (?, ?, ?)", tags),
            ("INSERT OR IGNORE INTO messages (id, parent, role, content) VALUES (?, ?, ?, ?)", messages),
            ("INSERT OR IGNORE INTO run_info (id, created, info) VALUES (?, ?, ?)", run_info),
        )
        cursor = self._db.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            for statement, rows in statements:
                cursor.executemany(statement, rows)
            cursor.execute("COMMIT")
        except sqlite3.Error as err:
            self._roll_back()
            self._raise_translated(err, None)
        except BaseException:
            self._roll_back()
            raise

    def _raise_translated(self, err: sqlite3.Error, committed: int | None) -> None:
        """Re-raise a SQLite failure as the store error a user can act on (unchanged if there is none)."""
        translated = translate_sqlite_error(err, self.path, committed)
        if translated is None:
            raise err
        raise translated from err

    def _roll_back(self) -> None:
        """Undo the open transaction (SQLite may already have rolled it back itself, e.g. on a full disk)."""
        self._known_nodes.clear()
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _committed(self) -> int | None:
        """Answers committed so far (``None`` when even reading fails)."""
        try:
            return len(self)
        except sqlite3.Error:
            return None

    # ----------------------------------------------------------------------------------------------- helpers
    def _first_tags(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        marks = ",".join("?" * len(keys))
        first: dict[str, dict[str, Any]] = {}
        for key, tags in self._db.execute(
            f"SELECT key, tags FROM tags WHERE key IN ({marks}) ORDER BY rowid", keys
        ):
            first.setdefault(key, json.loads(tags))
        return first

    def _record_from_row(self, row: tuple, tags: dict[str, Any], with_messages: bool) -> ResponseRecord:
        (key, created, backend, model, sampling, conversation, text, prompt_tokens, completion_tokens,
         finish_reason, error, run_info_id) = row
        return ResponseRecord(
            key=key, backend=backend, model=model, sampling=json.loads(sampling),
            messages=self.messages(conversation) if with_messages else None, tags=tags, text=text,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, finish_reason=finish_reason, error=error,
            run_info=self.run_info(run_info_id) if run_info_id else {}, created=created,
        )

    def _run_info_id(self, cursor: sqlite3.Cursor, info: dict[str, Any]) -> str | None:
        if not info:
            return None
        text = canonical_json(info)
        run_info_id = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        cursor.execute(
            "INSERT OR IGNORE INTO run_info (id, created, info) VALUES (?, ?, ?)", (run_info_id, _now(), text)
        )
        return run_info_id

    def _put_messages(self, cursor: sqlite3.Cursor, messages: Sequence[Message]) -> str:
        if len(self._known_nodes) > 1_000_000:
            self._known_nodes.clear()
        parent: str | None = None
        for message in messages:
            memo_key = (parent, message["role"], message["content"])
            node = self._known_nodes.get(memo_key)
            if node is None:
                node = _message_id(parent, message)
                cursor.execute(
                    "INSERT OR IGNORE INTO messages (id, parent, role, content) VALUES (?, ?, ?, ?)",
                    (node, parent, message["role"], message["content"]),
                )
                self._known_nodes[memo_key] = node
            parent = node
        return parent or ""

    @staticmethod
    def _put_tags(cursor: sqlite3.Cursor, key: str, tags: dict[str, Any]) -> None:
        cursor.execute(
            "INSERT OR IGNORE INTO tags (key, stage, tags) VALUES (?, ?, ?)",
            (key, tags.get("stage"), canonical_json(tags)),
        )
