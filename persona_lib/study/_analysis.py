"""The cross-model analysis of a study: per-model curves, Tables 5 and 6, per-model bars and metric grids.

Tables 5 and 6 are re-estimated from the study's own unit scores with the functions that reproduce the published
rows from the authors' released results (:func:`persona_lib.reproduce.tables_from_units`, which fits
:func:`persona_lib.stats.length_cost_vs_size` and :func:`persona_lib.stats.personalisation_cost_vs_size`), with
the family and size code of each model taken from the study configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from persona_lib import plots, reproduce, stats
from persona_lib.personas import BASELINE
from persona_lib.run import Run
from persona_lib.study._figures import plot_metric_grid, plot_model_bars
from persona_lib.study._folder import Study

LENGTH_COST = "length cost (last - first checkpoint)"
PERSONALISATION_COST = "personalisation cost (persona - baseline at t = 0)"
KIND_DIFFERENCE = "persona-directed - goal-oriented"
CONTRASTS = (LENGTH_COST, PERSONALISATION_COST, KIND_DIFFERENCE)
_SCORE_KEYS = ["dataset", "metric"]


@dataclass
class StudyAnalysis:
    """Everything :func:`analyse_study` computed.

    Attributes:
        models: The models with family, size code and display name.
        units: Unit scores of every model (``model`` is the study name).
        tables: Tables 5 and 6 re-estimated, beside the published values (``reproduce.TABLE_COLUMNS``).
        curves: Per-model curves of every metric (persona mean with bootstrap CI, and the baseline).
        bars: Per-model contrasts with bootstrap CIs (columns ``contrast, dataset, metric, model, estimate...``).
        model_grid: Mean persona score per model x metric.
        persona_grid: Mean score per condition (personas and the baseline) x metric, over models.
        notes: What could not be computed, and why.
        files: Every table and figure written.
    """

    models: pd.DataFrame
    units: pd.DataFrame
    tables: pd.DataFrame
    curves: pd.DataFrame
    bars: pd.DataFrame
    model_grid: pd.DataFrame
    persona_grid: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def collect_units(study: Study) -> tuple[pd.DataFrame, list[str]]:
    """Every model's unit scores (from its merged run folder), with the study's model name, family and size.

    Returns:
        The units, and a note for every model that has none yet.
    """
    models = study.config.models_table()
    parts, notes = [], []
    for name in models["model"]:
        if not (study.run_folder(name) / Run.UNITS).is_file():
            notes.append(f"{name}: no unit scores yet (run `persona-eval study merge --study {study.folder}` once its "
                         "units are done; `study status` shows what is missing)")
            continue
        units = study.run(name).units()
        if units.empty:
            notes.append(f"{name}: its run has no scored unit yet")
            continue
        parts.append(units.assign(model=name))
    if not parts:
        return pd.DataFrame(columns=["model", "condition", "kind", "checkpoint", "dataset", "metric", "score"]), notes
    units = pd.concat(parts, ignore_index=True)
    return units.merge(models[["model", "family", "size", "display_name"]], on="model", how="left"), notes


def size_tables(units: pd.DataFrame, models: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Tables 5 and 6 from the study's units (:func:`persona_lib.reproduce.tables_from_units`).

    With fewer than two size codes among the models that have units, nothing can be regressed on size: every row
    is returned as ``not computed`` with a note saying what is missing.

    Args:
        units: Unit scores with a ``model`` column naming study models.
        models: The models: ``model, family, size``.

    Returns:
        The table (``reproduce.TABLE_COLUMNS``) and notes.
    """
    present = models[models["model"].isin(set(units["model"]))]
    sizes = sorted(present["size"].unique())
    metadata = models[["model", "family", "size"]]
    plain = units.drop(columns=[c for c in ("family", "size", "display_name") if c in units.columns])
    if len(sizes) < 2:
        have = ", ".join(f"{row.model} (size {row.size})" for row in present.itertuples()) or "no model with scores"
        note = (f"Tables 5 and 6 regress on model size and need models of at least two size codes; this study has "
                f"{have}. Add models of another size (1 = small of a family, 2 = large, 3 = API model).")
        table = reproduce.tables_from_units(plain.iloc[:0], metadata)
        return table.assign(note=note), [note]
    table = reproduce.tables_from_units(plain, metadata)
    notes = [f"{row.table} / {row.dataset}: {row.note}" for row in table.itertuples() if row.status == "not computed"]
    return table, notes


def _metric_groups(units: pd.DataFrame):
    return units.groupby(_SCORE_KEYS, sort=False)


