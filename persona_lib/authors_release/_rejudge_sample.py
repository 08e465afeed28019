"""Sampling the authors' released answers to re-judge: which items, with their query, answer and released verdict.

Used by :mod:`persona_lib.authors_release._rejudge`; the sampling rules are described there.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from persona_lib.authors_release._clone import PRIMARY_JUDGE, CloneError, metric_files
from persona_lib.authors_release._names import DIALOGUE_FOLDERS, ReleaseFile
from persona_lib.authors_release._verdicts import read_judge_outputs
from persona_lib.datasets import BenchmarkItem, get_dataset
from persona_lib.dialogues import SCRIPT_ROUNDS
from persona_lib.personas import DataFileError

REJUDGED_DATASETS: tuple[str, ...] = ("fidelity", "bfi", "xstest")
"""The datasets whose released answers can be re-judged offline."""


NOT_REJUDGED: dict[str, str] = {
    name: "the study's questions and reference answers come from RoleBench's per-role files on a model hub, "
    "which the release does not contain"
    for name in ("rolebench_specific", "rolebench_general")
}
"""Judged datasets that are not re-judged, and why."""


SAMPLE_COLUMNS: list[str] = [
    "dataset",
    "criterion",
    "path",
    "generation",
    "model",
    "kind",
    "condition",
    "reference_persona",
    "checkpoint",
    "replicate",
    "item",
    "query",
    "response",
    "authors_judgement",
]


def generation_path(release_file: ReleaseFile) -> str:
    """The ``generations/`` file holding the answers a ``metrics/`` file judged (relative to the clone).

    ``metrics/bfi/<judge>/<model>/bfi_empty_0.json.csv`` -> ``generations/<model>/bfi_empty_0.json``;
    ``metrics/knowledge/<judge>/<model>/interview_empty.json-Gaston.csv`` -> ``generations/<model>/
    interview_empty.json``.
    """
    name = PurePosixPath(release_file.path).name
    return f"generations/{release_file.model}/{name[: name.index('.json') + len('.json')]}"


class _ReleaseTexts:
    """The judge outputs and answers of a clone, each file read once and only when asked for."""

    def __init__(self, root: Path, items: dict[str, list[BenchmarkItem]]) -> None:
        self.root = root
        self.items = items
        self._outputs: dict[str, list[str]] = {}
        self._answers: dict[str, list[tuple[str | None, str | None]]] = {}

    def outputs(self, release_file: ReleaseFile) -> list[str]:
        if release_file.path not in self._outputs:
            self._outputs[release_file.path] = read_judge_outputs(self.root / release_file.path, release_file.folder)
        return self._outputs[release_file.path]

    def answers(self, release_file: ReleaseFile) -> list[tuple[str | None, str | None]]:
        """(query, answer) per row: the dialogue's turns, or each item's prompt with the model's answer."""
        relative = generation_path(release_file)
        if relative not in self._answers:
            path = self.root / relative
            content = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(content, list):
                raise DataFileError(path, "expected a JSON list")
            if release_file.is_dialogue:
                self._answers[relative] = _turns(content, path)
            else:
                if not all(answer is None or isinstance(answer, str) for answer in content):
                    raise DataFileError(path, "expected a JSON list of answers (strings, or null where none)")
                prompts = [item.prompt for item in self.items[release_file.dataset]]
                self._answers[relative] = list(zip(prompts, content))
        return self._answers[relative]

    def record(self, release_file: ReleaseFile, position: int) -> dict[str, Any] | None:
        """The sample row of one (file, row), or ``None`` when the judge output or a non-empty answer is missing."""
        outputs, answers = self.outputs(release_file), self.answers(release_file)
        if position >= len(outputs) or position >= len(answers):
            return None
        query, response = answers[position]
        if not query or not isinstance(response, str) or not response.strip():
            return None
        return {
            "dataset": release_file.dataset,
            "criterion": release_file.criterion,
            "path": release_file.path,
            "generation": generation_path(release_file),
            "model": release_file.model,
            "kind": release_file.kind,
            "condition": release_file.condition,
            "reference_persona": release_file.reference_persona,
            "checkpoint": release_file.checkpoint,
            "replicate": release_file.replicate,
            "item": position,
            "query": query,
            "response": response,
            "authors_judgement": outputs[position],
        }


def _turns(messages: list, path: Path) -> list[tuple[str | None, str | None]]:
    for index, message in enumerate(messages):
        expected = "user" if index % 2 == 0 else "assistant"
        if not isinstance(message, dict) or message.get("role") != expected:
            raise DataFileError(
                path,
                f"message {index} should be a {expected!r} message (user and assistant "
                "messages alternate, the user first)",
            )
    contents = [message.get("content") for message in messages]
    return [(contents[i], contents[i + 1] if i + 1 < len(contents) else None) for i in range(0, len(contents), 2)]


