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
from collections.abc import Iterable

import numpy as np
import pandas as pd

from persona_lib.backends import Backend, create_backend
from persona_lib.config import RunConfig
from persona_lib.datasets import dataset_names, get_dataset, load_validation_samples
from persona_lib.judging import run_judge_tasks
from persona_lib.personas import load_personas
from persona_lib.stats import agreement, cohen_kappa
from persona_lib.store import ResponseStore


def validated_datasets() -> list[str]:
    """The registered datasets that have a human-validation sample."""
    return [name for name in dataset_names() if get_dataset(name).validation is not None]


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
                            "dataset": dataset,
                            "label_kind": kind,
                            "judge_mode": mode,
                            "judge_a": first,
                            "judge_b": second,
                            "n": len(both),
                            "kappa": cohen_kappa(a, b, categories, weights),
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
