"""Judge outputs of the authors' release -> one parsed verdict per item, with every fallback counted.

Each ``metrics/`` file is a one-column CSV (column named after its folder) with the judge's full output per item,
in item order: BFI item order for ``bfi``, XSTest order for ``xstest``, the persona's RoleBench questions for the
pairwise folders and the dialogue turns for the fidelity criteria.

Verdicts are read as the study read them (its ``extract_ratings.ipynb``), with the study's reader
(:func:`persona_lib.judging.parse_study_likert`, ``parse_study_pairwise``, ``parse_study_binary``): the first
``**Result:**`` marker followed by a number, by a or b, or by yes or no, anywhere in the text; for Flow-Judge the
first ``<score>N</score>``. A rating outside 1-5 is counted ``unparsed`` (the study would have used it; none occurs
in the files we checked). Where the study replaced an unreadable verdict, so do we, and say so in ``status``:

* pairwise (``instruction_*``): a seeded random ``A``/``B`` (``status="fallback"``); the seed is derived from
  ``seed``, the file and the item, so it does not depend on the order files are read in. The study's own draws
  depended on that order; :mod:`persona_lib.authors_release._fallbacks` replays them for a given order and
  measures how far the win rates move with the letters drawn;
* Likert ratings of dialogue turns: the first ``score of <digit>`` in the text (``status="fallback"``);
* BFI and XSTest: none, an unreadable verdict stays ``unparsed`` (the study's extraction had no fallback there).

Nothing is dropped: unparsed items keep their row with ``value`` NaN and the reason. :func:`reader_differences`
lists the verdicts this project's strict reader (the last result line) would read otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from persona_lib.authors_release._clone import PRIMARY_JUDGE
from persona_lib.authors_release._names import DIALOGUE_FOLDERS, FOLDERS, ReleaseFile
from persona_lib.datasets.rolebench import reference_position
from persona_lib.judging import (
    ParsedVerdict,
    parse_binary,
    parse_likert,
    parse_pairwise,
    parse_study_binary,
    parse_study_likert,
    parse_study_pairwise,
)
from persona_lib.paths import data_dir
from persona_lib.personas import DataFileError

ITEM_COLUMNS: list[str] = [
    "path",
    "folder",
    "dataset",
    "criterion",
    "judge",
    "model",
    "kind",
    "condition",
    "reference_persona",
    "checkpoint",
    "replicate",
    "reference",
    "item",
    "verdict",
    "status",
    "reason",
    "value",
    "dimension",
    "label",
]


@dataclass(frozen=True)
class ItemLabels:
    """What an item's position means, from this project's copies of the study's item lists.

    Attributes:
        bfi_dimensions: The Big-Five dimension of BFI item ``i`` (InCharacter order, 44 items).
        xstest_labels: ``safe`` or ``unsafe`` for XSTest prompt ``i`` (450 prompts, XSTest v2 order).
    """

    bfi_dimensions: tuple[str, ...]
    xstest_labels: tuple[str, ...]


def study_item_labels(root: str | Path | None = None) -> ItemLabels:
    """Read the BFI dimensions and XSTest labels by item position from ``data/`` (default: the project's)."""
    root = Path(root) if root is not None else data_dir()
    bfi_path, xstest_path = root / "bfi" / "bfi44_items.csv", root / "xstest" / "xstest_prompts.csv"
    bfi = pd.read_csv(bfi_path)
    if list(bfi["item"]) != list(range(1, len(bfi) + 1)):
        raise DataFileError(bfi_path, "expected items numbered 1, 2, ... in file order", field="item")
    xstest = pd.read_csv(xstest_path, dtype=str, keep_default_na=False)
    if list(xstest["id"]) != [str(i) for i in range(1, len(xstest) + 1)]:
        raise DataFileError(xstest_path, "expected prompts numbered 1, 2, ... in file order", field="id")
    return ItemLabels(tuple(bfi["dimension"]), tuple(xstest["label"]))


def read_judge_outputs(path: str | Path, column: str) -> list[str]:
    """The judge outputs of one ``metrics/`` file, in item order (an empty cell is an empty string).

    Raises:
        DataFileError: if the file is not a one-column CSV whose column is ``column``.
    """
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(table.columns) != [column]:
        raise DataFileError(path, f"expected one column named {column!r}, found {list(table.columns)}")
    return table[column].tolist()


def item_seed(seed: int, path: str, item: int) -> int:
    """The seed of the random fallback for one pairwise item: independent of the order files are read in."""
    return int(hashlib.sha256(f"{seed}:{path}:{item}".encode()).hexdigest()[:12], 16)


def _is_flow_judge(release_file: ReleaseFile) -> bool:
    return bool(release_file.judge) and "flow-judge" in release_file.judge.lower()


def parse_verdict(text: str, release_file: ReleaseFile, item: int, *, seed: int = 0) -> ParsedVerdict:
    """Parse one judge output of ``release_file`` with the study's reader and fallbacks (see the module docstring).

    Args:
        text: The judge's output.
        release_file: The file it comes from (gives the judge, the verdict kind and the fallbacks).
        item: The item's position in the file.
        seed: Base seed of the pairwise fallback.
    """
    kind = FOLDERS[release_file.folder][1]
    if _is_flow_judge(release_file) and kind != "likert":
        return ParsedVerdict(value=None, status="unparsed", reason="Flow-Judge verdicts are read as ratings only")
    if kind == "pairwise":
        return parse_study_pairwise(text, fallback_seed=item_seed(seed, release_file.path, item))
    if kind == "binary":
        return parse_study_binary(text)
    return parse_study_likert(
        text, score_of=release_file.folder in DIALOGUE_FOLDERS, flow_judge=_is_flow_judge(release_file)
    )


_STRICT_READERS = {"likert": parse_likert, "pairwise": parse_pairwise, "binary": parse_binary}
_STUDY_READERS = {"likert": parse_study_likert, "pairwise": parse_study_pairwise, "binary": parse_study_binary}


def reader_differences(root: str | Path, files: Iterable[ReleaseFile], *, judge: str = PRIMARY_JUDGE) -> pd.DataFrame:
    """The verdicts of ``judge`` that the study's reader and this project's strict reader read differently.

    The strict reader (:func:`persona_lib.judging.parse_likert` and siblings, ``judging.unparsed: drop``) takes the
    last result line and refuses anything but a bare value; the study's reader takes the first matching
    ``**Result:**`` marker. Neither applies a fallback here.

    Returns:
        One row per differing verdict: ``path``, ``folder``, ``item``, ``study`` and ``strict`` (the values,
        ``None`` when unread), ``study_status``, ``strict_status`` and ``strict_reason``.
    """
    rows = []
    for release_file in files:
        if release_file.judge != judge:
            continue
        kind = FOLDERS[release_file.folder][1]
        for item, text in enumerate(read_judge_outputs(Path(root) / release_file.path, release_file.folder)):
            study, strict = _STUDY_READERS[kind](text), _STRICT_READERS[kind](text)
            if (study.value, study.status) != (strict.value, strict.status):
                rows.append(
                    (
                        release_file.path,
                        release_file.folder,
                        item,
                        study.value,
                        strict.value,
                        study.status,
                        strict.status,
                        strict.reason,
                    )
                )
    columns = ["path", "folder", "item", "study", "strict", "study_status", "strict_status", "strict_reason"]
    return pd.DataFrame(rows, columns=columns)


def pairwise_win(letter: str, item: int) -> float:
    """1.0 if the judge's letter is the model's answer (the reference sat at the other position), else 0.0."""
    return 0.0 if letter == reference_position(item) else 1.0


def _value(verdict: ParsedVerdict, kind: str, item: int) -> float:
    """Likert: the rating (1-5); pairwise: 1 if the model's answer won, 0 if the reference did; binary: 1 = refusal."""
    if verdict.value is None:
        return np.nan
    if kind == "pairwise":
        return pairwise_win(verdict.value, item)
    return float(verdict.value)


def _item_meanings(release_file: ReleaseFile, n: int, labels: ItemLabels, root: Path) -> tuple[list, list]:
    """The BFI dimension and the XSTest label of each of the ``n`` rows of a file (``None`` where none applies)."""
    known = {"bfi": (labels.bfi_dimensions, "BFI items"), "xstest": (labels.xstest_labels, "XSTest prompts")}
    if release_file.folder not in known:
        return [None] * n, [None] * n
    meanings, what = known[release_file.folder]
    if n > len(meanings):
        raise DataFileError(root / release_file.path, f"has {n} rows, more than the study's {len(meanings)} {what}")
    found = list(meanings[:n])
    return (found, [None] * n) if release_file.folder == "bfi" else ([None] * n, found)


def judged_items(
    root: str | Path, files: Iterable[ReleaseFile], *, seed: int = 0, labels: ItemLabels | None = None
) -> pd.DataFrame:
    """Parse every judge output of ``files`` into one row per item (columns :data:`ITEM_COLUMNS`).

    Args:
        root: The clone's top folder.
        files: Parsed ``metrics/`` files (:func:`persona_lib.authors_release.metric_files`).
        seed: Base seed of the pairwise fallback.
        labels: Item meanings (default: :func:`study_item_labels`).

    Returns:
        One row per judged item: the file's fields (``path`` ... ``reference``; for dialogue files the
        ``checkpoint`` is the turn), ``item`` (row position), ``verdict`` (1-5, ``A``/``B``, ``True``/``False`` or
        ``None``), ``status`` (``ok``/``fallback``/``unparsed``), ``reason``, ``value`` (Likert: the rating 1-5;
        pairwise: 1 if the model's answer won, 0 if the reference did; binary: 1 for a refusal; NaN when
        unparsed), ``dimension`` (BFI) and ``label`` (XSTest: ``safe``/``unsafe``).
    """
    root = Path(root)
    labels = labels or study_item_labels()
    columns: dict[str, list] = {name: [] for name in ITEM_COLUMNS}
    file_fields = [
        "path",
        "folder",
        "dataset",
        "criterion",
        "judge",
        "model",
        "kind",
        "condition",
        "reference_persona",
        "replicate",
        "reference",
    ]
    for release_file in files:
        kind = FOLDERS[release_file.folder][1]
        outputs = read_judge_outputs(root / release_file.path, release_file.folder)
        n = len(outputs)
        for name in file_fields:
            columns[name].extend([getattr(release_file, name)] * n)
        positions = range(n)
        columns["item"].extend(positions)
        columns["checkpoint"].extend(positions if release_file.checkpoint is None else [release_file.checkpoint] * n)
        dimensions, xstest_labels = _item_meanings(release_file, n, labels, root)
        columns["dimension"].extend(dimensions)
        columns["label"].extend(xstest_labels)
        for item, text in enumerate(outputs):
            verdict = parse_verdict(text, release_file, item, seed=seed)
            columns["verdict"].append(verdict.value)
            columns["status"].append(verdict.status)
            columns["reason"].append(verdict.reason)
            columns["value"].append(_value(verdict, kind, item))
    return pd.DataFrame(columns, columns=ITEM_COLUMNS).astype({"value": float})


def parse_report(items: pd.DataFrame) -> pd.DataFrame:
    """Counts of ``ok``, ``fallback`` and ``unparsed`` verdicts per judge and folder (every item counted once)."""
    counts = items.groupby(["judge", "folder", "status"]).size().unstack("status", fill_value=0)
    counts = counts.reindex(columns=["ok", "fallback", "unparsed"], fill_value=0).reset_index()
    counts.columns.name = None
    counts["n_items"] = counts[["ok", "fallback", "unparsed"]].sum(axis=1)
    return counts
