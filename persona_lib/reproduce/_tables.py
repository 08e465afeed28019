"""The published rows of Tables 5 and 6, how they are re-estimated, and the reproduction from the shipped data.

:func:`run_reproduction` recomputes what ``data/released/`` allows (the IFBench rows);
:func:`tables_from_units` fits any unit table the way the study did (also used by the study analysis and by the
reproduction from a clone, :mod:`persona_lib.reproduce._clone`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from persona_lib import plots, released, stats
from persona_lib.datasets import get_metric
from persona_lib.datasets.ifbench import RELEASED_IFBENCH_METRIC
from persona_lib.personas import BASELINE

#: Agreement required between reproduced and published coefficient and both CI bounds (published values are
#: rounded to two decimals).
TOLERANCE = 0.01

#: Size coefficients with 95% CI as printed in the paper (Tables 5 and 6), 0-100 scale.
PUBLISHED: tuple[tuple[str, str, float, float, float], ...] = (
    ("Table 5", "Dialogue", 13.76, 5.37, 22.15),
    ("Table 5", "BFI", -4.61, -8.56, -0.65),
    ("Table 5", "Persona-specific", 17.90, 12.86, 22.95),
    ("Table 5", "General", -4.20, -7.70, -0.72),
    ("Table 5", "IFBench", 0.98, -0.13, 2.09),
    ("Table 5", "Safety", -8.75, -13.57, -3.93),
    ("Table 5", "Excess safety", -2.73, -7.54, 2.08),
    ("Table 6", "General", 8.90, 7.89, 9.91),
    ("Table 6", "IFBench", 1.48, 0.82, 2.15),
    ("Table 6", "Safety", 5.10, 2.24, 7.96),
    ("Table 6", "Excess safety", 4.50, 1.31, 7.70),
)

TABLE_COLUMNS = [
    "table",
    "dataset",
    "coef",
    "ci_low",
    "ci_high",
    "published_coef",
    "published_ci_low",
    "published_ci_high",
    "status",
    "note",
    "n",
    "n_groups",
    "converged",
    "optimiser",
    "warnings",
    "verdict",
]
#: Columns of :func:`table_variants`: a variant of the specification beside the published value.
VARIANT_COLUMNS = [TABLE_COLUMNS[0], TABLE_COLUMNS[1], "variant", *TABLE_COLUMNS[2:]]
#: Published dataset label -> the (dataset, metric) of the unit scores it is computed from.
TABLE_METRICS: dict[str, tuple[str, str]] = {
    "Dialogue": ("fidelity", "dialogue"),
    "BFI": ("bfi", "bfi_error"),
    "Persona-specific": ("rolebench_specific", "rolebench_specific"),
    "General": ("rolebench_general", "rolebench_general"),
    "IFBench": ("ifbench", RELEASED_IFBENCH_METRIC),
    "Safety": ("xstest", "safety"),
    "Excess safety": ("xstest", "excess_safety"),
}
#: Published dataset label -> its direction of "better" (True: higher). For a lower-is-better metric a positive
#: size coefficient means larger models do *worse*.
TABLE_DIRECTIONS: dict[str, bool | None] = {
    label: get_metric(metric).higher_is_better for label, (_, metric) in TABLE_METRICS.items()
}
_NOT_RELEASED = (
    "not reproducible from data/released/: the judge outputs for this dataset are in the authors' repository, not "
    "shipped with this project; run `persona-eval reproduce --authors-repo PATH` on a clone of it"
)
_FIT_FIELDS = ["coef", "ci_low", "ci_high", "n", "n_groups", "converged", "optimiser", "warnings", "verdict"]


@dataclass(frozen=True)
class Reproduction:
    """What :func:`run_reproduction` computed and wrote.

    Attributes:
        tables: The Table 5/6 comparison (columns :data:`TABLE_COLUMNS`).
        curves: Per-model IFBench curves (persona mean with bootstrap CI over personas, and the baseline).
        files: Every file written, keyed by a short name.
    """

    tables: pd.DataFrame
    curves: pd.DataFrame
    files: dict[str, Path]


def _published_frame() -> pd.DataFrame:
    return pd.DataFrame(
        PUBLISHED, columns=["table", "dataset", "published_coef", "published_ci_low", "published_ci_high"]
    )


def _size_row(fit: pd.DataFrame) -> dict:
    row = fit[fit["term"] == "size"]
    if row.empty:
        return {
            "converged": False,
            "warnings": "; ".join(fit["warnings"].dropna()),
            "verdict": "; ".join(fit["verdict"].dropna().unique()),
        }
    return row.iloc[0][_FIT_FIELDS].to_dict()


def _status(row: pd.Series) -> tuple[str, str]:
    if pd.isna(row["coef"]):
        missing = row.get("missing")
        if isinstance(missing, str) and missing:
            return "not computed", missing
        return "not reproducible", _NOT_RELEASED
    gaps = {name: abs(row[name] - row[f"published_{name}"]) for name in ("coef", "ci_low", "ci_high")}
    worst = max(gaps, key=gaps.get)
    if gaps[worst] <= TOLERANCE:
        return "matched", f"coefficient and both CI bounds within {TOLERANCE} of the published values"
    return "mismatch", f"largest gap {gaps[worst]:.3f} on {worst} (tolerance {TOLERANCE})"


def _compare(reproduced: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Reproduced rows (keyed by table and dataset) beside the published values, with a status and a note."""
    table = reproduced.merge(_published_frame(), on=["table", "dataset"], how="left")
    for name in _FIT_FIELDS:
        if name not in table:
            table[name] = None
    table[["coef", "ci_low", "ci_high"]] = table[["coef", "ci_low", "ci_high"]].apply(pd.to_numeric)
    table[["status", "note"]] = table.apply(_status, axis=1, result_type="expand")
    return table.reindex(columns=columns).astype({"n": "Int64", "n_groups": "Int64", "converged": "boolean"})


