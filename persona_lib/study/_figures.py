"""Cross-model figures of a study: per-model bars with confidence intervals, and model/persona x metric grids.

Built like :mod:`persona_lib.plots` (no pyplot, the project's style and metric labels); write them with
:func:`persona_lib.plots.save_figure`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from persona_lib.plots import OKABE_ITO, figure_style, metric_style


def _arrow(metric: str) -> str:
    better = metric_style(metric).higher_is_better
    return "" if better is None else (" \u2191" if better else " \u2193")


def plot_model_bars(bars: pd.DataFrame, *, title: str, labels: dict[str, str] | None = None, ncols: int = 4) -> Figure:
    """One panel per metric: a bar per model (its estimate) with the 95% CI as an error bar.

    Args:
        bars: Columns ``metric, model, estimate, ci_low, ci_high`` (one contrast, e.g. the length cost).
        title: The figure title (the contrast and its sign convention).
        labels: Display names of the models.
        ncols: Panels per row.
    """
    metrics = list(dict.fromkeys(bars["metric"]))
    models = list(dict.fromkeys(bars["model"]))
    ncols = max(1, min(ncols, len(metrics)))
    nrows = max(1, math.ceil(len(metrics) / ncols))
    with figure_style():
        fig = Figure(figsize=(3.2 * ncols, 0.35 * len(models) * nrows + 1.6 * nrows + 0.6), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
        y = np.arange(len(models))[::-1]
        for ax, metric in zip(axes, metrics):
            part = bars[bars["metric"] == metric].set_index("model").reindex(models)
            ax.barh(y, part["estimate"], color=OKABE_ITO["sky_blue"], height=0.6)
            errors = [part["estimate"] - part["ci_low"], part["ci_high"] - part["estimate"]]
            ax.errorbar(part["estimate"], y, xerr=errors, fmt="none", ecolor=OKABE_ITO["black"], capsize=3, linewidth=1)
            ax.axvline(0, color=OKABE_ITO["black"], linewidth=0.8, linestyle=":")
            ax.set_yticks(y, [(labels or {}).get(model, model) for model in models])
            ax.set_title(metric_style(metric).label + _arrow(metric))
        for ax in axes[len(metrics):]:
            fig.delaxes(ax)
        fig.supxlabel("Difference in points (0\u2013100 scale), 95% bootstrap CI over personas")
        fig.suptitle(title)
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
        ax.set_xticks(range(len(table.columns)), [metric_style(m).label + _arrow(m) for m in table.columns],
                      rotation=35, ha="right")
        ax.set_yticks(range(len(table)), [(labels or {}).get(value, value) for value in table.index])
        for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
            if not np.isnan(value):
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=9,
                        color="black" if value > 60 else "white")
        fig.colorbar(image, ax=ax, label="Mean score (0\u2013100)")
        ax.set_title(title)
    return fig
