"""The layout of a response store: one SQLite file holding every answer a run has obtained.

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

Stores written by earlier versions have exactly this schema: change it only with a migration.
"""

from __future__ import annotations

SCHEMA = """
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
"""The tables and index of a store (idempotent: run on every open)."""

RECORD_COLUMNS = (
    "key, created, backend, model, sampling, conversation, text, prompt_tokens, completion_tokens, "
    "finish_reason, error, run_info_id"
)
"""The columns of the ``responses`` table, in schema order."""