def model_bars(units: pd.DataFrame, *, seed: int = stats.DEFAULT_SEED,
               n_resamples: int = stats.PER_MODEL_RESAMPLES) -> tuple[pd.DataFrame, list[str]]:
    """Per model and metric: the length cost, the personalisation cost and persona-directed - goal-oriented.

    Each is a mean over the model's personas (both dialogue kinds averaged within a persona, except for the kind
    difference) with a percentile bootstrap CI over personas (``n_resamples``, seeded).

    Returns:
        Columns ``contrast, dataset, metric, model, estimate, ci_low, ci_high, n_units`` and notes on contrasts
        a metric cannot have (e.g. no baseline, one checkpoint, one dialogue kind).
    """
    parts, notes = [], []
    unit = ("model", "condition")
    for (dataset, metric), part in _metric_groups(units):
        where = f"{dataset}/{metric}"
        personas = part[part["condition"] != BASELINE]
        if personas.empty:
            continue
        if personas["checkpoint"].nunique() >= 2:
            diffs = stats.length_cost(part).groupby([*_SCORE_KEYS, *unit], as_index=False)["diff"].mean()
            parts.append(stats.bootstrap_ci(diffs, value="diff", unit=unit, by=[*_SCORE_KEYS, "model"],
                                            n_resamples=n_resamples, seed=seed).assign(contrast=LENGTH_COST))
        else:
            notes.append(f"{where}: one checkpoint only, so no length cost")
        start = part["checkpoint"].min()
        has_baseline = ((part["condition"] == BASELINE) & (part["checkpoint"] == start)).any()
        if has_baseline:
            diffs = stats.personalisation_cost(part, checkpoint=start)
            diffs = diffs.groupby([*_SCORE_KEYS, *unit], as_index=False)["diff"].mean()
            parts.append(stats.bootstrap_ci(diffs, value="diff", unit=unit, by=[*_SCORE_KEYS, "model"],
                                            n_resamples=n_resamples, seed=seed).assign(contrast=PERSONALISATION_COST))
        else:
            notes.append(f"{where}: no baseline scores, so no personalisation cost")
        if personas["kind"].nunique() == 2:
            difference = stats.kind_difference(part, by=("model",), n_resamples=n_resamples, seed=seed)
            parts.append(difference.assign(contrast=KIND_DIFFERENCE))
        else:
            notes.append(f"{where}: one dialogue kind only, so no persona-directed - goal-oriented difference")
    columns = ["contrast", *_SCORE_KEYS, "model", "estimate", "ci_low", "ci_high", "n_units"]
    bars = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    return bars, notes


def metric_grid(units: pd.DataFrame, row: str) -> pd.DataFrame:
    """Mean score per ``row`` (``model``: persona conditions only; ``condition``: every condition, over models)
    and metric, over dialogue kinds and checkpoints."""
    part = units[units["condition"] != BASELINE] if row == "model" else units
    grid = part.groupby([row, *_SCORE_KEYS], sort=False).agg(score=("score", "mean"), n_units=("score", "size"))
    return grid.reset_index()


def _save(files: dict[str, Path], name: str, figure, stem: Path, data: pd.DataFrame) -> None:
    for kind, path in plots.save_figure(figure, stem, data).items():
        files[f"{name}_{kind}"] = path


def analyse_study(study: Study, *, seed: int | None = None) -> StudyAnalysis:
    """Compute and write the cross-model analysis of a study (tables under ``analysis/tables``, figures under
    ``analysis/figures``).

    Whatever cannot be computed yet (a model without scores, a single size group, a metric without a baseline) is
    left out and said in ``notes``; nothing fails for lack of data.

    Args:
        study: The study folder (per-model runs merged by ``study merge``).
        seed: Bootstrap seed (default: the protocol's).
    """
    seed = study.config.protocol.seed if seed is None else seed
    models = study.config.models_table()
    labels = dict(zip(models["model"], models["display_name"]))
    units, notes = collect_units(study)
    files: dict[str, Path] = {}
    tables, table_notes = size_tables(units, models)
    notes += table_notes
    if units.empty:
        empty = pd.DataFrame()
        analysis = StudyAnalysis(models, units, tables, empty, empty, empty, empty, notes, files)
        files["tables"] = study.write_table("tables_5_6", tables)
        return analysis
    order = [name for name in models["model"] if name in set(units["model"])]
    units = units.assign(model=pd.Categorical(units["model"], order, ordered=True)).sort_values(
        ["model", "dataset", "metric", "condition", "kind", "checkpoint"], ignore_index=True)
    units["model"] = units["model"].astype(str)
    curves = stats.checkpoint_curves(units, by=("model", "kind"), seed=seed)
    bars, bar_notes = model_bars(units, seed=seed)
    bars = bars.assign(model=pd.Categorical(bars["model"], order, ordered=True)).sort_values(
        ["contrast", "dataset", "metric", "model"], ignore_index=True).astype({"model": str})
    notes += bar_notes
    model_grid, persona_grid = metric_grid(units, "model"), metric_grid(units, "condition")
    for name, table in (("units", units), ("tables_5_6", tables), ("model_curves", curves), ("model_bars", bars),
                        ("model_metric_grid", model_grid), ("persona_metric_grid", persona_grid)):
        files[name] = study.write_table(name, table)
    forest = plots.plot_forest(tables, title="Size coefficient with 95% CI: this study vs published",
                               label="this study", directions=reproduce.TABLE_DIRECTIONS)
    _save(files, "forest", forest, study.figure("tables_5_6_forest"), tables)
    for (dataset, metric), part in _metric_groups(curves):
        part = part.assign(model=pd.Categorical(part["model"], order, ordered=True)).sort_values("model")
        figure = plots.plot_curve_grid(part, facet="model", metric=metric, facet_labels=labels)
        _save(files, f"curves_{metric}", figure, study.figure(f"curves_{dataset}_{metric}"), part)
    for contrast, stem in zip(CONTRASTS, ("length_cost", "personalisation_cost", "kind_difference")):
        part = bars[bars["contrast"] == contrast]
        if not part.empty:
            _save(files, stem, plot_model_bars(part, title=contrast.capitalize(), labels=labels),
                  study.figure(f"bars_{stem}"), part)
    _save(files, "model_grid", plot_metric_grid(model_grid, row="model", labels=labels,
                                                title="Mean persona score per model and metric"),
          study.figure("grid_model_metric"), model_grid)
    _save(files, "persona_grid", plot_metric_grid(persona_grid, row="condition", labels={BASELINE: "no persona"},
                                                  title="Mean score per persona and metric (over models)"),
          study.figure("grid_persona_metric"), persona_grid)
    return StudyAnalysis(models, units, tables, curves, bars, model_grid, persona_grid, notes, files)
