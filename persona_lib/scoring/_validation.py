"""Judge validation against the study's released human labels, and the agreement statistics.

The authors released 50 human-rated items per judged dataset (``data/released/sampled_*_ratings.csv``); each
judged dataset that has such a sample says so in its spec (``persona_lib.datasets.ValidationSpec``), including how a
sample becomes the judge call the dataset would make for it.

Agreement (:func:`agreement`): for Likert datasets quadratic-weighted Cohen's κ over the categories 1–5, exact
agreement, mean absolute error and agreement within ±1; for pairwise and binary datasets unweighted κ and
accuracy. Unparsed judge verdicts are excluded from the statistics and counted (``n_unparsed``, ``parse_rate``).

Every judging mode the run used is summarised on its own row (:func:`agreement_summary`): ``generate`` compares the
parsed verdicts; ``distribution`` compares the distribution's verdict (the expected rating rounded, or the more
probable label) for κ and exact agreement, and the expected rating itself for the mean absolute error and
within ±1. When a run names further judges (``comparison_judges``), :func:`judge_pair_agreement` compares the judges
with each other on the same samples.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from persona_lib.backends import Backend, create_backend
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


def agreement(
    judge: Sequence[Any], human: Sequence[Any], kind: LabelKind, expected: Sequence[float] | None = None
) -> dict[str, float]:
    """Agreement statistics between judge verdicts and human labels (both already parsed, no missing values).

    Args:
        judge: The judge's values (1–5, ``"A"``/``"B"``/``"tie"``, or booleans).
        human: The human labels, same order.
        kind: ``likert``, ``pairwise`` or ``binary``.
        expected: For Likert verdicts read from a distribution, the expected ratings (same order): the mean
            absolute error and within ±1 are computed on them instead of on ``judge``.

    Returns:
        ``likert``: kappa (quadratic-weighted, categories 1–5), exact_agreement, mae, within_one;
        ``pairwise``/``binary``: kappa (unweighted), accuracy (a pairwise tie agrees with no human label).
        Proportions in 0–1.
    """
    if len(judge) != len(human):
        raise ValueError(f"{len(judge)} judge values but {len(human)} human labels")
    if kind == "likert":
        a = np.asarray(judge if expected is None else expected, dtype=float)
        b = np.asarray(human, dtype=float)
        empty = a.size == 0
        return {
            "kappa": cohen_kappa(list(judge), list(human), [1, 2, 3, 4, 5], weights="quadratic"),
            "exact_agreement": float("nan") if empty else float(np.mean(np.asarray(judge, dtype=float) == b)),
            "mae": float("nan") if empty else float(np.mean(np.abs(a - b))),
            "within_one": float("nan") if empty else float(np.mean(np.abs(a - b) <= 1)),
        }
    categories = (["A", "B", "tie"] if "tie" in set(judge) else ["A", "B"]) if kind == "pairwise" else [False, True]
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


def validation_judgements(
    config: RunConfig, store: ResponseStore, datasets: Iterable[str] | None = None, limit: int | None = None
) -> pd.DataFrame:
    """The run's judge and each of its ``comparison_judges`` on the human-labelled samples, one after the other
    (each judge's model is loaded, used and released before the next).

    Args:
        config: The run configuration (``judge``, ``comparison_judges``, ``judging``; ``seed`` picks subsets).
        store: The response store (judge calls are cached there).
        datasets: Datasets to validate (default: every dataset with a human-validation sample).
        limit: At most this many samples per dataset.

    Returns:
        :func:`judge_validation_samples` of every judge, concatenated (``judge_model`` tells them apart).
    """
    frames = []
    for judge in [config.judge, *config.comparison_judges]:
        backend = create_backend(judge)
        frames.append(judge_validation_samples(config, backend, store, datasets, limit))
        if hasattr(backend, "close"):
            backend.close()
        del backend
    return pd.concat(frames, ignore_index=True)


def _mode_verdicts(group: pd.DataFrame, mode: str) -> tuple[pd.DataFrame, str, str]:
    """The rows of one judging mode with a verdict, and the columns holding it: ``(rows, value, score)``."""
    if mode == "generate":
        return group[group["parse_status"].isin(["ok", "fallback"])], "value", "score"
    return group[group["value_distribution"].notna()], "value_distribution", "score_distribution"


def _modes_in(group: pd.DataFrame) -> list[str]:
    modes = list(dict.fromkeys(group["judge_mode"].dropna())) if "judge_mode" in group else []
    if "value_distribution" in group and "distribution" not in modes and group["value_distribution"].notna().any():
        modes.append("distribution")
    return modes or ["generate"]


def agreement_summary(judgements: pd.DataFrame) -> pd.DataFrame:
    """Per-dataset agreement of judge verdicts with human labels (:func:`agreement`), per judge and judging mode.

    Args:
        judgements: Output of :func:`judge_validation_samples` (one or more judges).

    Returns:
        Columns dataset, label_kind, judge_model, judge_mode, n (samples), n_scored, n_unparsed (unparsed or
        judge errors, excluded), parse_rate (n_scored / n, 0–1), kappa, kappa_weights, exact_agreement (accuracy
        for pairwise/binary), mae, within_one (Likert only; NaN otherwise).
    """
    rows = []
    for (dataset, kind, judge_model), group in judgements.groupby(
        ["validation_dataset", "label_kind", "judge_model"], sort=False
    ):
        for mode in _modes_in(group):
            verdicts, value, score = _mode_verdicts(group, mode)
            expected = None
            if kind == "likert" and mode == "distribution":
                expected = list(verdicts[score].astype(float) / 25 + 1)
            stats = agreement(list(verdicts[value]), list(verdicts["human"]), kind, expected)
            rows.append(
                {
                    "dataset": dataset,
                    "label_kind": kind,
                    "judge_model": judge_model,
                    "judge_mode": mode,
                    "n": len(group),
                    "n_scored": len(verdicts),
                    "n_unparsed": len(group) - len(verdicts),
                    "parse_rate": len(verdicts) / len(group) if len(group) else float("nan"),
                    "kappa": stats["kappa"],
                    "kappa_weights": "quadratic" if kind == "likert" else "none",
                    "exact_agreement": stats.get("exact_agreement", stats.get("accuracy")),
                    "mae": stats.get("mae", float("nan")),
                    "within_one": stats.get("within_one", float("nan")),
                }
            )
    return pd.DataFrame(rows)


def judge_pair_agreement(judgements: pd.DataFrame) -> pd.DataFrame:
    """How far judges agree with each other on the same human-labelled samples, per dataset and judging mode.

    Args:
        judgements: Output of :func:`judge_validation_samples` for two or more judges (``judge_model`` differs).

    Returns:
        One row per dataset, judging mode and pair of judges: dataset, label_kind, judge_mode, judge_a, judge_b,
        n (samples both judged), kappa (quadratic-weighted for Likert), agreement (share of equal verdicts).
        Empty when fewer than two judges are present.
    """
    columns = ["dataset", "label_kind", "judge_mode", "judge_a", "judge_b", "n", "kappa", "agreement"]
    rows = []
    for (dataset, kind), group in judgements.groupby(["validation_dataset", "label_kind"], sort=False):
        judges = list(dict.fromkeys(group["judge_model"]))
        for mode in _modes_in(group):
            verdicts = {}
            for judge in judges:
                chosen, value, _ = _mode_verdicts(group[group["judge_model"] == judge], mode)
                verdicts[judge] = chosen.set_index("item_id")[value]
            for position, first in enumerate(judges):
                for second in judges[position + 1 :]:
                    both = pd.concat([verdicts[first], verdicts[second]], axis=1, join="inner").dropna()
                    a, b = list(both.iloc[:, 0]), list(both.iloc[:, 1])
                    if kind == "likert":
                        categories, weights = [1, 2, 3, 4, 5], "quadratic"
                        a, b = [int(x) for x in a], [int(x) for x in b]
                    else:
                        categories = ["A", "B", "tie"] if kind == "pairwise" else [False, True]
                        weights = "none"
                    rows.append(
                        {
                            "dataset": dataset, "label_kind": kind, "judge_mode": mode, "judge_a": first,
                            "judge_b": second, "n": len(both), "kappa": cohen_kappa(a, b, categories, weights),
                            "agreement": float(np.mean([x == y for x, y in zip(a, b)])) if a else float("nan"),
                        }
                    )
    return pd.DataFrame(rows, columns=columns)


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
