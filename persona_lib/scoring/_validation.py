"""Judge validation against the study's released human labels, and the agreement statistics.

The authors released 50 human-rated items per judged dataset (``data/released/sampled_*_ratings.csv``); each
judged dataset that has such a sample says so in its spec (``persona_lib.datasets.ValidationSpec``), including how a
sample becomes the judge call the dataset would make for it.

Agreement (:func:`agreement`): for Likert datasets quadratic-weighted Cohen's κ over the categories 1–5, exact
agreement, mean absolute error and agreement within ±1; for pairwise and binary datasets unweighted κ and
accuracy. Unparsed judge verdicts are excluded from the statistics and counted (``n_unparsed``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from persona_lib.backends import Backend
from persona_lib.config import RunConfig
from persona_lib.datasets import LabelKind, dataset_names, get_dataset, load_validation_samples
from persona_lib.judging import run_judge_tasks
from persona_lib.personas import load_personas
from persona_lib.store import ResponseStore


def validated_datasets() -> list[str]:
    """The registered datasets that have a human-validation sample."""
    return [name for name in dataset_names() if get_dataset(name).validation is not None]


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
        datasets: Datasets to validate (default: every dataset with a human-validation sample).
        limit: At most this many samples per dataset, a seeded random subset kept in file order.

    Returns:
        One row per sample: the judge's scores-table columns (dataset ``validation_<name>``) plus
        ``validation_dataset``, ``label_kind`` and ``human``.
    """
    chosen = list(datasets) if datasets is not None else validated_datasets()
    personas = load_personas()
    frames = []
    for dataset in chosen:
        spec = get_dataset(dataset)
        samples = load_validation_samples(spec)
        if limit is not None and limit < len(samples):
            keep = sorted(random.Random(config.seed).sample(range(len(samples)), limit))
            samples = [samples[i] for i in keep]
        tasks = [spec.validation.to_task(sample, personas) for sample in samples]
        judged = run_judge_tasks(
            tasks, config, backend, store, model_name="released-validation-sample", desc=f"validate {dataset}"
        )
        judged["validation_dataset"] = dataset
        judged["label_kind"] = spec.validation.label_kind
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
        datasets: Datasets to validate (default: every dataset with a human-validation sample).
        limit: At most this many samples per dataset (the CPU default judges a small subset).

    Returns:
        :func:`agreement_summary` of :func:`judge_validation_samples`.
    """
    return agreement_summary(judge_validation_samples(config, backend, store, datasets, limit))
