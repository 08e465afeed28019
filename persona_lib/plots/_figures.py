"""Figures of the analysis: curves over checkpoints or prefix tokens, differences, grids and forest plots.

Every function builds a :class:`matplotlib.figure.Figure` directly (no pyplot state, any backend) from the tidy
tables of :mod:`persona_lib.stats` and returns it; write it with :func:`persona_lib.plots.save_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from persona_lib.personas import BASELINE
from persona_lib.plots._style import (
    ARM_LABELS,
    ARM_LINESTYLES,
    BAND_ALPHA,
    CONDITION_COLOURS,
    KIND_COLOURS,
    KIND_LABELS,
    KIND_MARKERS,
    OKABE_ITO,
    PUBLISHED_COLOUR,
    REPRODUCED_COLOUR,
    figure_style,
    metric_style,
)

X_LABELS = {
    "checkpoint": "Dialogue rounds before the item",
    "round": "Round of the dialogue (the judged turn)",
    "prefix_tokens": "Dialogue prefix length (tokens)",
}


def _require(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(f"{what} needs column(s) {', '.join(missing)}; got {', '.join(map(str, table.columns))}")


def _metric_of(table: pd.DataFrame, metric: str | None) -> str:
    if metric is not None:
        return metric
    if "metric" in table.columns and table["metric"].nunique() == 1:
        return str(table["metric"].iloc[0])
    return "score"


#: Arrows after a metric's name: higher is better, lower is better, no better direction.
DIRECTION_ARROWS = {True: " \u2191", False: " \u2193", None: ""}


def units_label(part: pd.DataFrame) -> str:
    """How many units an interval rests on, for a legend entry: ``" (n = 8)"``, ``" (n = 6–8)"`` or ``""``.

    Args:
        part: Rows of one line of a curve table; ``n_units`` (from :func:`persona_lib.stats.bootstrap_ci`) is
            read when present.
    """
    if "n_units" not in part.columns or part["n_units"].dropna().empty:
        return ""
    low, high = int(part["n_units"].min()), int(part["n_units"].max())
    return f" (n = {low})" if low == high else f" (n = {low}\u2013{high})"


def panel_units(curves: pd.DataFrame) -> str:
    """The units behind a panel's intervals, per arm, e.g. ``"n: persona 2, no-persona baseline 1"``."""
    if "n_units" not in curves.columns or curves["n_units"].dropna().empty:
        return ""
    if "arm" not in curves.columns:
        return "n" + units_label(curves).strip().removeprefix("(n").removesuffix(")")
    arms = sorted(curves["arm"].dropna().unique(), key=lambda arm: (arm != "persona", str(arm)))
    parts = [
        f"{ARM_LABELS.get(arm, arm)}{units_label(curves[curves['arm'] == arm]).replace(' (n = ', ' ')[:-1]}"
        for arm in arms
    ]
    return "n: " + ", ".join(parts)


def _checkpoint_ticks(ax: Axes, positions: pd.Series, x: str) -> None:
    """Ticks at the checkpoints themselves (0, 11, 22, …), not at fractions of a round."""
    values = sorted(positions.dropna().unique())
    if x in ("checkpoint", "round") and 1 < len(values) <= 12:
        ax.set_xticks(values)


def _draw_curves(ax: Axes, curves: pd.DataFrame, x: str, *, with_units: bool = True, ticks: bool = True) -> None:
    if ticks:
        _checkpoint_ticks(ax, curves[x], x)
    arms = [arm for arm in ("persona", "baseline") if "arm" in curves.columns and arm in set(curves["arm"])]
    for kind in [k for k in KIND_COLOURS if k in set(curves["kind"])]:
        for arm in arms or [None]:
            part = curves[(curves["kind"] == kind) & ((curves["arm"] == arm) if arm else True)].sort_values(x)
            label = KIND_LABELS[kind] + (f", {ARM_LABELS[arm]}" if arm else "")
            label += units_label(part) if with_units else ""
            ax.plot(
                part[x],
                part["estimate"],
                color=KIND_COLOURS[kind],
                linestyle=ARM_LINESTYLES.get(arm, "-"),
                marker=KIND_MARKERS[kind],
                markersize=4,
                label=label,
            )
            ax.fill_between(
                part[x], part["ci_low"], part["ci_high"], color=KIND_COLOURS[kind], alpha=BAND_ALPHA, linewidth=0
            )


