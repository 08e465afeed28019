"""BFI: the 44 Big Five Inventory items as open questions, answered in character and rated by a judge.

Items come from InCharacter's open-question rewrite of the BFI-44 (``data/bfi/bfi44_items.csv``, flattened from
InCharacter's ``BFI.json``); the item texts are (c) O. P. John and free for non-commercial research only.

Item fields: ``prompt`` is the open question (``question_en``, e.g. "Are you talkative?"); ``meta`` holds
``item`` (1-44), ``dimension`` (Extraversion, Agreeableness, Conscientiousness, Neuroticism, Openness),
``reverse_scored`` (True for minus-keyed items) and ``statement`` (the original BFI statement).
"""

from __future__ import annotations

from pathlib import Path

from persona_lib._records import DataFileError, read_csv_records
from persona_lib.benchmarks._spec import BenchmarkItem, DatasetSpec, ScoreSpec
from persona_lib.paths import data_dir
from persona_lib.personas import BFI_DIMENSIONS

SPEC = DatasetSpec(
    name="bfi",
    version=1,
    source="InCharacter (Wang et al., ACL 2024) open-question BFI-44; items (c) O. P. John, non-commercial research",
    metric="bfi_error: judge rates the trait level (1-5) per item; mean per dimension; mean absolute error to "
    "the character's InCharacter labels / 4",
    higher_is_better=False,
    judged=True,
    description="The 44 BFI items asked as open questions; a judge rates how strongly each answer expresses the "
    "item's Big-Five trait, and the per-dimension profile is compared with InCharacter's ground truth. Defined "
    "only for labelled characters (Gaston, Michael Scott, Blair Waldorf, Lestat de Lioncourt).",
    scores=(ScoreSpec("BFI error", higher_is_better=False),),
)

N_ITEMS = 44


def default_path() -> Path:
    """The shipped item file."""
    return data_dir() / "bfi" / "bfi44_items.csv"


def load(path: str | Path | None = None) -> list[BenchmarkItem]:
    """The BFI-44 items in item order.

    Args:
        path: An item CSV with columns ``item, statement_en, question_en, dimension, reverse_scored``;
            defaults to the shipped file.

    Raises:
        DataFileError: for a malformed row (naming line and column), or a file without exactly 44 items.
    """
    path = Path(path) if path is not None else default_path()
    columns = ("item", "statement_en", "question_en", "dimension", "reverse_scored")
    items = []
    for record in read_csv_records(path, columns):
        number = record.integer("item")
        items.append(
            BenchmarkItem(
                dataset=SPEC.name,
                item_id=str(number),
                prompt=record.text("question_en").strip(),
                meta={
                    "item": number,
                    "dimension": record.choice("dimension", BFI_DIMENSIONS),
                    "reverse_scored": record.flag01("reverse_scored"),
                    "statement": record.text("statement_en").strip(),
                },
            )
        )
    if len(items) != N_ITEMS or len({item.item_id for item in items}) != N_ITEMS:
        raise DataFileError(path, f"expected {N_ITEMS} distinct items, got {len(items)} rows")
    return items
