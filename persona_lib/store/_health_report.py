"""What an inspection of a store file found: :class:`StoreHealth`, a plain record that depends on nothing else.

It sits at the bottom of the store package so that :class:`~persona_lib.store.StoreDamagedError` can carry it
without the errors depending on the code that inspects a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TABLES: tuple[str, ...] = ("responses", "tags", "messages", "run_info")
"""The store's tables, in the order a health report lists them."""
MAX_REPORTED_PROBLEMS = 5
"""At most this many integrity-check messages are collected and shown."""


@dataclass(frozen=True)
class StoreHealth:
    """The state of a store file, found without writing to it.

    Attributes:
        path: The store file.
        ok: True when the file is a sound SQLite database (or does not exist yet).
        problems: What the integrity check (or opening the file) reported; empty when ``ok``.
        readable_rows: Rows that still read, per table (``responses``, ``tags``, ``messages``, ``run_info``).
        complete_answers: Final answers (not errors) whose whole conversation still reads: what a salvage keeps.
    """

    path: Path
    ok: bool
    problems: tuple[str, ...] = ()
    readable_rows: dict[str, int] = field(default_factory=dict)
    complete_answers: int = 0

    def describe(self) -> str:
        """A message for the user: what is wrong, what can be recovered, and how."""
        if self.ok:
            return f"{self.path}: the response store is sound"
        return f"{self.damage()}. {self.recovery()}"

    def damage(self) -> str:
        """What is wrong with the file."""
        return f"{self.path} is damaged ({'; '.join(self.problems[:MAX_REPORTED_PROBLEMS])})"

    def recovery(self) -> str:
        """What still reads, and how to keep it."""
        rows = ", ".join(f"{self.readable_rows.get(table, 0):,} {table}" for table in TABLES)
        return (
            f"The file was not modified. Rows that still read: {rows}; {self.complete_answers:,} answers have their "
            f"whole conversation and can be recovered. To keep them, run `persona-eval salvage --run "
            f"{self.path.parent}`: it copies them into a new store, keeps the damaged file next to it (renamed "
            "responses.damaged-<time>.sqlite), and the next run recomputes only what was lost"
        )