def plot_checkpoint_curves(
    curves: pd.DataFrame, *, x: str = "checkpoint", metric: str | None = None, title: str | None = None
) -> Figure:
    """Score against dialogue length: persona (solid) vs baseline (dashed), per dialogue kind, 95% CI bands.

    Every legend entry says how many units its interval rests on (``n``, from the table's ``n_units``).

    Args:
        curves: Output of :func:`persona_lib.stats.checkpoint_curves` (or ``length_control_curves``) for one
            metric: columns ``kind, arm, <x>, estimate, ci_low, ci_high``.
        x: ``checkpoint`` (rounds) or ``prefix_tokens``.
        metric: Metric name for the y label (default: the table's single ``metric``).
        title: Figure title (default: the metric label and its direction).
    """
    _require(curves, ["kind", x, "estimate", "ci_low", "ci_high"], "plot_checkpoint_curves()")
    style = metric_style(_metric_of(curves, metric))
    with figure_style():
        fig = Figure(figsize=(7, 4.2), layout="constrained")
        ax = fig.add_subplot()
        _draw_curves(ax, curves, x)
        ax.set_xlabel(X_LABELS.get(x, x))
        ax.set_ylabel(style.axis_label)
        ax.set_title(title or f"{style.label} over the dialogue ({style.direction})")
        ax.legend(loc="best", frameon=False)
    return fig


def plot_length_control(curves: pd.DataFrame, *, metric: str | None = None) -> Figure:
    """Length control: the checkpoint curves drawn against the mean prefix length in tokens."""
    style = metric_style(_metric_of(curves, metric))
    return plot_checkpoint_curves(
        curves, x="prefix_tokens", metric=metric, title=f"{style.label} against prefix length ({style.direction})"
    )


def plot_curve_grid(
    curves: pd.DataFrame,
    *,
    facet: str = "model",
    x: str = "checkpoint",
    metric: str | None = None,
    ncols: int = 4,
    facet_labels: dict[str, str] | None = None,
    panel_notes: dict[str, str] | None = None,
) -> Figure:
    """Small multiples: one panel of :func:`plot_checkpoint_curves` per ``facet`` value (model, persona or metric).

    Faceted by ``metric``, every panel is titled with its metric and direction (↑ higher is better, ↓ lower is
    better). The legend gives each line's number of units (n); when panels differ in it, each panel states its own
    under its lines (:func:`panel_units`).

    Args:
        curves: Curve table with a ``facet`` column.
        facet: Column to split panels by (``model``, ``condition`` or ``metric``).
        x: Position column.
        metric: Metric name for the y label.
        ncols: Panels per row.
        facet_labels: Optional display names for facet values (e.g. short model names).
        panel_notes: Optional second title line per facet value (e.g. which judge scored a metric, and its κ).
    """
    _require(curves, [facet, "kind", x, "estimate", "ci_low", "ci_high"], "plot_curve_grid()")
    style = metric_style(_metric_of(curves, metric))
    values = list(dict.fromkeys(curves[facet]))
    ncols = min(ncols, len(values))
    nrows = math.ceil(len(values) / ncols)
    per_panel = _panels_differ_in_units(curves, facet)
    with figure_style():
        fig = Figure(figsize=(3.4 * ncols, 2.8 * nrows + 0.8), layout="constrained")
        axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
        for ax, value in zip(axes, values):
            panel = curves[curves[facet] == value]
            _draw_curves(ax, panel, x, with_units=not per_panel, ticks=False)
            if per_panel:  # each panel names its own units, under its lines
                ax.text(0.02, 0.03, panel_units(panel), transform=ax.transAxes, fontsize=8, va="bottom")
            if facet == "metric":
                panel = metric_style(str(value))
                title = f"{panel.label}{DIRECTION_ARROWS[panel.higher_is_better]}"
            else:
                title = (facet_labels or {}).get(value, str(value))
            note = (panel_notes or {}).get(value)
            ax.set_title(f"{title}\n{note}" if note else title, fontsize=10)
        _checkpoint_ticks(axes[0], curves[x], x)  # shared by every panel: the checkpoints of the whole table
        for ax in axes[len(values) :]:
            fig.delaxes(ax)
        fig.supxlabel(X_LABELS.get(x, x))
        fig.supylabel("score (0\u2013100)" if facet == "metric" else style.axis_label)
        entries = {
            label: handle for ax in axes[: len(values)] for handle, label in zip(*ax.get_legend_handles_labels())
        }
        fig.legend(entries.values(), entries.keys(), loc="outside upper center", ncols=2, frameon=False)
    return fig