def reproduce_tables(ifbench_units: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 5 and Table 6 rows from ``data/released/``: IFBench reproduced, the others listed as not reproducible.

    Args:
        ifbench_units: Released IFBench units with model metadata (default: loaded from ``data/released``).

    Returns:
        One row per published coefficient with columns :data:`TABLE_COLUMNS`.
    """
    units = (
        ifbench_units if ifbench_units is not None else released.with_model_metadata(released.load_ifbench_results())
    )
    fits = {
        ("Table 5", "IFBench"): _size_row(stats.length_cost_vs_size(units)),
        ("Table 6", "IFBench"): _size_row(stats.personalisation_cost_vs_size(units)),
    }
    rows = [{"table": table, "dataset": label, **fits.get((table, label), {})} for table, label, *_ in PUBLISHED]
    return _compare(pd.DataFrame(rows), TABLE_COLUMNS)


# --------------------------------------------------------------------------------- from a clone of the release
def _study_pairing_fit(part: pd.DataFrame, checkpoint: int = 0) -> pd.DataFrame:
    """Table 6 as the study fitted it when the baseline exists once per reference persona.

    Every persona row is paired with every baseline row of the same model, kind and checkpoint (one per
    reference persona), so each model x persona x kind contributes one difference per reference persona.
    """
    at = part[part["checkpoint"] == checkpoint]
    keys = ["model", "kind"]
    baseline = at[at["condition"] == BASELINE][[*keys, "score"]].rename(columns={"score": "baseline"})
    pairs = at[at["condition"] != BASELINE].merge(baseline, on=keys)
    pairs = pairs.assign(
        diff=(pairs["score"] - pairs["baseline"]).astype(float),
        size=pairs["size"].astype(float),
        persona_family=pairs["condition"].astype(str) + " | " + pairs["family"].astype(str),
    )
    return stats.fit_mixedlm(pairs, "diff ~ size", "persona_family")


def _table_fit(table: str, part: pd.DataFrame, *, pairing: str) -> dict:
    """Fit one published row on the units of its metric; a row that cannot be fitted says why in ``missing``.

    ``pairing`` (Table 6 only): ``study`` pairs each persona with every per-reference-persona baseline row, as
    the study did; ``one_baseline`` first averages those rows into one baseline per model, kind and checkpoint.
    """
    personas = part[part["condition"] != BASELINE]
    if table == "Table 5":
        if personas["checkpoint"].nunique() < 2:
            return {"missing": "needs persona units at two or more checkpoints"}
        fit = stats.length_cost_vs_size(personas)
    else:
        baseline = part[(part["condition"] == BASELINE) & (part["checkpoint"] == 0)]
        if baseline.empty or not (personas["checkpoint"] == 0).any():
            return {"missing": "needs persona and baseline units at checkpoint 0"}
        if pairing == "study" and baseline.get("reference_persona", pd.Series(dtype=object)).notna().any():
            fit = _study_pairing_fit(part)
        else:
            fit = stats.personalisation_cost_vs_size(stats.collapse_reference_personas(part))
    row = _size_row(fit)
    if pd.isna(row.get("coef", float("nan"))):
        row["missing"] = f"the mixed model could not be fitted: {row.get('warnings') or 'no size term'}"
    return row


def _metric_units(units: pd.DataFrame, label: str) -> pd.DataFrame:
    dataset, metric = TABLE_METRICS[label]
    return units[(units["dataset"] == dataset) & (units["metric"] == metric)]


def _fit_published_row(units: pd.DataFrame, table: str, label: str, *, pairing: str = "study") -> dict:
    part = _metric_units(units, label)
    if part.empty:
        dataset, metric = TABLE_METRICS[label]
        return {"missing": f"no units of {dataset}/{metric}"}
    return _table_fit(table, part, pairing=pairing)


def tables_from_units(units: pd.DataFrame, models: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every row of Tables 5 and 6 recomputed from unit scores, beside the published values.

    Args:
        units: Unit scores of the study's metrics (:func:`persona_lib.authors_release.unit_scores`); the
            (dataset, metric) behind each row is :data:`TABLE_METRICS`.
        models: Model metadata (family, size) if the units hold other models than the study's.

    Returns:
        Columns :data:`TABLE_COLUMNS`, in the published order; a row whose units are missing or whose model
        cannot be fitted has status ``not computed`` and says why in ``note``.
    """
    units = released.with_model_metadata(units, models)
    rows = [
        {"table": table, "dataset": label, **_fit_published_row(units, table, label)} for table, label, *_ in PUBLISHED
    ]
    return _compare(pd.DataFrame(rows), TABLE_COLUMNS)


def table_variants(
    units: pd.DataFrame,
    *,
    other_label_units: pd.DataFrame | None = None,
    authors_bfi_units: pd.DataFrame | None = None,
    models: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rows of Tables 5 and 6 under other readings of the specification, beside the published values.

    * ``Table 6 / General, one baseline per model``: the baseline's per-reference-persona rows averaged before
      differencing (instead of the study's pairing of every persona with every such row);
    * ``Table 5 / BFI, labels: <source>``: the BFI error against the other InCharacter label source
      (``other_label_units``: unit scores computed with that source);
    * ``Table 5 / BFI, authors' extracted ratings``: the BFI error from the authors' ``results/bfi_ratings.csv``
      instead of our parse of the judge outputs (``authors_bfi_units``).

    Returns:
        Columns :data:`VARIANT_COLUMNS`.
    """
    units = released.with_model_metadata(units, models)
    rows = [
        {
            "table": "Table 6",
            "dataset": "General",
            "variant": "one baseline per model (reference personas averaged)",
            **_fit_published_row(units, "Table 6", "General", pairing="one_baseline"),
        }
    ]
    for variant, extra in (("labels: {source}", other_label_units), ("authors' extracted ratings", authors_bfi_units)):
        if extra is None:
            continue
        extra = released.with_model_metadata(extra, models)
        sources = extra.loc[extra["metric"] == "bfi_error", "label_source"].dropna().unique()
        name = variant.format(source=", ".join(sources) or "none")
        rows.append(
            {"table": "Table 5", "dataset": "BFI", "variant": name, **_fit_published_row(extra, "Table 5", "BFI")}
        )
    return _compare(pd.DataFrame(rows), VARIANT_COLUMNS)


def model_curves(units: pd.DataFrame, *, seed: int = stats.DEFAULT_SEED) -> pd.DataFrame:
    """Per-model curves of every metric: persona mean (bootstrap CI over personas) and baseline, per kind.

    Baseline rows judged once per reference persona are averaged first (one baseline per model).
    """
    return stats.checkpoint_curves(stats.collapse_reference_personas(units), by=("model", "kind"), seed=seed)


def ifbench_model_curves(ifbench_units: pd.DataFrame | None = None, *, seed: int = stats.DEFAULT_SEED) -> pd.DataFrame:
    """Per-model IFBench curves, t = 0 ... 102: persona mean (bootstrap CI over the 8 personas) and baseline.

    The baseline is a single run per model, so its interval has zero width.
    """
    units = ifbench_units if ifbench_units is not None else released.load_ifbench_results()
    return stats.checkpoint_curves(units, by=("model", "kind"), seed=seed)


def comparison_table(table: pd.DataFrame, *, digits: int = 2) -> pd.DataFrame:
    """The comparison of :func:`reproduce_tables` as a reader's table: one row per published coefficient.

    Each row gives the dataset with its direction (↑ higher is better, ↓ lower is better: for a ↓ metric a
    positive size coefficient means larger models do worse), the reproduced and the published coefficient with
    their 95% intervals, the status, and either the fit's verdict (:func:`persona_lib.stats.fit_verdict`) with the
    differences and groups it rests on or, for a row that was not computed, the reason (for the judge-scored
    rows of ``data/released/``, in short: the ``note`` column says how to compute them).

    Args:
        table: Columns :data:`TABLE_COLUMNS` (or :data:`VARIANT_COLUMNS`).
        digits: Decimals of the coefficients (the paper prints two).
    """
    from persona_lib.report import format_number

    def interval(coef: object, low: object, high: object) -> str:  # the bounds kept on one line
        if pd.isna(coef):
            return "\u2014"
        return f"{format_number(coef, digits)} [{format_number(low, digits)},\u00a0{format_number(high, digits)}]"

    arrows = {True: " \u2191", False: " \u2193", None: ""}
    rows = []
    for row in table.itertuples(index=False):
        fitted = not pd.isna(row.coef)
        rows.append(
            {
                "table": row.table,
                "dataset": f"{row.dataset}{arrows[TABLE_DIRECTIONS.get(row.dataset)]}",
                **({"variant": row.variant} if "variant" in table.columns else {}),
                "reproduced [95% CI]": interval(row.coef, row.ci_low, row.ci_high),
                "published [95% CI]": interval(row.published_coef, row.published_ci_low, row.published_ci_high),
                "status": row.status,
                "fit, or why not computed": (
                    f"{row.verdict} ({row.n} differences in {row.n_groups} persona \u00d7 family groups)"
                    if fitted
                    else _short_reason(row.status, row.note)
                ),
            }
        )
    return pd.DataFrame(rows)


def _short_reason(status: str, note: object) -> str:
    """Why a row has no reproduced value, short enough for a table cell (the long note names the command)."""
    if status == "not reproducible":
        return "judge scores not in data/released/ (they are in the authors' repository)"
    return _plain(note)


def _plain(text: object) -> str:
    """A note without Markdown code marks (an HTML table cell would show the backticks as they are)."""
    return re.sub(r"`([^`]*)`", "\u2018\\1\u2019", str(text))


def format_comparison(table: pd.DataFrame) -> str:
    """The comparison table as aligned text for the terminal (a ``variant`` column is shown when present)."""

    def interval(low: float, high: float) -> str:
        return "" if pd.isna(low) else f"[{low:6.2f}, {high:6.2f}]"

    lines = [f"{'table':8} {'dataset':17} {'reproduced':>25}   {'published':>25}   status"]
    for row in table.itertuples():
        mine = "" if pd.isna(row.coef) else f"{row.coef:6.2f} {interval(row.ci_low, row.ci_high)}"
        theirs = f"{row.published_coef:6.2f} {interval(row.published_ci_low, row.published_ci_high)}"
        line = f"{row.table:8} {row.dataset:17} {mine:>25}   {theirs:>25}   {row.status}"
        if row.status == "not computed":
            line += f" ({row.note})"
        lines.append(line + (f"   [{row.variant}]" if "variant" in table.columns else ""))
    return "\n".join(lines)


def _save_figures(out: Path, tables: pd.DataFrame, curves: pd.DataFrame, metrics: list[tuple[str, str]]) -> dict:
    files = {}
    forest = plots.plot_forest(tables, directions=TABLE_DIRECTIONS)
    for kind, path in plots.save_figure(forest, out / "figures" / "tables_5_6_forest", tables).items():
        files[f"forest_{kind}"] = path
    order = list(released.MODEL_INFO)
    names = {model: info.display_name for model, info in released.MODEL_INFO.items()}
    for dataset, metric in metrics:
        part = curves[(curves["dataset"] == dataset) & (curves["metric"] == metric)]
        if part.empty:
            continue
        known = [model for model in order if model in set(part["model"])]
        part = part.assign(
            model=pd.Categorical(part["model"], known + sorted(set(part["model"]) - set(known)), ordered=True)
        ).sort_values("model")
        grid = plots.plot_curve_grid(part, facet="model", metric=metric, facet_labels=names)
        stem = f"{dataset}_{metric}_per_model"
        for kind, path in plots.save_figure(grid, out / "figures" / stem, part).items():
            files[f"{stem}_{kind}"] = path
    return files


def run_reproduction(out_dir: str | Path) -> Reproduction:
    """Compute and write the reproduction from ``data/released/``: ``tables.csv``, ``ifbench_curves.csv``, figures.

    Args:
        out_dir: Folder to write into (created if needed).

    Returns:
        A :class:`Reproduction` with the tables and the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    units = released.with_model_metadata(released.load_ifbench_results())
    tables = reproduce_tables(units)
    curves = ifbench_model_curves(units).merge(
        released.model_metadata()[["model", "display_name"]], on="model", how="left"
    )
    files = {"tables": out / "tables.csv", "curves": out / "ifbench_curves.csv"}
    tables.to_csv(files["tables"], index=False)
    curves.to_csv(files["curves"], index=False)
    order = list(released.MODEL_INFO)
    grid_data = curves.assign(model=pd.Categorical(curves["model"], order, ordered=True)).sort_values("model")
    names = {model: info.display_name for model, info in released.MODEL_INFO.items()}
    grid = plots.plot_curve_grid(grid_data, facet="model", metric="ifbench", facet_labels=names)
    for kind, path in plots.save_figure(grid, out / "figures" / "ifbench_per_model", grid_data).items():
        files[f"ifbench_per_model_{kind}"] = path
    forest = plots.plot_forest(tables, directions=TABLE_DIRECTIONS)
    for kind, path in plots.save_figure(forest, out / "figures" / "tables_5_6_forest", tables).items():
        files[f"forest_{kind}"] = path
    return Reproduction(tables=tables, curves=curves, files=files)
