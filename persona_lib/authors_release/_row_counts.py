"""Each verdict file's row count against the items this project asks for its dataset and persona.

A release file holds one row per item the study asked (or per dialogue turn). This project ships the study's own
items for BFI (44 statements), XSTest (450 prompts) and the dialogues (102 turns), so a different count there means
a truncated or odd file. For RoleBench's role-specific questions it ships a substitute: 50 per character, where the
study asked all of a character's questions (197 for HAL 9000). A count above ours there is expected, and says on how
many fewer items this project's own runs estimate the same win rate. RoleBench's general instructions are not shipped
(the user supplies them), so their files have nothing to be checked against.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import pandas as pd

from persona_lib.datasets import get_dataset
from persona_lib.dialogues import SCRIPT_ROUNDS
from persona_lib.personas import BASELINE

#: Columns of :func:`row_count_report`.
ROW_COUNT_COLUMNS = ["path", "dataset", "condition", "reference_persona", "rows", "asked_here", "status", "meaning"]
#: Datasets whose shipped items stand in for a larger set the study asked.
SUBSTITUTE_ITEM_SETS = ("rolebench_specific",)


@cache
def _shipped_counts(dataset: str) -> tuple[int, dict[str, int]] | None:
    """(all items, items per character) of a dataset's shipped file; ``None`` if its items are not shipped."""
    spec = get_dataset(dataset)
    if spec.load is None or spec.user_file_hint is not None:
        return None
    items = spec.load(None)
    return len(items), dict(Counter(item.persona for item in items if item.persona))


def items_asked_here(dataset: str, condition: str, reference_persona: str | None, is_dialogue: bool) -> int | None:
    """How many items (or turns) this project asks for one release file's dataset and persona; ``None`` if its
    items are not shipped."""
    if is_dialogue:
        return SCRIPT_ROUNDS
    counts = _shipped_counts(dataset)
    if counts is None:
        return None
    total, per_character = counts
    if not get_dataset(dataset).per_character:
        return total
    character = reference_persona if condition == BASELINE else condition
    return per_character.get(character, 0) if character else total


def _status(dataset: str, rows: int, asked: int | None) -> tuple[str, str]:
    if asked is None:
        return "not checked", "this project does not ship these items (the user supplies them)"
    if rows == asked:
        return "as asked here", ""
    base = get_dataset(dataset).same_items_as or dataset
    if base in SUBSTITUTE_ITEM_SETS and rows > asked:
        return "study asked more", (
            f"the study asked {rows} items where this project ships a substitute of {asked}: its own runs estimate "
            "this win rate on fewer items"
        )
    return "unexpected", f"{rows} rows where {asked} items are asked: a truncated or odd file"


def row_count_report(items: pd.DataFrame) -> pd.DataFrame:
    """One row per verdict file: rows read, items this project asks for it, and what a difference means.

    Args:
        items: Judged items (:func:`~persona_lib.authors_release.judged_items`, or a digest's).

    Returns:
        Columns :data:`ROW_COUNT_COLUMNS`; ``status`` is ``as asked here``, ``study asked more`` (a substitute item
        set), ``unexpected`` or ``not checked``.
    """
    if items.empty:
        return pd.DataFrame(columns=ROW_COUNT_COLUMNS)
    files = items.groupby("path", sort=True).agg(
        dataset=("dataset", "first"),
        condition=("condition", "first"),
        reference_persona=("reference_persona", "first"),
        replicate=("replicate", "first"),
        rows=("item", "size"),
    )
    rows = []
    for path, file in files.iterrows():
        is_dialogue = isinstance(file.replicate, str)  # dialogue files name their replicate
        asked = items_asked_here(file.dataset, file.condition, file.reference_persona, is_dialogue)
        status, meaning = _status(file.dataset, int(file.rows), asked)
        rows.append((path, file.dataset, file.condition, file.reference_persona, file.rows, asked, status, meaning))
    report = pd.DataFrame(rows, columns=ROW_COUNT_COLUMNS)
    return report.astype({"rows": int, "asked_here": "Int64"})