def _panels_differ_in_units(curves: pd.DataFrame, facet: str) -> bool:
    """Whether the panels' intervals rest on different numbers of units (then each panel gets its own legend)."""
    if "n_units" not in curves.columns:
        return False
    keys = [column for column in ("kind", "arm") if column in curves.columns]
    entries = {
        frozenset((key, units_label(rows)) for key, rows in part.groupby(keys, sort=True))
        if keys
        else units_label(part)
        for _, part in curves.groupby(facet, sort=False)
    }
    return len(entries) > 1


def plot_difference_curve(
    differences: pd.DataFrame, *, x: str = "checkpoint", metric: str | None = None, title: str | None = None
) -> Figure:
    """A difference (persona - baseline, t - 0 or PD - GO) over the dialogue with 95% CI bands and a zero line.

    Args:
        differences: Output of a :mod:`persona_lib.stats` difference function: ``contrast, <x>, estimate,
            ci_low, ci_high`` and optionally ``kind`` (one line per kind).
        x: Position column.
        metric: Metric for the label (the direction of the difference follows the metric's).
        title: Figure title.
    """
    _require(differences, ["contrast", x, "estimate", "ci_low", "ci_high"], "plot_difference_curve()")
    style = metric_style(_metric_of(differences, metric))
    contrast = str(differences["contrast"].iloc[0])
    with figure_style():
        fig = Figure(figsize=(7, 3.8), layout="constrained")
        ax = fig.add_subplot()
        _draw_difference(ax, differences, x)
        ax.set_xlabel(X_LABELS.get(x, x))
        ax.set_ylabel(f"\u0394 {style.label} ({contrast}, points)")
        ax.set_title(title or f"{style.label}: {contrast} (above 0 = first term better if {style.direction})")
        ax.legend(loc="best", frameon=False)
    return fig


def _draw_difference(ax: Axes, differences: pd.DataFrame, x: str, *, with_units: bool = True) -> None:
    _checkpoint_ticks(ax, differences[x], x)
    contrast = str(differences["contrast"].iloc[0])
    kinds = list(dict.fromkeys(differences["kind"])) if "kind" in differences.columns else [None]
    for kind in kinds:
        part = differences if kind is None else differences[differences["kind"] == kind]
        part = part.sort_values(x)
        colour = KIND_COLOURS.get(kind, OKABE_ITO["reddish_purple"])
        ax.plot(
            part[x],
            part["estimate"],
            color=colour,
            marker=KIND_MARKERS.get(kind, "o"),
            markersize=4,
            label=KIND_LABELS.get(kind, contrast) + (units_label(part) if with_units else ""),
        )
        ax.fill_between(part[x], part["ci_low"], part["ci_high"], color=colour, alpha=BAND_ALPHA, linewidth=0)
    ax.axhline(0, color=OKABE_ITO["black"], linewidth=0.8, linestyle=":")


