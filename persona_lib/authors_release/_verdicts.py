"""Judge outputs of the authors' release -> one parsed verdict per item, with every fallback counted.

Each ``metrics/`` file is a one-column CSV (column named after its folder) with the judge's full output per item,
in item order: BFI item order for ``bfi``, XSTest order for ``xstest``, the persona's RoleBench questions for the
pairwise folders and the dialogue turns for the fidelity criteria.

Verdicts are read with this project's parsers (:func:`persona_lib.judging.parse_likert`, ``parse_pairwise``,
``parse_binary``), which read the Selene judge's ``**Result:** <value>`` line as they read ``RESULT: <value>``.
Flow-Judge writes ``<score>N</score>`` instead; the last such block is handed to the Likert parser as its result
line. Where the study replaced an unreadable verdict, so do we, and say so in ``status``:

* pairwise (``instruction_*``): a seeded random ``A``/``B`` (``status="fallback"``); the seed is derived from
  ``seed``, the file and the item, so it does not depend on the order files are read in;
* Likert ratings of dialogue turns: the first ``score of <1-5>`` in the text (``status="fallback"``);
* BFI and XSTest: none, an unreadable verdict stays ``unparsed`` (the study's extraction had no fallback there).

Nothing is dropped: unparsed items keep their row with ``value`` NaN and the reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from persona_lib.authors_release._names import DIALOGUE_FOLDERS, FOLDERS, ReleaseFile
from persona_lib.datasets.rolebench import reference_position
from persona_lib.judging import ParsedVerdict, parse_binary, parse_likert, parse_pairwise, study_fallback
from persona_lib.paths import data_dir
from persona_lib.personas import DataFileError

ITEM_COLUMNS: list[str] = [
    "path", "folder", "dataset", "criterion", "judge", "model", "kind", "condition", "reference_persona",
    "checkpoint", "replicate", "reference", "item", "verdict", "status", "reason", "value", "dimension", "label",
]
_FLOW_SCORE = re.compile(r"<score>\s*(?P<value>.*?)\s*</score>", re.IGNORECASE | re.DOTALL)


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


def _flow_result(text: str) -> str | None:
    matches = list(_FLOW_SCORE.finditer(text or ""))
    return f"RESULT: {matches[-1]['value']}" if matches else None


def parse_verdict(text: str, release_file: ReleaseFile, item: int, *, seed: int = 0) -> ParsedVerdict:
    """Parse one judge output of ``release_file`` with the study's fallbacks (see the module docstring).

    Args:
        text: The judge's output.
        release_file: The file it comes from (gives the judge, the verdict kind and the fallbacks).
        item: The item's position in the file.
        seed: Base seed of the pairwise fallback.
    """
    kind = FOLDERS[release_file.folder][1]
    if release_file.judge and "flow-judge" in release_file.judge.lower():
        result_line = _flow_result(text)
        if result_line is None:
            return ParsedVerdict(value=None, status="unparsed", reason="no '<score>' block")
        text = result_line
    if kind == "pairwise":
        return parse_pairwise(text, fallback_seed=item_seed(seed, release_file.path, item))
    if kind == "binary":
        return parse_binary(text)
    verdict = parse_likert(text)
    if verdict.status == "unparsed" and release_file.folder in DIALOGUE_FOLDERS:
        return study_fallback("score_of", text, verdict, seed=seed)
    return verdict


def _value(verdict: ParsedVerdict, kind: str, item: int) -> float:
    """Likert: the rating (1-5); pairwise: 1 if the model's answer won, 0 if the reference did; binary: 1 = refusal."""
    if verdict.value is None:
        return np.nan
    if kind == "pairwise":
        return 0.0 if verdict.value == reference_position(item) else 1.0
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
    file_fields = ["path", "folder", "dataset", "criterion", "judge", "model", "kind", "condition",
                   "reference_persona", "replicate", "reference"]
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