def _judged_files(root: Path, dataset: str, judge: str, judged: list[ReleaseFile]) -> list[ReleaseFile]:
    """The files of ``judged`` (the judge's ``metrics/`` files) that hold ``dataset`` and whose answers exist."""
    folders = get_dataset(dataset).release_folders
    for folder in folders:
        if not (root / "metrics" / folder / judge).is_dir():
            raise CloneError(
                f"{root / 'metrics' / folder / judge}: incomplete clone, this folder is missing; it "
                f"holds the {judge} verdicts for '{folder}'"
            )
    files = [file for file in judged if file.folder in folders]
    with_answers = [file for file in files if (root / generation_path(file)).is_file()]
    if not with_answers:
        missing = sorted({generation_path(file) for file in files})
        listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CloneError(
            f"{root}: nothing to sample for {dataset!r}: "
            + (
                f"no answer file for any of its {len(files)} judge-output files; missing: {listed}"
                if files
                else f"no judge-output .csv file under metrics/{{{','.join(folders)}}}/{judge}/"
            )
        )
    return with_answers


def _valid_records(files: Sequence[ReleaseFile], slots: int, seed: str, texts: _ReleaseTexts) -> Iterator[dict]:
    """The valid (file, row) records of ``files`` in a seeded random order (``slots`` candidate rows per file)."""
    total = len(files) * slots
    for index in random.Random(seed).sample(range(total), total):
        record = texts.record(files[index // slots], index % slots)
        if record is not None:
            yield record


def _study_items() -> dict[str, list[BenchmarkItem]]:
    return {name: get_dataset(name).load(None) for name in ("bfi", "xstest")}


def _check_request(datasets: Sequence[str], per_dataset: int) -> None:
    unknown = [name for name in datasets if name not in REJUDGED_DATASETS]
    if unknown:
        why = "; ".join(f"{name}: {NOT_REJUDGED[name]}" for name in unknown if name in NOT_REJUDGED)
        raise ValueError(
            f"cannot re-judge {unknown}; choose from {list(REJUDGED_DATASETS)}" + (f" ({why})" if why else "")
        )
    if per_dataset < 1:
        raise ValueError(f"the sample size per dataset must be at least 1, got {per_dataset}")


def _sample_records(
    root: Path,
    per_dataset: int,
    seed: int,
    datasets: Sequence[str],
    judge: str,
    items: dict[str, list[BenchmarkItem]],
) -> list[dict[str, Any]]:
    """The sampled records of :func:`sample_release_items` (plain Python values), in the table's order."""
    _check_request(datasets, per_dataset)
    texts = _ReleaseTexts(root, items)
    judged = metric_files(root, judges=(judge,))
    records: list[dict[str, Any]] = []
    for dataset in datasets:
        files = _judged_files(root, dataset, judge, judged)
        slots = SCRIPT_ROUNDS if dataset == "fidelity" else len(items[dataset])
        strata = [c for c in (*DIALOGUE_FOLDERS, None) if any(file.criterion == c for file in files)]
        streams = [
            _valid_records(
                [file for file in files if file.criterion == stratum], slots, f"{seed}/{dataset}/{stratum}", texts
            )
            for stratum in strata
        ]
        taken = _round_robin(streams, per_dataset)
        if not taken:
            raise CloneError(
                f"{root}: nothing to sample for {dataset!r}: its {len(files)} answer file(s) hold no "
                "non-empty answer to a judged row"
            )
        records += taken
    order = {name: position for position, name in enumerate(REJUDGED_DATASETS)}
    criteria = {criterion: position for position, criterion in enumerate((None, *DIALOGUE_FOLDERS))}
    return sorted(records, key=lambda r: (order[r["dataset"]], criteria[r["criterion"]], r["path"], r["item"]))


def _sample_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=SAMPLE_COLUMNS).astype({"checkpoint": "Int64", "item": int})


def sample_release_items(
    root: str | Path,
    per_dataset: int,
    *,
    seed: int = 0,
    datasets: Sequence[str] = REJUDGED_DATASETS,
    judge: str = PRIMARY_JUDGE,
) -> pd.DataFrame:
    """A seeded sample of the release's judged items, ``per_dataset`` of each dataset (fewer if fewer exist).

    Args:
        root: The clone's top folder.
        per_dataset: Items per dataset; fidelity's are dealt round-robin over its three criteria.
        seed: The sampling seed (the same clone, seed and size always give the same sample).
        datasets: Some of :data:`REJUDGED_DATASETS`.
        judge: Whose released verdicts to compare with (a ``metrics/<folder>/`` sub-folder).

    Returns:
        One row per sampled item (columns :data:`SAMPLE_COLUMNS`), sorted by dataset, criterion, file and row:
        where it comes from (``path`` of the judge outputs, ``generation`` of the answers, their fields), ``item``
        (the row: the item's position, or the dialogue turn), the judged ``query`` and ``response``, and the
        authors' judge output.

    Raises:
        ValueError: for a dataset that cannot be re-judged or a size below 1.
        CloneError: naming the missing folder, or the missing answer files when a dataset has nothing to sample.
    """
    return _sample_table(_sample_records(Path(root), per_dataset, seed, datasets, judge, _study_items()))


def _round_robin(streams: list[Iterator[dict]], limit: int) -> list[dict]:
    """Up to ``limit`` records, one from each stream in turn, skipping streams that run dry."""
    taken: list[dict] = []
    live = list(streams)
    while live and len(taken) < limit:
        for stream in list(live):
            if len(taken) == limit:
                break
            record = next(stream, None)
            if record is None:
                live.remove(stream)
            else:
                taken.append(record)
    return taken