def plot_difference_grid(differences: pd.DataFrame, *, x: str = "checkpoint", ncols: int = 3) -> Figure:
    """One panel per metric of a difference (persona - baseline, t - 0 or PD - GO), each with its own scale.

    Panel titles carry the metric's direction (↑ higher is better, ↓ lower is better), so a reader can tell
    whether a difference above zero is a gain.

    Args:
        differences: Output of a :mod:`persona_lib.stats` difference function with a ``metric`` column.
        x: Position column.
        ncols: Panels per row.
    """
    _require(differences, ["metric", "contrast", x, "estimate", "ci_low", "ci_high"], "plot_difference_grid()")
    metrics = list(dict.fromkeys(differences["metric"]))
    contrast = str(differences["contrast"].iloc[0])
    ncols = min(ncols, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    per_panel = _panels_differ_in_units(differences, "metric")
    with figure_style():
        fig = Figure(figsize=(3.6 * ncols, 2.7 * nrows + 0.9), layout="constrained")
        axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
        for ax, metric in zip(axes, metrics):
            style = metric_style(metric)
            panel = differences[differences["metric"] == metric]
            _draw_difference(ax, panel, x, with_units=not per_panel)
            if per_panel:
                ax.text(0.02, 0.03, panel_units(panel), transform=ax.transAxes, fontsize=8, va="bottom")
            ax.set_title(f"{style.label}{DIRECTION_ARROWS[style.higher_is_better]}", fontsize=10)
        for ax in axes[len(metrics) :]:
            fig.delaxes(ax)
        fig.supxlabel(X_LABELS.get(x, x))
        fig.supylabel(f"\u0394 {contrast} (points)")
        entries = {
            label: handle for ax in axes[: len(metrics)] for handle, label in zip(*ax.get_legend_handles_labels())
        }
        fig.legend(entries.values(), entries.keys(), loc="outside upper center", ncols=2, frameon=False)
    return fig


def plot_baseline_similarity(curves: pd.DataFrame, *, x: str = "checkpoint") -> Figure:
    """How similar persona responses are to the no-persona responses, over the dialogue (95% CI bands).

    Args:
        curves: A curve table (``kind, <x>, estimate, ci_low, ci_high``) of a similarity score on 0-100, e.g.
            :func:`persona_lib.stats.bootstrap_ci` of per-unit mean embedding similarity by kind and checkpoint.
    """
    table = curves.drop(columns=["arm"], errors="ignore")
    return plot_checkpoint_curves(
        table,
        x=x,
        metric="baseline_similarity",
        title="Similarity of persona answers to no-persona answers\n(higher = more baseline-like; neither is better)",
    )


def plot_forest(
    table: pd.DataFrame,
    *,
    title: str = "Size coefficient with 95% CI: reproduced vs published",
    label: str = "reproduced from released data",
    directions: dict[str, bool | None] | None = None,
) -> Figure:
    """Forest plot of regression coefficients (e.g. Tables 5 and 6) against the published values.

    Args:
        table: Columns ``table, dataset, coef, ci_low, ci_high`` and optionally ``published_coef,
            published_ci_low, published_ci_high``; rows without a reproduced ``coef`` show the published value
            only.
        title: Figure title.
        label: Legend entry of the estimated coefficients (where they come from).
        directions: Each ``dataset``'s direction of "better" (True: higher, False: lower, None: neither); its row
            label then carries an arrow (↑ / ↓), since a positive coefficient is a gain for one and a loss for
            the other.
    """
    _require(table, ["table", "dataset", "coef", "ci_low", "ci_high"], "plot_forest()")
    rows = table.reset_index(drop=True)
    y = np.arange(len(rows))[::-1]
    with figure_style():
        fig = Figure(figsize=(7.5, 0.42 * len(rows) + 1.6), layout="constrained")
        ax = fig.add_subplot()
        offset = 0.15 if "published_coef" in rows.columns else 0.0
        if offset:
            ax.errorbar(
                rows["published_coef"],
                y - offset,
                xerr=[
                    rows["published_coef"] - rows["published_ci_low"],
                    rows["published_ci_high"] - rows["published_coef"],
                ],
                fmt="s",
                color=PUBLISHED_COLOUR,
                capsize=3,
                label="published",
            )
        ax.errorbar(
            rows["coef"],
            y + offset,
            xerr=[rows["coef"] - rows["ci_low"], rows["ci_high"] - rows["coef"]],
            fmt="o",
            color=REPRODUCED_COLOUR,
            capsize=3,
            label=label,
        )
        ax.axvline(0, color=OKABE_ITO["black"], linewidth=0.8, linestyle=":")
        arrows = {name: DIRECTION_ARROWS[better] for name, better in (directions or {}).items()}
        ax.set_yticks(y, [f"{t} \u00b7 {d}{arrows.get(d, '')}" for t, d in zip(rows["table"], rows["dataset"])])
        ax.set_xlabel("Coefficient of model size (points on the 0\u2013100 scale per size step)")
        ax.set_title(title)
        ax.legend(loc="best", frameon=False)
    return fig


def plot_context_growth(dialogues: pd.DataFrame) -> Figure:
    """Prompt length against round for every dialogue, one panel per kind and one labelled line per condition.

    Each persona has its own colour (the same in both panels); the no-persona baseline is the black dashed line.

    Args:
        dialogues: The dialogue table of :func:`persona_lib.generation.generate_dialogues` (columns ``condition,
            kind, replicate, round, prompt_tokens``); only the original-order replicate is drawn.
    """
    _require(dialogues, ["condition", "kind", "replicate", "round", "prompt_tokens"], "plot_context_growth()")
    original = dialogues[dialogues["replicate"] == "original"]
    kinds = [kind for kind in KIND_LABELS if kind in set(original["kind"])]
    personas = [condition for condition in dict.fromkeys(original["condition"]) if condition != BASELINE]
    styles = {
        condition: (CONDITION_COLOURS[i % len(CONDITION_COLOURS)], "-" if i < len(CONDITION_COLOURS) else "-.")
        for i, condition in enumerate(personas)
    }
    styles[BASELINE] = (OKABE_ITO["black"], ARM_LINESTYLES["baseline"])
    with figure_style():
        fig = Figure(figsize=(4.2 * max(len(kinds), 1) + 1.6, 3.8), layout="constrained")
        axes = fig.subplots(1, max(len(kinds), 1), sharey=True, squeeze=False)[0]
        for ax, kind in zip(axes, kinds):
            for condition, part in original[original["kind"] == kind].groupby("condition", sort=False):
                colour, linestyle = styles[condition]
                label = ARM_LABELS["baseline"] if condition == BASELINE else str(condition)
                ax.plot(part["round"], part["prompt_tokens"], color=colour, linestyle=linestyle, label=label)
            ax.set_title(KIND_LABELS[kind])
            ax.set_xlabel("Round")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[0].set_ylabel("Prompt length (tokens)")
        entries = {label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels())}
        fig.legend(entries.values(), entries.keys(), loc="outside right upper", frameon=False)
        fig.suptitle("Context grows with every round (one line per dialogue)")
    return fig


