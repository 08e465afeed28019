"""The resumable response store: every model answer, content-addressed, in one SQLite file per run.

Public API:
    ResponseStore: the SQLite store (``get``, ``get_many``, ``put_many``, ``to_dataframe``, ``in``, ``len``,
        ``keys`` and ``merge_from`` to union stores written by separate workers).
    MergeReport, MergeConflict: what a merge did, and every key two stores answered differently.
    ResponseRecord: one stored answer.
    Request: messages + tags; ``Request.key(backend, params)``.
    request_key: the key of a request (sha256 of backend, model, sampling and messages).
    request_keys: the keys of many requests, hashing shared message prefixes once.
    complete_requests / complete_groups: send what is not stored yet, batch by batch, durably.
    make_run_info: the provenance stored with each answer.
    StoreError, StoreWriteError, StoreDamagedError: a store that cannot be written (full disk, read-only
        folder) or is damaged; the messages say what to do.
    inspect_store / salvage_store / salvage_into_place / StoreHealth: check a store without writing to it; copy
        what still reads.
    connect_read_only: open a store file for reading only (no write, not even to its WAL).
    RunLock / RunLockedError / read_lock / is_stale: one run at a time per run folder.
    compare_stores / StoreComparison / first_difference: two runs of one configuration, request by request (did two
        backends send and answer the same?).

Modules, lowest first (each imports only modules listed before it): ``_health_report`` (the StoreHealth
record), ``_schema`` (tables), ``_keys``, ``_lock``; ``_errors``; ``_sqlite_file`` (read-only access, integrity
check); ``_health`` (inspection); ``_connection`` (opening for writing, SQLite failures as store errors);
``_record``; ``_reads``, ``_writes``, ``_merge``; ``_store`` (ResponseStore); ``_salvage``, ``_complete``,
``_compare``.
"""

from persona_lib.store._compare import StoreComparison, compare_stores, first_difference
from persona_lib.store._complete import (
    Request,
    complete_groups,
    complete_requests,
    make_run_info,
)
from persona_lib.store._errors import StoreDamagedError, StoreError, StoreWriteError
from persona_lib.store._health import inspect_store
from persona_lib.store._health_report import StoreHealth
from persona_lib.store._keys import canonical_json, request_key, request_keys
from persona_lib.store._lock import LockHolder, RunLock, RunLockedError, is_stale, read_lock
from persona_lib.store._merge import MergeConflict, MergeReport
from persona_lib.store._record import ResponseRecord
from persona_lib.store._salvage import salvage_into_place, salvage_store
from persona_lib.store._sqlite_file import connect_read_only
from persona_lib.store._store import ResponseStore

__all__ = [
    "LockHolder",
    "MergeConflict",
    "MergeReport",
    "Request",
    "ResponseRecord",
    "ResponseStore",
    "RunLock",
    "RunLockedError",
    "StoreDamagedError",
    "StoreComparison",
    "StoreError",
    "StoreHealth",
    "StoreWriteError",
    "canonical_json",
    "compare_stores",
    "complete_groups",
    "complete_requests",
    "connect_read_only",
    "first_difference",
    "inspect_store",
    "is_stale",
    "make_run_info",
    "read_lock",
    "request_key",
    "request_keys",
    "salvage_into_place",
    "salvage_store",
]
