"""The cross-model analysis of a study (or of the authors' release): per-model curves, Tables 5 and 6, per-model
bars, the per-model mixed-model coefficients and metric grids.

Tables 5 and 6 are re-estimated from the study's own unit scores with the functions that reproduce the published
rows from the authors' released results (:func:`persona_lib.reproduce.tables_from_units`, which fits
:func:`persona_lib.stats.length_cost_vs_size` and :func:`persona_lib.stats.personalisation_cost_vs_size`), with
the family and size code of each model taken from the study configuration. The length slope and the persona effect
are fitted per model and dialogue kind (:func:`persona_lib.stats.length_slope`,
:func:`persona_lib.stats.persona_effect`) on the metrics of the paper's coefficient figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from persona_lib import plots, reproduce, stats
from persona_lib.personas import BASELINE
from persona_lib.run import Run, table_file_name, write_csv
from persona_lib.study._figures import plot_metric_grid, plot_model_bars, plot_model_coefficients
from persona_lib.study._folder import Study

LENGTH_COST = "length cost (last - first checkpoint)"
PERSONALISATION_COST = "personalisation cost (persona - baseline at t = 0)"
KIND_DIFFERENCE = "persona-directed - goal-oriented"
CONTRASTS = (LENGTH_COST, PERSONALISATION_COST, KIND_DIFFERENCE)
_SCORE_KEYS = ["dataset", "metric"]
#: The metrics of the paper's coefficient figures (authors' ``gen_graphics.ipynb``, the cells saving
#: ``length_coeffs.pdf`` and ``persona_coeffs.pdf``): the length slope of the seven metrics of Table 5, dialogue
#: fidelity through the mean of its criteria, and the persona effect of the four of Table 6, the metrics on which the
#: baseline answers the very task the personas answer.
SLOPE_METRICS: tuple[str, ...] = tuple(metric for _, metric in reproduce.TABLE_METRICS.values())
EFFECT_METRICS: tuple[str, ...] = tuple(
    dict.fromkeys(reproduce.TABLE_METRICS[label][1] for table, label, *_ in reproduce.PUBLISHED if table == "Table 6")
)
LENGTH_TERM = "checkpoint"
PERSONA_TERM = "C(arm, Treatment('empty'))[T.persona]"
_COEFFICIENT_COLUMNS = [*_SCORE_KEYS, "model", "kind", "term", "coef", "ci_low", "ci_high", "n", "n_groups", "verdict"]


@dataclass
class StudyAnalysis:
    """Everything :func:`analyse_study` computed.

    Attributes:
        models: The models with family, size code and display name.
        units: WorkUnit scores of every model (``model`` is the study name).
        tables: Tables 5 and 6 re-estimated, beside the published values (``reproduce.TABLE_COLUMNS``).
        curves: Per-model curves of every metric (persona mean with bootstrap CI, and the baseline).
        bars: Per-model contrasts with bootstrap CIs (columns ``contrast, dataset, metric, model, kind,
            estimate...``; ``kind`` is set for the length cost only).
        model_grid: Mean persona score per model x metric.
        persona_grid: Mean score per condition (personas and the baseline) x metric, over models.
        slopes: The length slope per model x kind (:func:`persona_lib.stats.length_slope`) of :data:`SLOPE_METRICS`.
        effects: The persona effect per model x kind (:func:`persona_lib.stats.persona_effect`) of
            :data:`EFFECT_METRICS`.
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
    slopes: pd.DataFrame
    effects: pd.DataFrame
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
            notes.append(
                f"{name}: no unit scores yet (run `persona-eval study merge --study {study.folder}` once its "
                "units are done; `study status` shows what is missing)"
            )
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
        units: WorkUnit scores with a ``model`` column naming study models.
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
        note = (
            f"Tables 5 and 6 regress on model size and need models of at least two size codes; this study has "
            f"{have}. Add models of another size (1 = small of a family, 2 = large, 3 = API model)."
        )
        table = reproduce.tables_from_units(plain.iloc[:0], metadata)
        return table.assign(note=note), [note]
    table = reproduce.tables_from_units(plain, metadata)
    notes = [f"{row.table} / {row.dataset}: {row.note}" for row in table.itertuples() if row.status == "not computed"]
    return table, notes


