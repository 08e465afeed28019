"""Reading a unit back from stores without a model: a backend that never generates, over a read-only union of stores.

The run's own generation and scoring code, given a :class:`ReplayBackend` and a :class:`ReplayStore`, rebuilds the
tables of whatever is stored (dialogues, answers, scores) and marks whatever is not: a request nobody has answered
comes back as an ``error`` completion whose message is :data:`NOT_STORED`, kept in memory only. This is how
``study status`` counts what is done from the stores alone, how ``study merge`` writes each run's tables, and how a
judge worker gets a unit's answers.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from persona_lib.config import ModelConfig
from persona_lib.contract import Completion, Conversation, SamplingParams
from persona_lib.store import ResponseRecord, ResponseStore

NOT_STORED = "not stored yet: no worker has answered this request"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Hide the progress bars and warnings (e.g. checkpoints skipped after a missing round) that the generation code
    prints while a unit is replayed or run by a pool worker; errors still raise."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


class ReplayBackend:
    """A backend with a model's name that answers nothing: every request it is sent is missing from the stores.

    Args:
        config: The model's configuration; ``name`` and ``model`` (hence every request key) are the real
            backend's.

    Attributes:
        missing: How many requests it was sent (none were stored).
    """

    def __init__(self, config: ModelConfig) -> None:
        self.name = config.backend
        self.model = config.model
        self.missing = 0

    def generate(self, conversations: list[Conversation], params: SamplingParams) -> list[Completion]:
        """One ``error`` completion (:data:`NOT_STORED`) per conversation."""
        self.missing += len(conversations)
        return [Completion("", 0, 0, "error", error=NOT_STORED) for _ in conversations]

    def version_info(self) -> dict[str, str]:
        """Marks anything recorded through it as a replay."""
        return {"backend": self.name, "model": self.model, "note": "replay of stored answers; nothing generated"}


class ReplayStore:
    """Read-only union of response stores; records written to it stay in memory.

    A key is answered if any store holds a final answer for it (the first such store in order wins); the
    ``NOT_STORED`` records a :class:`ReplayBackend` produces are kept in memory, so replaying changes no file.

    Args:
        stores: Stores or SQLite paths, in order of preference (missing paths are skipped).
    """

    def __init__(self, stores: Iterable[ResponseStore | str | Path]) -> None:
        self.stores: list[ResponseStore] = []
        for store in stores:
            if isinstance(store, ResponseStore):
                self.stores.append(store)
            elif Path(store).is_file():
                self.stores.append(ResponseStore(store))
        self._memory: dict[str, ResponseRecord] = {}

    @property
    def path(self) -> str:
        """The stores read, for messages."""
        return " + ".join(str(store.path) for store in self.stores) or "(no store)"

    def final_keys(self, keys: Iterable[str]) -> set[str]:
        """Keys any store holds a final answer for."""
        keys = list(keys)
        found: set[str] = set()
        for store in self.stores:
            found |= store.final_keys(key for key in keys if key not in found)
        return found

    def get_many(self, keys: Iterable[str], with_messages: bool = True) -> dict[str, ResponseRecord]:
        """The stored record of each key (a final one when any store has it), else the in-memory one."""
        keys = list(dict.fromkeys(keys))
        records: dict[str, ResponseRecord] = {}
        for store in self.stores:
            wanted = [key for key in keys if key not in records or not records[key].final]
            for key, record in store.get_many(wanted, with_messages=with_messages).items():
                if key not in records or record.final:
                    records[key] = record
        for key in keys:
            if key not in records and key in self._memory:
                records[key] = self._memory[key]
        return records

    def put_many(self, records: Sequence[ResponseRecord]) -> int:
        """Keep records in memory (nothing is written)."""
        self._memory.update((record.key, record) for record in records)
        return len(records)

    def add_tags(self, tagged_keys: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Nothing to do: a replay adds no tags."""

    def close(self) -> None:
        """Close every store."""
        for store in self.stores:
            store.close()
