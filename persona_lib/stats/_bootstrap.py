"""Percentile bootstrap confidence intervals, vectorised over resamples.

The resampling unit is explicit in every function (``unit=``): the study resamples model x persona units (a
persona's mean score under one model), never items, so intervals reflect variation across personas and models.
All resamples come from one index matrix of shape ``(n_resamples, n_units)`` drawn from
``numpy.random.default_rng(seed)``; the same matrix serves every column (checkpoint, kind, metric) of a call, so
paired quantities stay paired. The means of all resamples are one matrix product, with no Python loop over
resamples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from persona_lib.stats._aggregate import BASELINE, collapse_reference_personas, present, require_columns, split_arms

DEFAULT_RESAMPLES = 1_000
PER_MODEL_RESAMPLES = 5_000
DEFAULT_SEED = 0
UNIT = ("model", "condition")
_SCORE_KEYS = ("dataset", "metric")


def resample_indices(n_units: int, n_resamples: int, seed: int) -> np.ndarray:
    """The bootstrap index matrix: row ``r`` lists the units drawn (with replacement) in resample ``r``.

    Args:
        n_units: Number of resampling units.
        n_resamples: Number of bootstrap resamples.
        seed: Seed for ``numpy.random.default_rng``.

    Returns:
        Integer array of shape ``(n_resamples, n_units)``.
    """
    if n_units < 1 or n_resamples < 1:
        raise ValueError(f"need at least one unit and one resample, got n_units={n_units}, n_resamples={n_resamples}")
    return np.random.default_rng(seed).integers(0, n_units, size=(n_resamples, n_units))


def resampled_means(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Column means of ``values`` under each resample of ``indices``, ignoring missing (NaN) cells.

    Args:
        values: Array of shape ``(n_units, n_columns)``; NaN marks a unit without a value in that column.
        indices: Index matrix from :func:`resample_indices`, shape ``(n_resamples, n_units)``.

    Returns:
        Array of shape ``(n_resamples, n_columns)``; NaN where a resample drew no unit with a value.
    """
    n_resamples, n_units = indices.shape
    if values.shape[0] != n_units:
        raise ValueError(f"values has {values.shape[0]} units but the index matrix draws from {n_units}")
    offsets = indices + n_units * np.arange(n_resamples)[:, None]
    weights = np.bincount(offsets.ravel(), minlength=n_resamples * n_units).reshape(n_resamples, n_units)
    observed = ~np.isnan(values)
    sums = weights @ np.where(observed, values, 0.0)
    counts = weights @ observed.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)


