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
    RunLock / RunLockedError / read_lock: one run at a time per run folder.
"""

from persona_lib.store._complete import (
    Request,
    complete_groups,
    complete_requests,
    make_run_info,
)
from persona_lib.store._errors import StoreDamagedError, StoreError, StoreWriteError
from persona_lib.store._health import StoreHealth, inspect_store, salvage_into_place, salvage_store
from persona_lib.store._keys import canonical_json, request_key, request_keys
from persona_lib.store._lock import LockHolder, RunLock, RunLockedError, read_lock
from persona_lib.store._sqlite import MergeConflict, MergeReport, ResponseRecord, ResponseStore

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
    "StoreError",
    "StoreHealth",
    "StoreWriteError",
    "canonical_json",
    "complete_groups",
    "complete_requests",
    "inspect_store",
    "make_run_info",
    "read_lock",
    "request_key",
    "request_keys",
    "salvage_into_place",
    "salvage_store",
]
