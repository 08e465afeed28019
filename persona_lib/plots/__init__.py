"""Figures: one style (Okabe-Ito colours, labelled units and directions) and one way to save them.

All functions return :class:`matplotlib.figure.Figure` objects built without pyplot; :func:`save_figure` writes
PNG + SVG and the plotted data as CSV side by side.
"""

from persona_lib.plots._figures import (
    panel_units,
    plot_baseline_similarity,
    plot_checkpoint_curves,
    plot_context_growth,
    plot_curve_grid,
    plot_difference_curve,
    plot_difference_grid,
    plot_forest,
    plot_length_control,
    plot_survival_grid,
    units_label,
)
from persona_lib.plots._save import save_and_show, save_figure
from persona_lib.plots._style import (
    KIND_COLOURS,
    KIND_LABELS,
    KIND_MARKERS,
    OKABE_ITO,
    figure_style,
    metric_style,
)

__all__ = [
    "KIND_COLOURS",
    "KIND_LABELS",
    "KIND_MARKERS",
    "OKABE_ITO",
    "figure_style",
    "metric_style",
    "panel_units",
    "plot_baseline_similarity",
    "plot_checkpoint_curves",
    "plot_context_growth",
    "plot_curve_grid",
    "plot_difference_curve",
    "plot_difference_grid",
    "plot_forest",
    "plot_length_control",
    "plot_survival_grid",
    "save_and_show",
    "save_figure",
    "units_label",
]
