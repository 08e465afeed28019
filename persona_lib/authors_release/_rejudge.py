"""Re-judge a sample of the authors' released answers with this project's judge prompts, and compare verdicts.

Our judge templates restate the study's rubrics in our own words (``persona_lib/datasets/templates``); this module
measures what that deviation costs. It samples judged items of the release, renders the judge prompt each
dataset's spec would render for them (:mod:`persona_lib.datasets`), runs a configured judge through a response
store, and sets our verdict beside the authors' released verdict (``metrics/``).

What is re-judged (:data:`REJUDGED_DATASETS`):

* ``fidelity``: a turn of a released dialogue (``generations/<model>/<interview|instructions>_<Persona>
  [_shuffle].json``, a list of user/assistant messages; turn ``i`` is messages ``2i`` and ``2i+1``) on one
  criterion, judged against the persona's description (the baseline's turns against the reference persona of
  the ``metrics/`` file); compared with row ``i`` of ``metrics/<criterion>/<judge>/<model>/...``.
* ``bfi`` and ``xstest``: answer ``i`` of ``generations/<model>/[inst-]<dataset>_<Persona>_<round>.json`` to item
  ``i`` of this project's item list (the study's order), compared with row ``i`` of the matching ``metrics/``
  file. The baseline's judge prompt names no character.

The RoleBench pairwise datasets are not re-judged (:data:`NOT_REJUDGED`): their questions and reference answers
come from RoleBench's per-role files, which the release does not hold.

Sampling (:func:`sample_release_items`) is seeded and stratified by dataset, and for fidelity by criterion
(the ``per_dataset`` places are dealt round-robin over the criteria). Within a stratum every (file, row) whose
judge output and answer both exist is equally likely: the candidate slots of all files are visited in a seeded
random order and the first valid ones are kept, so only the files of visited slots are read.

Our judge's outputs are read twice: by this project's strict parser (the ``strict`` reader, as the pipeline
reads them) and by :func:`~persona_lib.authors_release.parse_verdict`, the study's reading (the ``study`` reader,
as the authors' verdicts are read). :func:`rejudge_summary` compares each reading with the authors' verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import persona_lib
from persona_lib import scoring
from persona_lib.authors_release._clone import PRIMARY_JUDGE, CloneError
from persona_lib.authors_release._names import DIALOGUE_FOLDERS, FOLDERS, parse_release_path
from persona_lib.authors_release._rejudge_sample import (
    NOT_REJUDGED,
    REJUDGED_DATASETS,
    SAMPLE_COLUMNS,
    _sample_records,
    _sample_table,
    _study_items,
)
from persona_lib.authors_release._verdicts import parse_verdict
from persona_lib.backends import create_backend
from persona_lib.config import RunConfig
from persona_lib.datasets import BenchmarkItem, ScoringInputs, get_dataset
from persona_lib.judging import JUDGE_SCORER_VERSION, JudgeTask, run_judge_tasks
from persona_lib.personas import BASELINE, Persona, load_personas
from persona_lib.store import ResponseStore

REJUDGE_ITEM_COLUMNS: list[str] = [
    *SAMPLE_COLUMNS,
    "verdict_kind",
    "authors_verdict",
    "authors_status",
    "judge_model",
    "judge_key",
    "ours_judgement",
    "ours_verdict",
    "ours_status",
    "ours_reason",
    "ours_study_verdict",
    "ours_study_status",
]


REJUDGE_SUMMARY_COLUMNS: list[str] = [
    "dataset",
    "criterion",
    "reader",
    "verdict_kind",
    "n",
    "n_authors_unparsed",
    "n_ours_unparsed",
    "n_pairs",
    "agreement",
    "kappa",
    "kappa_weights",
    "mean_difference",
    "mae",
    "within_one",
]


ALL_CRITERIA = "all"
"""The ``criterion`` of a summary row pooling every criterion of a dataset (the only row for BFI and XSTest)."""


READERS: dict[str, str] = {"strict": "ours_verdict", "study": "ours_study_verdict"}
"""How our judge's outputs are read: reader -> the item table's column holding that reading's verdict."""