def _metric_groups(units: pd.DataFrame):
    return units.groupby(_SCORE_KEYS, sort=False)


def model_bars(
    units: pd.DataFrame, *, seed: int = stats.DEFAULT_SEED, n_resamples: int = stats.PER_MODEL_RESAMPLES
) -> tuple[pd.DataFrame, list[str]]:
    """Per model and metric: the length cost, the personalisation cost and persona-directed - goal-oriented.

    Each is a mean over the model's personas with a percentile bootstrap CI over personas (``n_resamples``,
    seeded). The length cost is given per dialogue kind, as in the study's length-cost figure (authors'
    ``gen_graphics.ipynb``, the cell saving ``length_cost.pdf``); the personalisation cost averages both kinds
    within a persona (at t = 0 they ask the same questions).

    Returns:
        Columns ``contrast, dataset, metric, model, kind, estimate, ci_low, ci_high, n_units`` (``kind`` empty but
        for the length cost) and notes on contrasts a metric cannot have (e.g. no baseline, one checkpoint, one
        dialogue kind).
    """
    parts, notes = [], []
    unit = ("model", "condition")
    for (dataset, metric), part in _metric_groups(units):
        where = f"{dataset}/{metric}"
        personas = part[part["condition"] != BASELINE]
        if personas.empty:
            continue
        if personas["checkpoint"].nunique() >= 2:
            parts.append(
                stats.bootstrap_ci(
                    stats.length_cost(part),
                    value="diff",
                    unit=unit,
                    by=[*_SCORE_KEYS, "model", "kind"],
                    n_resamples=n_resamples,
                    seed=seed,
                ).assign(contrast=LENGTH_COST)
            )
        else:
            notes.append(f"{where}: one checkpoint only, so no length cost")
        start = part["checkpoint"].min()
        has_baseline = ((part["condition"] == BASELINE) & (part["checkpoint"] == start)).any()
        if has_baseline:
            diffs = stats.personalisation_cost(part, checkpoint=start)
            diffs = diffs.groupby([*_SCORE_KEYS, *unit], as_index=False)["diff"].mean()
            parts.append(
                stats.bootstrap_ci(
                    diffs, value="diff", unit=unit, by=[*_SCORE_KEYS, "model"], n_resamples=n_resamples, seed=seed
                ).assign(contrast=PERSONALISATION_COST)
            )
        else:
            notes.append(f"{where}: no baseline scores, so no personalisation cost")
        if personas["kind"].nunique() == 2:
            difference = stats.kind_difference(part, by=("model",), n_resamples=n_resamples, seed=seed)
            parts.append(difference.assign(contrast=KIND_DIFFERENCE))
        else:
            notes.append(f"{where}: one dialogue kind only, so no persona-directed - goal-oriented difference")
    columns = ["contrast", *_SCORE_KEYS, "model", "kind", "estimate", "ci_low", "ci_high", "n_units"]
    bars = pd.concat(parts, ignore_index=True).reindex(columns=columns) if parts else pd.DataFrame(columns=columns)
    return bars, notes


def _fit_or_note(
    fit: Callable[..., pd.DataFrame], units: pd.DataFrame, metrics: tuple[str, ...], what: str
) -> tuple[pd.DataFrame, list[str]]:
    missing = [metric for metric in metrics if metric not in set(units["metric"])]
    notes = [f"{what}: no units of {', '.join(missing)}, so none in its figure"] if missing else []
    try:
        return fit(units, metrics=metrics), notes
    except ValueError as err:  # no persona (or no baseline) unit of any of these metrics
        return pd.DataFrame(columns=["term"]), [*notes, f"{what}: nothing to fit ({err})"]


