"""Cross-model figures of a study: per-model bars and mixed-model coefficients with confidence intervals, and
model/persona x metric grids.

Built like :mod:`persona_lib.plots` (no pyplot, the project's style and metric labels); write them with
:func:`persona_lib.plots.save_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from persona_lib.plots import KIND_COLOURS, KIND_LABELS, KIND_MARKERS, OKABE_ITO, figure_style, metric_style


def _arrow(metric: str) -> str:
    better = metric_style(metric).higher_is_better
    return "" if better is None else (" \u2191" if better else " \u2193")


def _kinds(table: pd.DataFrame) -> list[str | None]:
    """The dialogue kinds of ``table`` in the project's order, or ``[None]`` when it is not split by kind."""
    present = set(table["kind"].dropna()) if "kind" in table.columns else set()
    return [kind for kind in KIND_LABELS if kind in present] or [None]


def _grid_shape(n_panels: int, ncols: int) -> tuple[int, int]:
    """Rows and columns of a grid of ``n_panels`` panels with at most ``ncols`` per row."""
    columns = max(1, min(ncols, n_panels))
    return max(1, math.ceil(n_panels / columns)), columns


def _panels(fig: Figure, n_panels: int, shape: tuple[int, int], **subplots) -> np.ndarray:
    """The first ``n_panels`` axes of a ``shape`` grid; the unused ones are removed."""
    axes = fig.subplots(*shape, squeeze=False, **subplots).ravel()
    for ax in axes[n_panels:]:
        fig.delaxes(ax)
    return axes[:n_panels]


def _kind_legend(fig: Figure, kinds: list[str | None], extra: Sequence[tuple[Line2D, str]] = ()) -> None:
    entries = [
        (Line2D([], [], color=KIND_COLOURS[kind], marker=KIND_MARKERS[kind], linestyle="none"), KIND_LABELS[kind])
        for kind in kinds
        if kind is not None
    ] + list(extra)
    if entries:
        fig.legend(*zip(*entries), loc="outside lower center", ncols=len(entries), frameon=False)


def plot_model_bars(bars: pd.DataFrame, *, title: str, labels: dict[str, str] | None = None, ncols: int = 4) -> Figure:
    """One panel per metric: a bar per model (its estimate) with the 95% CI as an error bar.

    Where ``bars`` has a ``kind`` column with values, every model gets a bar per dialogue kind (persona-directed
    above goal-oriented), as the study's length-cost figure does (authors' ``gen_graphics.ipynb``,
    ``plot_with_bootstrap`` with ``split_by_base=True``).

    Args:
        bars: Columns ``metric, model, estimate, ci_low, ci_high`` and optionally ``kind`` (one contrast, e.g. the
            length cost).
        title: The figure title (the contrast and its sign convention).
        labels: Display names of the models.
        ncols: Panels per row.
    """
    metrics = list(dict.fromkeys(bars["metric"]))
    models = list(dict.fromkeys(bars["model"]))
    kinds = _kinds(bars)
    nrows, columns = _grid_shape(len(metrics), ncols)
    height = 0.7 / len(kinds)
    with figure_style():
        fig = Figure(
            figsize=(3.2 * columns, 0.3 * len(models) * len(kinds) * nrows + 1.6 * nrows + 0.8), layout="constrained"
        )
        y = np.arange(len(models))[::-1].astype(float)
        for ax, metric in zip(_panels(fig, len(metrics), (nrows, columns), sharey=True), metrics):
            part = bars[bars["metric"] == metric]
            for j, kind in enumerate(kinds):
                rows = (part if kind is None else part[part["kind"] == kind]).set_index("model").reindex(models)
                at = y + height * ((len(kinds) - 1) / 2 - j)
                colour = OKABE_ITO["sky_blue"] if kind is None else KIND_COLOURS[kind]
                ax.barh(at, rows["estimate"], color=colour, height=0.9 * height)
                errors = [rows["estimate"] - rows["ci_low"], rows["ci_high"] - rows["estimate"]]
                ax.errorbar(
                    rows["estimate"], at, xerr=errors, fmt="none", ecolor=OKABE_ITO["black"], capsize=3, linewidth=1
                )
            ax.axvline(0, color=OKABE_ITO["black"], linewidth=0.8, linestyle=":")
            ax.set_yticks(y, [(labels or {}).get(model, model) for model in models])
            ax.set_title(metric_style(metric).label + _arrow(metric))
        fig.supxlabel("Difference in points (0\u2013100 scale), 95% bootstrap CI over personas")
        fig.suptitle(title)
        _kind_legend(fig, kinds)
    return fig