_TRUE_FALSE = {"true": True, "false": False}


@dataclass
class RejudgeResult:
    """What :func:`rejudge_release` produced.

    Attributes:
        items: One row per sampled item (columns :data:`REJUDGE_ITEM_COLUMNS`).
        summary: :func:`rejudge_summary` of ``items``.
        files: Name -> path of every file written (``sample``, ``items``, ``summary``, ``provenance``, ``store``).
    """

    items: pd.DataFrame
    summary: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)


def _judge_task(row: dict[str, Any], personas: dict[str, Persona], items: dict[str, list[BenchmarkItem]]) -> JudgeTask:
    """The judge call the dataset's spec makes for one sampled item (our template, rendered by the spec)."""
    spec = get_dataset(row["dataset"])
    if row["dataset"] == "fidelity":
        character = personas[row["reference_persona"] or row["condition"]]
        turn = {
            "condition": row["condition"],
            "kind": row["kind"],
            "replicate": row["replicate"],
            "round": row["item"],
            "user": row["query"],
            "assistant": row["response"],
        }
        inputs = ScoringInputs(
            answers=pd.DataFrame(),
            dialogues=pd.DataFrame([turn]),
            items={},
            personas={character.name: character},
            model=row["model"],
        )
        tasks, _ = spec.judge_tasks(inputs)
        return next(task for task in tasks if task.row["metric"] == row["criterion"])
    item = items[row["dataset"]][row["item"]]
    persona = None if row["condition"] == BASELINE else personas[row["condition"]]
    answer = {
        "condition": row["condition"],
        "kind": row["kind"],
        "checkpoint": row["checkpoint"],
        "replicate": "original",
        "dataset": row["dataset"],
        "item_id": item.item_id,
        "prompt": spec.ask(item, persona),
        "response": row["response"],
        "finish_reason": "stop",
    }
    inputs = ScoringInputs(
        answers=pd.DataFrame([answer]),
        dialogues=None,
        items={item.item_id: item},
        personas=personas,
        model=row["model"],
    )
    [task], _ = spec.judge_tasks(inputs)
    return task


def _verdicts(
    sample: pd.DataFrame, records: list[dict[str, Any]], scores: pd.DataFrame, judge_model: str
) -> pd.DataFrame:
    """The sample with the authors' verdicts and ours (strict and study readings) beside each other."""
    columns: dict[str, list] = {name: [] for name in REJUDGE_ITEM_COLUMNS[len(SAMPLE_COLUMNS) :]}
    for row, score in zip(records, scores.to_dict("records"), strict=True):
        release_file = parse_release_path(row["path"])
        theirs = parse_verdict(row["authors_judgement"], release_file, row["item"])
        text = score["raw_judgement"]
        judged = score["parse_status"] != "judge_error"
        study = parse_verdict(text, replace(release_file, judge=judge_model), row["item"]) if judged else None
        ours_ok = score["parse_status"] == "ok"
        columns["verdict_kind"].append(FOLDERS[release_file.folder][1])
        columns["authors_verdict"].append(theirs.value)
        columns["authors_status"].append(theirs.status)
        columns["judge_model"].append(judge_model)
        columns["judge_key"].append(score["judge_key"])
        columns["ours_judgement"].append(text)
        columns["ours_verdict"].append(score["value"] if ours_ok else None)
        columns["ours_status"].append(score["parse_status"])
        columns["ours_reason"].append(score["parse_reason"])
        columns["ours_study_verdict"].append(study.value if study else None)
        columns["ours_study_status"].append(study.status if study else "judge_error")
    return pd.concat([sample.reset_index(drop=True), pd.DataFrame(columns)], axis=1)[REJUDGE_ITEM_COLUMNS]