def bootstrap_ci(
    table: pd.DataFrame,
    *,
    value: str = "score",
    unit: Sequence[str] = UNIT,
    by: Sequence[str] = (),
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean of ``value`` over units with a percentile bootstrap confidence interval, for each ``by`` group.

    Args:
        table: One row per unit and ``by`` group (aggregate item scores first with
            :func:`persona_lib.stats.aggregate`).
        value: The column to average.
        unit: Columns that identify a resampling unit (default model x condition).
        by: Columns whose groups each get an estimate; all groups share the same resampled units.
        n_resamples: Number of bootstrap resamples.
        seed: Seed for ``numpy.random.default_rng``.
        confidence: Coverage of the interval (0.95 -> 2.5th and 97.5th percentiles).

    Returns:
        ``by`` columns plus ``estimate`` (mean over units), ``ci_low``, ``ci_high``, ``n_units``,
        ``n_resamples``, ``seed`` and ``resampling_unit``.

    Raises:
        ValueError: on missing columns, an empty table, or several rows for one unit in one group.
    """
    unit, by = list(unit), list(by)
    require_columns(table, [*unit, *by, value], "bootstrap_ci()")
    if table.empty:
        raise ValueError("bootstrap_ci() got an empty table")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    duplicated = table.duplicated([*unit, *by])
    if duplicated.any():
        example = table.loc[duplicated, [*unit, *by]].iloc[0].to_dict()
        raise ValueError(
            f"several rows for one unit and group, e.g. {example}; aggregate to one row per unit first "
            "(persona_lib.stats.aggregate) or add the distinguishing column to by="
        )
    # Unit columns that are also ``by`` columns are constant within a group (e.g. per-model curves resample
    # personas within each model): the index matrix then runs over the remaining unit columns.
    index = [column for column in unit if column not in by]
    if not index:
        raise ValueError(f"every unit column ({', '.join(unit)}) is also in by=; nothing is left to resample")
    keyed = table.assign(_group=0) if not by else table
    columns = by or ["_group"]
    wide = keyed.pivot_table(index=index, columns=columns, values=value, aggfunc="first")
    values = wide.to_numpy(dtype=float)
    boot = resampled_means(values, resample_indices(values.shape[0], n_resamples, seed))
    alpha = (1 - confidence) / 2
    low, high = np.nanpercentile(boot, [100 * alpha, 100 * (1 - alpha)], axis=0)
    result = pd.DataFrame(
        {
            "estimate": np.nanmean(values, axis=0),
            "ci_low": low,
            "ci_high": high,
            "n_units": (~np.isnan(values)).sum(axis=0),
        }
    )
    if by:
        result = pd.concat([wide.columns.to_frame(index=False), result], axis=1)
    result["n_resamples"] = n_resamples
    result["seed"] = seed
    result["resampling_unit"] = " x ".join(unit)
    return result[result["n_units"] > 0].reset_index(drop=True)


_CI_COLUMNS = ["estimate", "ci_low", "ci_high", "n_units", "n_resamples", "seed", "resampling_unit"]


def checkpoint_curves(
    units: pd.DataFrame,
    *,
    x: str = "checkpoint",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    by: Sequence[str] = ("kind",),
) -> pd.DataFrame:
    """Score against checkpoint for personas and for the baseline, with bootstrap CIs.

    Persona points resample model x persona units; baseline points resample models (one baseline per model; a
    baseline scored against several characters is first averaged over them).

    Args:
        units: Unit-level scores (``model, condition, kind, checkpoint, score`` and optionally ``dataset,
            metric``).
        x: The position column (``checkpoint``).
        n_resamples: Bootstrap resamples.
        seed: Bootstrap seed (the same for both arms).
        by: Further grouping columns (default: dialogue kind; add ``model`` for per-model curves).

    Returns:
        Columns ``dataset, metric`` (if present), ``by``, ``arm`` (persona | baseline), ``x`` and the columns
        of :func:`bootstrap_ci`.
    """
    units = collapse_reference_personas(units)
    groups = [*present(units, _SCORE_KEYS), *by, x]
    curves = [
        bootstrap_ci(part, unit=UNIT, by=groups, n_resamples=n_resamples, seed=seed).assign(arm=arm)
        for arm, part in split_arms(units).groupby("arm", sort=False)
    ]
    keys = [*groups[:-1], "arm", x]
    if not curves:  # no unit at all (e.g. a partial release without any scored file)
        return pd.DataFrame(columns=[*keys, *_CI_COLUMNS])
    table = pd.concat(curves, ignore_index=True)
    return table[[*keys, *table.columns.drop(keys)]].sort_values(keys, ignore_index=True)


def _persona_units(units: pd.DataFrame) -> pd.DataFrame:
    return units[units["condition"] != BASELINE]


def _difference(diffs: pd.DataFrame, contrast: str, by: Sequence[str], n_resamples: int, seed: int) -> pd.DataFrame:
    groups = [*present(diffs, _SCORE_KEYS), *by]
    # One difference per unit and group: average over what ``by`` leaves out (e.g. checkpoints for per-model bars).
    keys = list(dict.fromkeys([*groups, *UNIT]))
    per_unit = diffs.groupby(keys, as_index=False, sort=True)["diff"].mean()
    result = bootstrap_ci(per_unit, value="diff", unit=UNIT, by=groups, n_resamples=n_resamples, seed=seed)
    result.insert(len(groups), "contrast", contrast)
    return result


def kind_difference(
    units: pd.DataFrame,
    *,
    by: Sequence[str] = ("checkpoint",),
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Persona-directed minus goal-oriented score, paired within each model x persona unit, with CIs.

    Args:
        units: Unit-level scores.
        by: Grouping columns (``("checkpoint",)`` for a curve; ``("model",)`` for per-model bars). Differences
            are first averaged per unit over the columns ``by`` leaves out (e.g. over checkpoints).
        n_resamples: Bootstrap resamples (use :data:`PER_MODEL_RESAMPLES` for per-model bars).
        seed: Bootstrap seed.

    Returns:
        :func:`bootstrap_ci` columns plus ``contrast``; one row per group.
    """
    require_columns(units, ["model", "condition", "kind", "checkpoint", "score"], "kind_difference()")
    keys = ["model", "condition", "checkpoint", *present(units, _SCORE_KEYS)]
    wide = _persona_units(units).pivot_table(index=keys, columns="kind", values="score", aggfunc="first")
    missing = {"persona_directed", "goal_oriented"} - set(wide.columns)
    if missing:
        raise ValueError(f"kind_difference() needs both dialogue kinds; no rows for {', '.join(sorted(missing))}")
    diffs = (wide["persona_directed"] - wide["goal_oriented"]).rename("diff").dropna().reset_index()
    return _difference(diffs, "persona_directed - goal_oriented", by, n_resamples, seed)


def checkpoint_difference(
    units: pd.DataFrame,
    *,
    reference: int = 0,
    by: Sequence[str] = ("kind", "checkpoint"),
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Score at each checkpoint minus the score at ``reference`` (t - 0), paired within units, with CIs.

    Args:
        units: Unit-level scores; personas only are used.
        reference: The checkpoint subtracted (0 = the single-turn evaluation).
        by: Grouping columns.
        n_resamples: Bootstrap resamples.
        seed: Bootstrap seed.
    """
    require_columns(units, ["model", "condition", "kind", "checkpoint", "score"], "checkpoint_difference()")
    personas = _persona_units(units)
    keys = ["model", "condition", "kind", *present(units, _SCORE_KEYS)]
    start = personas[personas["checkpoint"] == reference][[*keys, "score"]].rename(columns={"score": "start"})
    if start.empty:
        available = sorted(units["checkpoint"].unique())
        raise ValueError(f"no rows at reference checkpoint {reference}; available checkpoints: {available}")
    diffs = personas.merge(start, on=keys, how="inner", validate="many_to_one")
    diffs["diff"] = diffs["score"] - diffs["start"]
    return _difference(diffs, f"t - {reference}", by, n_resamples, seed)


def _with_baseline(personas: pd.DataFrame, baseline: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    scores = baseline[[*keys, "score"]].rename(columns={"score": "baseline"})
    return personas.merge(scores, on=keys, how="inner", validate="many_to_one")


def persona_baseline_difference(
    units: pd.DataFrame,
    *,
    by: Sequence[str] = ("kind", "checkpoint"),
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Persona score minus the same model's baseline score (same kind and checkpoint), with CIs.

    Paired on model: each model x persona unit is compared with its own model's no-persona run. Where the baseline
    was scored against each character (a ``reference_persona`` column: dialogue fidelity, RoleBench, BFI), a persona
    is compared with the baseline scored against that same persona.

    Args:
        units: Unit-level scores including condition ``empty``.
        by: Grouping columns.
        n_resamples: Bootstrap resamples.
        seed: Bootstrap seed.
    """
    require_columns(units, ["model", "condition", "kind", "checkpoint", "score"], "persona_baseline_difference()")
    keys = ["model", "kind", "checkpoint", *present(units, _SCORE_KEYS)]
    baseline = units[units["condition"] == BASELINE]
    if baseline.empty:
        raise ValueError(f"no baseline rows (condition {BASELINE!r}) to compare personas with")
    personas = _persona_units(units)
    if "reference_persona" in units:  # pair each persona with the baseline scored against it, where there is one
        judged_against = baseline["reference_persona"].notna()
        paired = personas.merge(
            baseline[judged_against][[*keys, "reference_persona", "score"]].rename(
                columns={"reference_persona": "condition", "score": "baseline"}
            ),
            on=[*keys, "condition"],
            how="inner",
            validate="one_to_one",
        )
        unpaired_keys = baseline[~judged_against][keys].drop_duplicates()
        rest = personas.merge(unpaired_keys, on=keys, how="inner")
        diffs = pd.concat([paired, _with_baseline(rest, baseline[~judged_against], keys)], ignore_index=True)
    else:
        diffs = _with_baseline(personas, baseline, keys)
    diffs["diff"] = diffs["score"] - diffs["baseline"]
    return _difference(diffs, "persona - baseline", by, n_resamples, seed)


def difference_curves(
    units: pd.DataFrame, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> dict[str, pd.DataFrame]:
    """The study's three contrasts over the dialogue, for every metric, where the run has what they need.

    Returns:
        ``{"kind": persona-directed - goal-oriented, "length": t - first checkpoint, "persona": persona - baseline}``,
        each a table of :func:`kind_difference`, :func:`checkpoint_difference` or :func:`persona_baseline_difference`;
        a contrast the units cannot support (one dialogue kind, one checkpoint, no baseline) is left out.
    """
    curves = {}
    if units["kind"].nunique() == 2:
        curves["kind"] = kind_difference(units, n_resamples=n_resamples, seed=seed)
    if units["checkpoint"].nunique() > 1:
        first = int(units["checkpoint"].min())
        curves["length"] = checkpoint_difference(units, reference=first, n_resamples=n_resamples, seed=seed)
    if (units["condition"] == BASELINE).any() and (units["condition"] != BASELINE).any():
        curves["persona"] = persona_baseline_difference(units, n_resamples=n_resamples, seed=seed)
    return curves
