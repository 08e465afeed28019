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
"""

from persona_lib.store._complete import (
    Request,
    complete_groups,
    complete_requests,
    make_run_info,
)
from persona_lib.store._keys import canonical_json, request_key, request_keys
from persona_lib.store._sqlite import MergeConflict, MergeReport, ResponseRecord, ResponseStore

__all__ = [
    "MergeConflict",
    "MergeReport",
    "Request",
    "ResponseRecord",
    "ResponseStore",
    "canonical_json",
    "complete_groups",
    "complete_requests",
    "make_run_info",
    "request_key",
    "request_keys",
]