def plot_survival_grid(
    curves: pd.DataFrame, *, facet: str = "model", ncols: int = 4, facet_labels: dict[str, str] | None = None
) -> Figure:
    """Kaplan-Meier curves of "rounds until the persona breaks": one panel per ``facet`` value, one step line per
    dialogue kind, pointwise 95% bands, and a tick where a dialogue was censored at the end of its follow-up.

    Args:
        curves: Output of :func:`persona_lib.stats.kaplan_meier` with ``by=(facet, "kind")``.
        facet: Column to split panels by.
        ncols: Panels per row.
        facet_labels: Optional display names for facet values.
    """
    _require(curves, [facet, "kind", "time", "survival", "ci_low", "ci_high"], "plot_survival_grid()")
    values = list(dict.fromkeys(curves[facet]))
    ncols = min(ncols, len(values))
    nrows = math.ceil(len(values) / ncols)
    with figure_style():
        fig = Figure(figsize=(3.4 * ncols, 2.6 * nrows + 0.9), layout="constrained")
        axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
        for ax, value in zip(axes, values):
            for kind, part in curves[curves[facet] == value].groupby("kind", sort=False):
                part = part.sort_values("time")
                colour = KIND_COLOURS.get(kind, OKABE_ITO["black"])
                ax.step(part["time"], part["survival"], where="post", color=colour, label=KIND_LABELS.get(kind, kind))
                ax.fill_between(
                    part["time"],
                    part["ci_low"],
                    part["ci_high"],
                    step="post",
                    color=colour,
                    alpha=BAND_ALPHA,
                    linewidth=0,
                )
                ax.plot(part["time"].iloc[-1], part["survival"].iloc[-1], marker="|", markersize=9, color=colour)
            ax.set_ylim(-0.02, 1.05)
            ax.set_title((facet_labels or {}).get(value, str(value)))
        for ax in axes[len(values) :]:
            fig.delaxes(ax)
        fig.supxlabel("Dialogue rounds")
        fig.supylabel("Share of dialogues not yet broken")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=2, frameon=False)
    return fig