def model_coefficients(units: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The study's two per-model mixed models, per model x dialogue kind, on the metrics of its coefficient figures.

    The length slope (``score ~ round``, a random intercept per persona) of :data:`SLOPE_METRICS`: benchmarks over
    their checkpoints, dialogue fidelity over every round (:func:`persona_lib.stats.length_slope`). The persona
    effect (persona vs baseline, a random intercept per round x condition) of :data:`EFFECT_METRICS`
    (:func:`persona_lib.stats.persona_effect`).

    Args:
        units: WorkUnit scores of every model (benchmark and turn-level units alike).

    Returns:
        The length slopes and the persona effects (tidy fits, intercepts included) and notes on the metrics that
        have no units.
    """
    slopes, slope_notes = _fit_or_note(stats.length_slope, units, SLOPE_METRICS, "length coefficients")
    effects, effect_notes = _fit_or_note(stats.persona_effect, units, EFFECT_METRICS, "persona coefficients")
    return slopes, effects, [*slope_notes, *effect_notes]


def coefficient_rows(fits: pd.DataFrame, term: str, models: list[str]) -> pd.DataFrame:
    """One row per metric x model x kind: the fitted coefficient of ``term`` (or the failed fit's row, without one).

    Args:
        fits: Tidy fits of :func:`model_coefficients`.
        term: The fixed effect shown (:data:`LENGTH_TERM` or :data:`PERSONA_TERM`).
        models: The models in the order they are shown (the study configuration's).

    Returns:
        Columns ``dataset, metric, model, kind, term, coef, ci_low, ci_high, n, n_groups, verdict``, in the paper's
        metric order, then the models' order, persona-directed before goal-oriented.
    """
    rows = fits[fits["term"].isna() | (fits["term"] == term)]
    if rows.empty:
        return pd.DataFrame(columns=_COEFFICIENT_COLUMNS)
    order = {
        "metric": pd.Categorical(rows["metric"], SLOPE_METRICS, ordered=True),
        "model": pd.Categorical(rows["model"], models, ordered=True),
        "kind": pd.Categorical(rows["kind"], list(plots.KIND_LABELS), ordered=True),
    }
    return (
        rows.assign(**order)
        .sort_values(list(order))
        .astype({column: str for column in order})[_COEFFICIENT_COLUMNS]
        .reset_index(drop=True)
    )


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
    """Compute and write the cross-model analysis of a study (:func:`analyse_units` on its merged runs' units, into
    ``analysis/tables`` and ``analysis/figures``).

    Args:
        study: The study folder (per-model runs merged by ``study merge``).
        seed: Bootstrap seed (default: the protocol's).
    """
    seed = study.config.protocol.seed if seed is None else seed
    units, notes = collect_units(study)
    analysis = analyse_units(units, study.config.models_table(), study.analysis_dir, seed=seed, label="this study")
    analysis.notes[:0] = notes
    return analysis


def analyse_units(
    units: pd.DataFrame, models: pd.DataFrame, out_dir: str | Path, *, seed: int = stats.DEFAULT_SEED, label: str
) -> StudyAnalysis:
    """Compute and write the cross-model analysis of unit scores of several models (tables under ``out_dir/tables``,
    figures under ``out_dir/figures``): Tables 5 and 6, per-model curves, bars (:func:`model_bars`) and
    coefficients of the length slope and the persona effect (:func:`model_coefficients`), and the metric grids.

    Whatever cannot be computed (a model without scores, a single size group, a metric without a baseline) is
    left out and said in ``notes``; nothing fails for lack of data.

    Args:
        units: WorkUnit scores with a ``model`` column (a study's merged runs, or the authors' release read by
            :func:`persona_lib.authors_release.unit_scores`).
        models: The models in the order they are shown: ``model, family, size, display_name``.
        out_dir: Folder to write into.
        seed: Bootstrap seed.
        label: Who computed the re-estimated coefficients, for the forest plot's legend (``this study``).
    """
    out = Path(out_dir)
    labels = dict(zip(models["model"], models["display_name"]))
    notes: list[str] = []
    files: dict[str, Path] = {}

    def write(name: str, table: pd.DataFrame) -> None:
        files[name] = write_csv(out / "tables" / table_file_name(name), table)

    def figure_path(name: str) -> Path:
        return out / "figures" / name

    units = units.drop(columns=[c for c in ("family", "size", "display_name") if c in units.columns])
    units = units.merge(models[["model", "family", "size", "display_name"]], on="model", how="left")
    tables, table_notes = size_tables(units, models)
    notes += table_notes
    if units.empty:
        empty = pd.DataFrame()
        write("tables_5_6", tables)
        return StudyAnalysis(models, units, tables, empty, empty, empty, empty, empty, empty, notes, files)
    order = [name for name in models["model"] if name in set(units["model"])]
    units = units.assign(model=pd.Categorical(units["model"], order, ordered=True)).sort_values(
        ["model", "dataset", "metric", "condition", "kind", "checkpoint"], ignore_index=True
    )
    units["model"] = units["model"].astype(str)
    curves = stats.checkpoint_curves(units, by=("model", "kind"), seed=seed)
    bars, bar_notes = model_bars(units, seed=seed)
    bars = (
        bars.assign(model=pd.Categorical(bars["model"], order, ordered=True))
        .sort_values(["contrast", "dataset", "metric", "model", "kind"], ignore_index=True)
        .astype({"model": str})
    )
    notes += bar_notes
    model_grid, persona_grid = metric_grid(units, "model"), metric_grid(units, "condition")
    slopes, effects, coefficient_notes = model_coefficients(units)
    notes += coefficient_notes
    for name, table in (
        ("units", units),
        ("tables_5_6", tables),
        ("model_curves", curves),
        ("model_bars", bars),
        ("model_metric_grid", model_grid),
        ("persona_metric_grid", persona_grid),
        ("length_slopes", slopes),
        ("persona_effects", effects),
    ):
        write(name, table)
    forest = plots.plot_forest(
        tables,
        title=f"Size coefficient with 95% CI: {label} vs published",
        label=label,
        directions=reproduce.TABLE_DIRECTIONS,
    )
    _save(files, "forest", forest, figure_path("tables_5_6_forest"), tables)
    for (dataset, metric), part in _metric_groups(curves):
        part = part.assign(model=pd.Categorical(part["model"], order, ordered=True)).sort_values("model")
        figure = plots.plot_curve_grid(part, facet="model", metric=metric, facet_labels=labels)
        _save(files, f"curves_{metric}", figure, figure_path(f"curves_{dataset}_{metric}"), part)
    for contrast, stem in zip(CONTRASTS, ("length_cost", "personalisation_cost", "kind_difference")):
        part = bars[bars["contrast"] == contrast]
        if not part.empty:
            _save(
                files,
                stem,
                plot_model_bars(part, title=contrast.capitalize(), labels=labels),
                figure_path(f"bars_{stem}"),
                part,
            )
    families = dict(zip(models["model"], models["family"]))
    for stem, fits, term, title, ylabel in (
        (
            "length_coefficients",
            slopes,
            LENGTH_TERM,
            "Length slope per model: score ~ round, random intercept per persona",
            "Points per round, 95% CI",
        ),
        (
            "persona_coefficients",
            effects,
            PERSONA_TERM,
            "Persona effect per model: persona vs no-persona baseline, random intercept per round \u00d7 condition",
            "Persona \u2212 baseline (points), 95% CI",
        ),
    ):
        part = coefficient_rows(fits, term, order)
        if not part.empty:
            figure = plot_model_coefficients(part, title=title, ylabel=ylabel, labels=labels, families=families)
            _save(files, stem, figure, figure_path(stem), part)
    _save(
        files,
        "model_grid",
        plot_metric_grid(model_grid, row="model", labels=labels, title="Mean persona score per model and metric"),
        figure_path("grid_model_metric"),
        model_grid,
    )
    _save(
        files,
        "persona_grid",
        plot_metric_grid(
            persona_grid,
            row="condition",
            labels={BASELINE: "no persona"},
            title="Mean score per persona and metric (over models)",
        ),
        figure_path("grid_persona_metric"),
        persona_grid,
    )
    return StudyAnalysis(models, units, tables, curves, bars, model_grid, persona_grid, slopes, effects, notes, files)
