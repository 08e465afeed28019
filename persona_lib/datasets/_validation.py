"""The study's human-validation samples: 50 human-rated judge inputs per judged dataset (``data/released``).

Each judged dataset names its file and how to read its texts in its :class:`~persona_lib.datasets.ValidationSpec`;
this module reads what all the files share. The ``role`` column names the study's source file, e.g.
``interview_Blair_Waldorf_shuffle.json.csv`` or ``bfi_Gaston_22.json.csv``: it gives the character, the
checkpoint (round) and, for dialogues, the replicate. ``idx`` is the item's position in that file and ``Rating``
the human label: 1–5 (Likert), ``A``/``B`` (pairwise: the better answer) or ``Yes``/``No`` (binary).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from persona_lib._records import DataFileError, Record, read_csv_records
from persona_lib.datasets._spec import DatasetSpec, LabelKind
from persona_lib.paths import released_dir
from persona_lib.personas import STUDY_PERSONAS

_ROUND_SUFFIX = re.compile(r"_(\d+)$")
_TEXT_COLUMNS: dict[LabelKind, tuple[str, ...]] = {
    "likert": ("output",),
    "pairwise": ("responseA", "responseB"),
    "binary": ("output",),
}


@dataclass(frozen=True)
class ValidationSample:
    """One human-rated judge input from the study's validation sample.

    Attributes:
        dataset: The registered dataset it validates.
        sample_id: ``<file>:<line>`` — unique and stable.
        persona: The character (spaces restored, e.g. ``Blair Waldorf``).
        checkpoint: Round in the study's source file name (``None`` for dialogue turns, whose file names have
            none).
        replicate: ``original`` or ``shuffled`` (dialogue turns; ``original`` otherwise).
        index: The ``idx`` column (position of the item in the study's source file).
        label_kind: ``likert``, ``pairwise`` or ``binary``.
        criterion: The fidelity criterion (``knowledge``, ``style``, ``in_character``) or ``None``.
        dimension: The BFI item's Big-Five dimension or ``None``.
        query: The user message or item.
        response: The judged answer (Likert and binary datasets).
        response_a: Answer A (pairwise datasets).
        response_b: Answer B (pairwise datasets).
        human: The human label: 1–5, ``"A"``/``"B"``, or ``True`` (refusal) / ``False``.
    """

    dataset: str
    sample_id: str
    persona: str
    checkpoint: int | None
    replicate: str
    index: int
    label_kind: LabelKind
    criterion: str | None
    dimension: str | None
    query: str
    response: str | None
    response_a: str | None
    response_b: str | None
    human: int | str | bool


def message_content(record: Record, column: str, role: str) -> str:
    """The ``content`` of a chat message stored as a Python dict literal (``{'role': ..., 'content': ...}``).

    Raises:
        DataFileError: naming the file, line and column when the cell is not such a message of ``role``.
    """
    text = record.text(column, allow_empty=True)
    try:
        message = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):  # TypeError: e.g. {[]: 1}
        raise record.error(column, "expected a Python dict literal {'role': ..., 'content': ...}") from None
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        raise record.error(column, "expected a dict with a string 'content'")
    if message.get("role") != role:
        raise record.error(column, f"expected a {role!r} message, got role {message.get('role')!r}")
    return message["content"]


def plain_texts(record: Record, kind: LabelKind) -> dict[str, str | None]:
    """The query and the judged answer(s) of a sample stored as plain text (every dataset but dialogue turns)."""
    if kind == "pairwise":
        return {
            "query": record.text("input"),
            "response_a": record.text("responseA", allow_empty=True),
            "response_b": record.text("responseB", allow_empty=True),
        }
    return {"query": record.text("input"), "response": record.text("output", allow_empty=True)}


def _human_label(record: Record, kind: LabelKind) -> int | str | bool:
    if kind == "likert":
        value = record.integer("Rating")
        if not 1 <= value <= 5:
            raise record.error("Rating", f"expected an integer from 1 to 5, got {value}")
        return value
    if kind == "pairwise":
        return record.choice("Rating", ("A", "B"))
    return record.choice("Rating", ("Yes", "No")) == "Yes"


def _source(record: Record, prefix: str) -> tuple[str, int | None, str]:
    name = record.text("role")
    if not (name.startswith(prefix + "_") and name.endswith(".json.csv")):
        raise record.error("role", f"expected a source file name like '{prefix}_<Character>[_<round>].json.csv'")
    body = name[len(prefix) + 1 :].removesuffix(".json.csv")
    shuffled = body.endswith("_shuffle")
    body = body.removesuffix("_shuffle")
    known = set(STUDY_PERSONAS)
    checkpoint = None
    round_match = _ROUND_SUFFIX.search(body)
    if body.replace("_", " ") not in known and round_match:  # a name may end in digits: "HAL_9000"
        checkpoint = int(round_match.group(1))
        body = body[: round_match.start()]
    persona = body.replace("_", " ")
    if persona not in known:
        raise record.error("role", f"character {persona!r} is not a known persona ({sorted(known)})")
    return persona, checkpoint, "shuffled" if shuffled else "original"


def load_validation_samples(spec: DatasetSpec, path: str | Path | None = None) -> list[ValidationSample]:
    """Read one dataset's human-validation sample.

    Args:
        spec: A registered dataset with a ``validation`` spec.
        path: The CSV file (default: ``data/released/<spec.validation.file>``).

    Returns:
        The samples in file order.

    Raises:
        ValueError: for a dataset without human labels.
        DataFileError: for a missing file or a malformed row (naming the file, line and column).
    """
    if spec.validation is None:
        raise ValueError(f"dataset {spec.name!r} has no human-validation sample")
    validation = spec.validation
    path = Path(path) if path is not None else released_dir() / validation.file
    columns = ["role", "idx", "input", *_TEXT_COLUMNS[validation.label_kind], "Rating"]
    samples = []
    for record in read_csv_records(path, columns):
        persona, checkpoint, replicate = _source(record, validation.file_prefix)
        fields = {"criterion": None, "dimension": None, "response": None, "response_a": None, "response_b": None}
        fields.update(validation.read_fields(record))
        samples.append(
            ValidationSample(
                dataset=spec.name,
                sample_id=f"{path.name}:{record.where.removeprefix('line ')}",
                persona=persona,
                checkpoint=checkpoint,
                replicate=replicate,
                index=record.integer("idx"),
                label_kind=validation.label_kind,
                human=_human_label(record, validation.label_kind),
                **fields,
            )
        )
    if not samples:
        raise DataFileError(path, "no data rows")
    return samples


def validation_identity(sample: ValidationSample, metric: str) -> dict:
    """The identity fields of the scores row of a judged validation sample (dataset ``validation_<name>``)."""
    return {
        "condition": sample.persona,
        "persona": sample.persona,
        "kind": None,
        "checkpoint": sample.checkpoint,
        "replicate": sample.replicate,
        "dataset": f"validation_{sample.dataset}",
        "metric": metric,
        "item_id": sample.sample_id,
        "dimension": sample.dimension,
        "reference_position": None,
    }