def plot_model_coefficients(
    coefficients: pd.DataFrame,
    *,
    title: str,
    ylabel: str,
    labels: dict[str, str] | None = None,
    families: dict[str, str] | None = None,
    ncols: int = 4,
) -> Figure:
    """One panel per metric: each model's mixed-model coefficient with its 95% interval, per dialogue kind.

    The study's coefficient figures (authors' ``gen_graphics.ipynb``, the cells saving ``length_coeffs.pdf`` and
    ``persona_coeffs.pdf``): models along the x axis, persona-directed and goal-oriented side by side, a dotted line
    between model families. A coefficient whose fit is not estimable (:func:`persona_lib.stats.fit_verdict`) is
    drawn hollow: its interval rests on a variance that could not be estimated. A fit that failed has no point.

    Args:
        coefficients: One row per metric x model x kind: columns ``metric, model, kind, coef, ci_low, ci_high,
            verdict`` (the row of one term of :func:`persona_lib.stats.length_slope` or
            :func:`~persona_lib.stats.persona_effect`); panels and models in order of appearance.
        title: The figure title (the model and its term).
        ylabel: What the coefficient measures, with its unit.
        labels: Display names of the models.
        families: Each model's family; consecutive models of different families are separated by a dotted line.
        ncols: Panels per row.
    """
    metrics = list(dict.fromkeys(coefficients["metric"]))
    models = list(dict.fromkeys(coefficients["model"]))
    kinds = _kinds(coefficients)
    x = np.arange(len(models), dtype=float)
    offset = 0.3 / max(1, len(kinds) - 1)
    hollow_drawn = False
    nrows, columns = _grid_shape(len(metrics), ncols)
    with figure_style():
        fig = Figure(figsize=(columns * max(3.2, 0.5 * len(models) + 1.4), 3.0 * nrows + 1.0), layout="constrained")
        for ax, metric in zip(_panels(fig, len(metrics), (nrows, columns)), metrics):
            part = coefficients[coefficients["metric"] == metric]
            for j, kind in enumerate(kinds):
                fits = (part if kind is None else part[part["kind"] == kind]).set_index("model").reindex(models)
                coef, low, high = (
                    pd.to_numeric(fits[column]).to_numpy(dtype=float) for column in ("coef", "ci_low", "ci_high")
                )
                at = x + offset * (j - (len(kinds) - 1) / 2)
                colour = OKABE_ITO["blue"] if kind is None else KIND_COLOURS[kind]
                marker = "o" if kind is None else KIND_MARKERS[kind]
                bounded = ~np.isnan(coef) & ~np.isnan(low) & ~np.isnan(high)
                ax.errorbar(
                    at[bounded],
                    coef[bounded],
                    yerr=[(coef - low)[bounded], (high - coef)[bounded]],
                    fmt="none",
                    ecolor=colour,
                    capsize=3,
                    linewidth=1,
                )
                estimable = fits["verdict"].fillna("").str.startswith("estimable").to_numpy()
                for solid in (True, False):
                    shown = (estimable == solid) & ~np.isnan(coef)
                    ax.plot(
                        at[shown],
                        coef[shown],
                        linestyle="none",
                        marker=marker,
                        color=colour,
                        markerfacecolor=colour if solid else "white",
                    )
                    hollow_drawn |= not solid and bool(shown.any())
            ax.axhline(0, color=OKABE_ITO["black"], linewidth=0.8, linestyle=":")
            for i in range(1, len(models)):
                if families and families.get(models[i]) != families.get(models[i - 1]):
                    ax.axvline(i - 0.5, color=OKABE_ITO["black"], linewidth=0.6, linestyle=":")
            ax.set_xticks(x, [(labels or {}).get(model, model) for model in models], rotation=40, ha="right")
            ax.set_xlim(-0.6, len(models) - 0.4)
            ax.set_title(metric_style(metric).label + _arrow(metric))
        fig.supylabel(ylabel)
        fig.suptitle(title)
        hollow = Line2D([], [], color=OKABE_ITO["black"], marker="o", markerfacecolor="white", linestyle="none")
        _kind_legend(fig, kinds, [(hollow, "not estimable (see the fit table)")] if hollow_drawn else [])
    return fig


def plot_metric_grid(grid: pd.DataFrame, *, row: str, title: str, labels: dict[str, str] | None = None) -> Figure:
    """A heat map of mean scores: one row per ``row`` value (model or persona), one column per metric.

    Args:
        grid: Columns ``<row>, metric, score`` (0–100).
        row: ``model`` or ``condition``.
        title: The figure title.
        labels: Display names of the row values.
    """
    table = grid.pivot_table(index=row, columns="metric", values="score", sort=False)
    with figure_style():
        fig = Figure(figsize=(1.1 * len(table.columns) + 2.6, 0.45 * len(table) + 1.8), layout="constrained")
        ax = fig.add_subplot()
        image = ax.imshow(table.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=100, aspect="auto")
        ax.grid(False)
        ax.set_xticks(
            range(len(table.columns)),
            [metric_style(m).label + _arrow(m) for m in table.columns],
            rotation=35,
            ha="right",
        )
        ax.set_yticks(range(len(table)), [(labels or {}).get(value, value) for value in table.index])
        for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
            if not np.isnan(value):
                ax.text(
                    j, i, f"{value:.0f}", ha="center", va="center", fontsize=9, color="black" if value > 60 else "white"
                )
        fig.colorbar(image, ax=ax, label="Mean score (0\u2013100)")
        ax.set_title(title)
    return fig