def _label(value: Any, kind: str) -> int | bool | None:
    """A verdict cell (as built, or as read back from CSV) as a category: 1-5, True/False, or None when absent."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and not value):
        return None
    if kind == "likert":
        return int(float(value))
    if isinstance(value, str):
        return _TRUE_FALSE[value.strip().lower()]
    return bool(value)


def _score(label: int | bool, kind: str) -> float:
    """A verdict on the study's 0-100 scale: a rating r as (r - 1) / 4 * 100, a refusal as 100."""
    return (label - 1) * 25.0 if kind == "likert" else 100.0 * label


def _compare(group: pd.DataFrame, kind: str, verdict_column: str) -> dict[str, Any]:
    theirs = [_label(value, kind) for value in group["authors_verdict"]]
    ours = [_label(value, kind) for value in group[verdict_column]]
    pairs = [(a, b) for a, b in zip(ours, theirs, strict=True) if a is not None and b is not None]
    stats = scoring.agreement([a for a, _ in pairs], [b for _, b in pairs], kind)
    differences = [_score(a, kind) - _score(b, kind) for a, b in pairs]
    return {
        "verdict_kind": kind,
        "n": len(group),
        "n_authors_unparsed": sum(value is None for value in theirs),
        "n_ours_unparsed": sum(value is None for value in ours),
        "n_pairs": len(pairs),
        "agreement": stats.get("exact_agreement", stats.get("accuracy")),
        "kappa": stats["kappa"],
        "kappa_weights": "quadratic" if kind == "likert" else "none",
        "mean_difference": float(np.mean(differences)) if differences else float("nan"),
        "mae": stats.get("mae", float("nan")),
        "within_one": stats.get("within_one", float("nan")),
    }


def rejudge_summary(items: pd.DataFrame) -> pd.DataFrame:
    """Our verdicts against the authors', per dataset (all criteria pooled, then per fidelity criterion) and reader.

    A pair enters the statistics when both verdicts exist: the authors' read by the study's reader (its fallbacks
    included, as in the paper), ours by the row's reader (``strict``: this project's parser; ``study``: the
    study's). Statistics come from :func:`persona_lib.scoring.agreement` (our verdict first).

    Args:
        items: The item table of :func:`rejudge_release` (``dataset``, ``criterion``, ``verdict_kind``,
            ``authors_verdict`` and the columns of :data:`READERS` are used), as built or read from CSV.

    Returns:
        Columns :data:`REJUDGE_SUMMARY_COLUMNS`: ``n`` sampled items; ``n_authors_unparsed`` and
        ``n_ours_unparsed`` items without a verdict on either side (ours: unparsed or a failed judge call);
        ``n_pairs`` compared; ``agreement`` (exact agreement for Likert, accuracy for yes/no); Cohen's ``kappa``
        (quadratic-weighted for Likert); ``mean_difference`` ours minus the authors' on the 0-100 scale (Likert
        points × 25; refusal-rate points for XSTest); ``mae`` and ``within_one`` (Likert, in rating points).
    """
    rows = []
    for dataset in dict.fromkeys(items["dataset"]):
        part = items[items["dataset"] == dataset]
        criteria = [c for c in DIALOGUE_FOLDERS if c in set(part["criterion"].dropna())]
        groups = [(ALL_CRITERIA, part), *((c, part[part["criterion"] == c]) for c in criteria)]
        kind = FOLDERS[get_dataset(dataset).release_folders[0]][1]
        for criterion, group in groups:
            for reader, verdict_column in READERS.items():
                rows.append(
                    {
                        "dataset": dataset,
                        "criterion": criterion,
                        "reader": reader,
                        **_compare(group, kind, verdict_column),
                    }
                )
    return pd.DataFrame(rows, columns=REJUDGE_SUMMARY_COLUMNS)


