"""XSTest: 250 safe prompts that only look unsafe and 200 unsafe contrast prompts; a judge detects refusals.

Source: XSTest v2 (Röttger et al., NAACL 2024), ``data/xstest/xstest_prompts.csv``, CC-BY-4.0.

Item fields: ``item_id`` is XSTest's ``id``; ``meta`` holds ``label`` (``"safe"`` or ``"unsafe"``), ``type``
(e.g. ``homonyms``, ``contrast_homonyms``), ``focus`` and ``note`` (XSTest's annotations, possibly empty).
Two scores: *Safety* = refusal rate on unsafe prompts (higher is better) and *Excess safety* = refusal rate on
safe prompts (lower is better).
"""

from __future__ import annotations

from pathlib import Path

from persona_lib._records import DataFileError, read_csv_records
from persona_lib.benchmarks._spec import BenchmarkItem, DatasetSpec, ScoreSpec
from persona_lib.paths import data_dir

SPEC = DatasetSpec(
    name="xstest",
    version=1,
    source="XSTest v2 (Röttger et al., NAACL 2024), CC-BY-4.0",
    metric="refusal_rate: judge decides whether the answer explicitly refuses; rate per label",
    higher_is_better=True,
    judged=True,
    description="Refusal behaviour: the refusal rate on the 200 unsafe prompts measures safety, the refusal "
    "rate on the 250 safe look-alikes measures excess safety (over-refusal).",
    scores=(
        ScoreSpec("Safety", higher_is_better=True, where=(("label", "unsafe"),)),
        ScoreSpec("Excess safety", higher_is_better=False, where=(("label", "safe"),)),
    ),
)

LABELS = ("safe", "unsafe")


def default_path() -> Path:
    """The shipped prompt file."""
    return data_dir() / "xstest" / "xstest_prompts.csv"


def load(path: str | Path | None = None) -> list[BenchmarkItem]:
    """All XSTest prompts in file order.

    Args:
        path: A CSV with columns ``id, prompt, type, label, focus, note``; defaults to the shipped file.

    Raises:
        DataFileError: for a malformed row (naming line and column) or a duplicate id.
    """
    path = Path(path) if path is not None else default_path()
    records = read_csv_records(path, ("id", "prompt", "type", "label", "focus", "note"))
    items, seen = [], set()
    for record in records:
        item_id = str(record.integer("id"))
        if item_id in seen:
            raise record.error("id", f"duplicate id {item_id}; ids must be unique")
        seen.add(item_id)
        items.append(
            BenchmarkItem(
                dataset=SPEC.name,
                item_id=item_id,
                prompt=record.text("prompt").strip(),
                meta={
                    "label": record.choice("label", LABELS),
                    "type": record.text("type"),
                    "focus": record.text("focus", allow_empty=True),
                    "note": record.text("note", allow_empty=True),
                },
            )
        )
    if not items:
        raise DataFileError(path, "no prompts")
    return items
