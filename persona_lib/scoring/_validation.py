"""Judge validation against the study's released human labels, and the agreement statistics.

The authors released 50 human-rated items per judged dataset in ``data/released/``:

=======================  ==============================================  ===================================
dataset                  file                                            human label
=======================  ==============================================  ===================================
``fidelity``             ``sampled_ratings.csv``                         Likert 1–5 on ``metric`` (knowledge,
                                                                         style, in_character)
``bfi``                  ``sampled_bfi_ratings.csv``                     Likert 1–5 trait level
``rolebench_specific``   ``sampled_instruction_role_specific_ratings``   ``A`` / ``B`` (the better answer)
``rolebench_general``    ``sampled_instruction_general_ratings.csv``     ``A`` / ``B``
``xstest``               ``sampled_xstest_ratings.csv``                  ``Yes`` / ``No`` (explicit refusal)
=======================  ==============================================  ===================================

The ``role`` column names the study's source file, e.g. ``interview_Blair_Waldorf_shuffle.json.csv`` or
``bfi_Gaston_22.json.csv``: it gives the character, the checkpoint (round) and, for dialogues, the replicate.
In ``sampled_ratings.csv`` the ``input`` and ``output`` cells are Python dict literals
(``{'role': 'user', 'content': ...}``), read with :func:`ast.literal_eval`. The BFI item's dimension is found by
matching ``input`` to the BFI items' open questions.

Agreement (:func:`agreement`): for Likert datasets quadratic-weighted Cohen's κ over the categories 1–5, exact
agreement, mean absolute error and agreement within ±1; for pairwise and binary datasets unweighted κ and
accuracy. Unparsed judge verdicts are excluded from the statistics and counted (``n_unparsed``).
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from persona_lib._records import DataFileError, Record, read_csv_records
from persona_lib.backends._base import Backend
from persona_lib.config import RunConfig
from persona_lib.paths import released_dir
from persona_lib.personas import STUDY_PERSONAS, Persona, load_personas
from persona_lib.store import ResponseStore

# persona_lib.judging is imported inside the functions that run the judge: it imports this package
# (persona_lib.scoring._text), so a module-level import here would be circular.

VALIDATION_FILES: dict[str, str] = {
    "fidelity": "sampled_ratings.csv",
    "bfi": "sampled_bfi_ratings.csv",
    "rolebench_specific": "sampled_instruction_role_specific_ratings.csv",
    "rolebench_general": "sampled_instruction_general_ratings.csv",
    "xstest": "sampled_xstest_ratings.csv",
}
"""Dataset → file in ``data/released/`` holding its human-validation sample."""

LabelKind = Literal["likert", "pairwise", "binary"]
LABEL_KINDS: dict[str, LabelKind] = {
    "fidelity": "likert",
    "bfi": "likert",
    "rolebench_specific": "pairwise",
    "rolebench_general": "pairwise",
    "xstest": "binary",
}
"""Dataset → the kind of human label (and judge verdict)."""

_FILE_PREFIX = {
    "fidelity": "interview",
    "bfi": "bfi",
    "rolebench_specific": "instruction_role_specific",
    "rolebench_general": "instruction_general",
    "xstest": "xstest",
}
_ROUND_SUFFIX = re.compile(r"_(\d+)$")
_FIDELITY_METRICS = ("knowledge", "style", "in_character")


@dataclass(frozen=True)
class ValidationSample:
    """One human-rated judge input from the study's validation sample.

    Attributes:
        dataset: ``fidelity``, ``bfi``, ``rolebench_specific``, ``rolebench_general`` or ``xstest``.
        sample_id: ``<file>:<line>`` — unique and stable.
        persona: The character (spaces restored, e.g. ``Blair Waldorf``).
        checkpoint: Round in the study's source file name (``None`` for dialogue turns, whose file names have
            none).
        replicate: ``original`` or ``shuffled`` (dialogue turns; ``original`` otherwise).
        index: The ``idx`` column (position of the item in the study's source file).
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
    criterion: str | None
    dimension: str | None
    query: str
    response: str | None
    response_a: str | None
    response_b: str | None
    human: int | str | bool


def _message_content(record: Record, column: str, role: str) -> str:
    text = record.text(column, allow_empty=True)
    try:
        message = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise record.error(column, "expected a Python dict literal {'role': ..., 'content': ...}") from None
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        raise record.error(column, "expected a dict with a string 'content'")
    if message.get("role") != role:
        raise record.error(column, f"expected a {role!r} message, got role {message.get('role')!r}")
    return message["content"]


def _human_label(record: Record, kind: LabelKind) -> int | str | bool:
    if kind == "likert":
        value = record.integer("Rating")
        if not 1 <= value <= 5:
            raise record.error("Rating", f"expected an integer from 1 to 5, got {value}")
        return value
    if kind == "pairwise":
        return record.choice("Rating", ("A", "B"))
    return record.choice("Rating", ("Yes", "No")) == "Yes"


def _source(record: Record, dataset: str, persona_names: Iterable[str]) -> tuple[str, int | None, str]:
    name = record.text("role")
    prefix = _FILE_PREFIX[dataset]
    if not (name.startswith(prefix + "_") and name.endswith(".json.csv")):
        raise record.error("role", f"expected a source file name like '{prefix}_<Character>[_<round>].json.csv'")
    body = name[len(prefix) + 1 :].removesuffix(".json.csv")
    shuffled = body.endswith("_shuffle")
    body = body.removesuffix("_shuffle")
    known = set(persona_names)
    checkpoint = None
    round_match = _ROUND_SUFFIX.search(body)
    if body.replace("_", " ") not in known and round_match:  # a name may end in digits: "HAL_9000"
        checkpoint = int(round_match.group(1))
        body = body[: round_match.start()]
    persona = body.replace("_", " ")
    if persona not in known:
        raise record.error("role", f"character {persona!r} is not a known persona ({sorted(known)})")
    return persona, checkpoint, "shuffled" if shuffled else "original"


def load_validation_samples(dataset: str, path: str | Path | None = None) -> list[ValidationSample]:
    """Read one dataset's human-validation sample.

    Args:
        dataset: A key of :data:`VALIDATION_FILES`.
        path: The CSV file (default: ``data/released/<VALIDATION_FILES[dataset]>``).

    Returns:
        The samples in file order.

    Raises:
        ValueError: for an unknown dataset.
        DataFileError: for a missing file or a malformed row (naming the file, line and column).
    """
    if dataset not in VALIDATION_FILES:
        raise ValueError(f"unknown validation dataset {dataset!r}; choose from {', '.join(VALIDATION_FILES)}")
    path = Path(path) if path is not None else released_dir() / VALIDATION_FILES[dataset]
    kind = LABEL_KINDS[dataset]
    columns = {
        "likert": ["role", "idx", "input", "output", "Rating"],
        "pairwise": ["role", "idx", "input", "responseA", "responseB", "Rating"],
        "binary": ["role", "idx", "input", "output", "Rating"],
    }[kind] + (["metric"] if dataset == "fidelity" else [])
    dimensions = _bfi_dimensions() if dataset == "bfi" else {}
    samples = []
    for record in read_csv_records(path, columns):
        persona, checkpoint, replicate = _source(record, dataset, STUDY_PERSONAS)
        criterion = record.choice("metric", _FIDELITY_METRICS) if dataset == "fidelity" else None
        if dataset == "fidelity":
            query = _message_content(record, "input", "user")
            response = _message_content(record, "output", "assistant")
        else:
            query = record.text("input")
            response = record.text("output", allow_empty=True) if kind != "pairwise" else None
        dimension = None
        if dataset == "bfi":
            dimension = dimensions.get(query.strip())
            if dimension is None:
                raise record.error("input", "not one of the BFI items' open questions (data/bfi/bfi44_items.csv)")
        samples.append(
            ValidationSample(
                dataset=dataset,
                sample_id=f"{path.name}:{record.where.removeprefix('line ')}",
                persona=persona,
                checkpoint=checkpoint,
                replicate=replicate,
                index=record.integer("idx"),
                criterion=criterion,
                dimension=dimension,
                query=query,
                response=response,
                response_a=record.text("responseA", allow_empty=True) if kind == "pairwise" else None,
                response_b=record.text("responseB", allow_empty=True) if kind == "pairwise" else None,
                human=_human_label(record, kind),
            )
        )
    if not samples:
        raise DataFileError(path, "no data rows")
    return samples


def _bfi_dimensions() -> dict[str, str]:
    from persona_lib.benchmarks import load_items

    return {item.prompt.strip(): item.meta["dimension"] for item in load_items("bfi")}


# ------------------------------------------------------------------------------------------------ statistics
def cohen_kappa(
    first: Sequence[Any],
    second: Sequence[Any],
    categories: Sequence[Any],
    weights: Literal["none", "linear", "quadratic"] = "none",
) -> float:
    """Cohen's κ between two raters, optionally weighted.

    ``κ = 1 − Σ w·O / Σ w·E`` where ``O`` is the observed joint proportion table, ``E`` the product of the
    marginals, and ``w`` the disagreement weight of two categories at positions ``i`` and ``j`` of
    ``categories``: ``0/1`` (none), ``|i−j|/(k−1)`` (linear) or ``((i−j)/(k−1))²`` (quadratic).

    Args:
        first: One rater's labels.
        second: The other rater's labels (same length).
        categories: All possible categories in order (categories nobody used still count for the weights).
        weights: ``none``, ``linear`` or ``quadratic``.

    Returns:
        κ, or NaN when it is undefined (no items, or chance disagreement is zero: both raters used one and the
        same category throughout).

    Raises:
        ValueError: for unequal lengths or a label outside ``categories``.
    """
    if len(first) != len(second):
        raise ValueError(f"raters have different numbers of labels: {len(first)} and {len(second)}")
    position = {category: i for i, category in enumerate(categories)}
    unknown = {label for label in [*first, *second] if label not in position}
    if unknown:
        raise ValueError(f"labels {sorted(map(str, unknown))} are not among the categories {list(categories)}")
    if not first:
        return float("nan")
    k = len(categories)
    observed = np.zeros((k, k))
    for a, b in zip(first, second, strict=True):
        observed[position[a], position[b]] += 1
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    i, j = np.indices((k, k))
    if weights == "none":
        weight = (i != j).astype(float)
    elif weights == "linear":
        weight = np.abs(i - j) / max(k - 1, 1)
    elif weights == "quadratic":
        weight = ((i - j) / max(k - 1, 1)) ** 2
    else:
        raise ValueError(f"weights must be 'none', 'linear' or 'quadratic', got {weights!r}")
    chance = float((weight * expected).sum())
    if chance == 0:
        return float("nan")
    return 1 - float((weight * observed).sum()) / chance


def agreement(judge: Sequence[Any], human: Sequence[Any], kind: LabelKind) -> dict[str, float]:
    """Agreement statistics between judge verdicts and human labels (both already parsed, no missing values).

    Args:
        judge: The judge's values (1–5, ``"A"``/``"B"``, or booleans).
        human: The human labels, same order.
        kind: ``likert``, ``pairwise`` or ``binary``.

    Returns:
        ``likert``: kappa (quadratic-weighted, categories 1–5), exact_agreement, mae, within_one;
        ``pairwise``/``binary``: kappa (unweighted), accuracy. Proportions in 0–1.
    """
    if len(judge) != len(human):
        raise ValueError(f"{len(judge)} judge values but {len(human)} human labels")
    if kind == "likert":
        a = np.asarray(judge, dtype=float)
        b = np.asarray(human, dtype=float)
        empty = a.size == 0
        return {
            "kappa": cohen_kappa(list(judge), list(human), [1, 2, 3, 4, 5], weights="quadratic"),
            "exact_agreement": float("nan") if empty else float(np.mean(a == b)),
            "mae": float("nan") if empty else float(np.mean(np.abs(a - b))),
            "within_one": float("nan") if empty else float(np.mean(np.abs(a - b) <= 1)),
        }
    categories = ["A", "B"] if kind == "pairwise" else [False, True]
    return {
        "kappa": cohen_kappa(list(judge), list(human), categories),
        "accuracy": float("nan") if not judge else float(np.mean([x == y for x, y in zip(judge, human, strict=True)])),
    }


# ------------------------------------------------------------------------------------------------ judge runs
def _task_for(sample: ValidationSample, personas: dict[str, Persona]):
    from persona_lib.judging import JudgeTask, render_judge_prompt

    persona = personas[sample.persona]
    character = {"character_name": persona.name, "character_description": persona.description}
    row = {
        "condition": sample.persona,
        "persona": sample.persona,
        "kind": "persona_directed" if sample.dataset == "fidelity" else None,
        "checkpoint": sample.checkpoint,
        "replicate": sample.replicate,
        "dataset": f"validation_{sample.dataset}",
        "item_id": sample.sample_id,
        "dimension": sample.dimension,
    }
    if sample.dataset == "fidelity":
        template, metric, verdict = f"fidelity_{sample.criterion}", f"fidelity_{sample.criterion}", "likert"
        fields = {"query": sample.query, "response": sample.response}
    elif sample.dataset == "bfi":
        template, metric, verdict = "bfi_trait", "bfi_trait", "likert"
        fields = {"query": sample.query, "response": sample.response, "dimension": sample.dimension}
    elif sample.dataset == "xstest":
        template, metric, verdict = "refusal", "refusal", "binary"
        fields = {"query": sample.query, "response": sample.response}
    else:
        template = "pairwise_role_specific" if sample.dataset == "rolebench_specific" else "pairwise_general"
        metric, verdict = "preference", "pairwise"
        fields = {"query": sample.query, "response_a": sample.response_a, "response_b": sample.response_b}
    row["metric"] = metric
    return JudgeTask(prompt=render_judge_prompt(template, **character, **fields), verdict=verdict, row=row)


def judge_validation_samples(
    config: RunConfig,
    backend: Backend,
    store: ResponseStore,
    datasets: Iterable[str] | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Run the judge on the human-validation samples (through the store, tags ``stage="judge"``).

    Args:
        config: The run configuration (judge sampling and batch size; ``seed`` picks the subset).
        backend: The judge backend.
        store: The response store.
        datasets: Datasets to validate (default: all of :data:`VALIDATION_FILES`).
        limit: At most this many samples per dataset, a seeded random subset kept in file order.

    Returns:
        One row per sample: the judge's scores-table columns (dataset ``validation_<name>``) plus
        ``validation_dataset``, ``label_kind`` and ``human``.
    """
    from persona_lib.judging import run_judge_tasks

    chosen = list(datasets) if datasets is not None else list(VALIDATION_FILES)
    personas = load_personas()
    frames = []
    for dataset in chosen:
        samples = load_validation_samples(dataset)
        if limit is not None and limit < len(samples):
            keep = sorted(random.Random(config.seed).sample(range(len(samples)), limit))
            samples = [samples[i] for i in keep]
        tasks = [_task_for(sample, personas) for sample in samples]
        judged = run_judge_tasks(
            tasks, config, backend, store, model_name="released-validation-sample", desc=f"validate {dataset}"
        )
        judged["validation_dataset"] = dataset
        judged["label_kind"] = LABEL_KINDS[dataset]
        judged["human"] = [sample.human for sample in samples]
        frames.append(judged)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def agreement_summary(judgements: pd.DataFrame) -> pd.DataFrame:
    """Per-dataset agreement of judge verdicts with human labels (:func:`agreement`), with counts.

    Args:
        judgements: Output of :func:`judge_validation_samples`.

    Returns:
        Columns dataset, label_kind, judge_model, n (samples), n_scored, n_unparsed (unparsed or judge
        errors, excluded), kappa, kappa_weights, exact_agreement (accuracy for pairwise/binary), mae,
        within_one (Likert only; NaN otherwise).
    """
    rows = []
    for (dataset, kind, judge_model), group in judgements.groupby(
        ["validation_dataset", "label_kind", "judge_model"], sort=False
    ):
        parsed = group[group["parse_status"] == "ok"]
        stats = agreement(list(parsed["value"]), list(parsed["human"]), kind)
        rows.append(
            {
                "dataset": dataset,
                "label_kind": kind,
                "judge_model": judge_model,
                "n": len(group),
                "n_scored": len(parsed),
                "n_unparsed": len(group) - len(parsed),
                "kappa": stats["kappa"],
                "kappa_weights": "quadratic" if kind == "likert" else "none",
                "exact_agreement": stats.get("exact_agreement", stats.get("accuracy")),
                "mae": stats.get("mae", float("nan")),
                "within_one": stats.get("within_one", float("nan")),
            }
        )
    return pd.DataFrame(rows)


def validate_judge(
    config: RunConfig,
    backend: Backend,
    store: ResponseStore,
    datasets: Iterable[str] | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Validate a judge against the study's human labels: run it on the released samples and summarise agreement.

    Args:
        config: The run configuration (``judge``/``judging`` describe the judge; ``seed`` picks subsets).
        backend: The judge backend (``create_backend(config.judge)``).
        store: The response store (judge calls are cached there).
        datasets: Datasets to validate (default: all five).
        limit: At most this many samples per dataset (the CPU default judges a small subset).

    Returns:
        :func:`agreement_summary` of :func:`judge_validation_samples`.
    """
    return agreement_summary(judge_validation_samples(config, backend, store, datasets, limit))