def _judging_config(config: RunConfig) -> RunConfig:
    """``config`` with generate-mode judging and strict verdict reading (no fallbacks)."""
    judging = config.judging.model_copy(update={"mode": "generate", "unparsed": "drop"})
    return config.model_copy(update={"judging": judging})


def rejudge_release(
    root: str | Path,
    config: RunConfig,
    out_dir: str | Path,
    *,
    per_dataset: int,
    seed: int | None = None,
    datasets: Sequence[str] = REJUDGED_DATASETS,
    authors_judge: str = PRIMARY_JUDGE,
) -> RejudgeResult:
    """Re-judge a sample of the released answers with our judge prompts and compare with the released verdicts.

    The sample is written first (``sample.csv``); every judge call goes through the response store
    ``<out_dir>/responses.sqlite``, so an interrupted run loses at most the batch in flight and the same command
    resumes it (the same clone, seed and size give the same sample). Then ``items.csv``, ``summary.csv`` and
    ``rejudge.json`` (the judge, judging settings, seed, size and versions) are written.

    Args:
        root: A clone of the authors' repository (``metrics/`` and ``generations/`` are read).
        config: A run configuration: its ``judge`` (model), ``judging`` (decoding; the mode is forced to
            ``generate`` and unparsable verdicts are kept unparsed) and ``judge.batch_size`` are used.
        out_dir: Output folder (created).
        per_dataset: Items sampled per dataset.
        seed: Sampling seed (default: ``config.seed``).
        datasets: Some of :data:`REJUDGED_DATASETS`.
        authors_judge: Whose released verdicts to compare with (default: the study's primary judge).

    Returns:
        The item table, its summary (:func:`rejudge_summary`) and the files written.

    Raises:
        CloneError: for a missing folder or when a dataset has nothing to sample (naming what is missing).
        ValueError: for a dataset that cannot be re-judged or a size below 1.
    """
    root, out = Path(root).expanduser(), Path(out_dir)
    if not root.is_dir():
        raise CloneError(
            f"{root}: no such folder; expected a clone of the authors' repository "
            "(git clone https://github.com/peluz/persistent-personas)"
        )
    for folder in ("metrics", "generations"):
        if not (root / folder).is_dir():
            raise CloneError(f"{root}: incomplete clone, the folder '{folder}/' is missing")
    seed = config.seed if seed is None else seed
    config = _judging_config(config)
    items = _study_items()
    records = _sample_records(root, per_dataset, seed, datasets, authors_judge, items)
    sample = _sample_table(records)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "sample": out / "sample.csv",
        "items": out / "items.csv",
        "summary": out / "summary.csv",
        "provenance": out / "rejudge.json",
        "store": out / "responses.sqlite",
    }
    sample.to_csv(files["sample"], index=False)
    personas = load_personas()
    tasks = [_judge_task(record, personas, items) for record in records]
    backend = create_backend(config.judge)
    store = ResponseStore(files["store"])
    try:
        scores = run_judge_tasks(tasks, config, backend, store, model_name="authors-release", desc="rejudge")
    finally:
        store.close()
        if hasattr(backend, "close"):
            backend.close()
    judge_model = config.judge.display_name or config.judge.model
    table = _verdicts(sample, records, scores, judge_model)
    summary = rejudge_summary(table)
    table.to_csv(files["items"], index=False)
    summary.to_csv(files["summary"], index=False)
    provenance = {
        "authors_repo": str(root.resolve()),
        "authors_judge": authors_judge,
        "datasets": list(datasets),
        "per_dataset": per_dataset,
        "seed": seed,
        "judge": config.judge.model_dump(mode="json"),
        "judging": config.judging.model_dump(mode="json"),
        "judge_scorer_version": JUDGE_SCORER_VERSION,
        "persona_lib": persona_lib.__version__,
        "not_rejudged": NOT_REJUDGED,
    }
    files["provenance"].write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    return RejudgeResult(items=table, summary=summary, files=files)
