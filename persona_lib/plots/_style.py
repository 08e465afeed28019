"""One visual style for every figure: Okabe-Ito colours, readable sizes, labelled units and directions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib as mpl

from persona_lib.datasets import MetricSpec, UnknownDatasetError, get_metric

#: The Okabe-Ito palette, distinguishable under the common colour-vision deficiencies.
OKABE_ITO: dict[str, str] = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}

#: One colour per persona where personas are told apart (black is kept for the baseline, yellow is too pale).
CONDITION_COLOURS = [
    OKABE_ITO[name] for name in ("blue", "vermillion", "bluish_green", "orange", "reddish_purple", "sky_blue")
]
KIND_COLOURS = {"persona_directed": OKABE_ITO["vermillion"], "goal_oriented": OKABE_ITO["blue"]}
KIND_LABELS = {"persona_directed": "Persona-directed", "goal_oriented": "Goal-oriented"}
KIND_MARKERS = {"persona_directed": "o", "goal_oriented": "s"}
ARM_LINESTYLES = {"persona": "-", "baseline": "--"}
ARM_LABELS = {"persona": "persona", "baseline": "no-persona baseline"}
REPRODUCED_COLOUR = OKABE_ITO["blue"]
PUBLISHED_COLOUR = OKABE_ITO["orange"]
BAND_ALPHA = 0.18

_RC = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "svg.fonttype": "none",
}


def metric_style(metric: str) -> MetricSpec:
    """How ``metric`` is labelled on an axis: its registered :class:`~persona_lib.datasets.MetricSpec`.

    A metric nothing registered (e.g. a column of a user's own table) gets a neutral 0–100 label without a
    direction.
    """
    try:
        return get_metric(metric)
    except UnknownDatasetError:
        return MetricSpec(metric, metric.replace("_", " "), "0\u2013100", None)


@contextmanager
def figure_style() -> Iterator[None]:
    """Context in which figures get the project's font sizes and grid (restores rcParams afterwards)."""
    with mpl.rc_context(_RC):
        yield
