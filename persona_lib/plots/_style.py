"""One visual style for every figure: Okabe-Ito colours, readable sizes, labelled units and directions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib as mpl

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


@dataclass(frozen=True)
class MetricStyle:
    """How a metric is named on an axis: label, unit and which direction is better."""

    label: str
    unit: str
    higher_is_better: bool

    @property
    def direction(self) -> str:
        """``"higher is better"`` or ``"lower is better"``."""
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def axis_label(self) -> str:
        """E.g. ``"IFBench accuracy (%) - higher is better"``."""
        return f"{self.label} ({self.unit}) \u2013 {self.direction}"


METRICS: dict[str, MetricStyle] = {
    "ifbench": MetricStyle("IFBench accuracy", "%", True),
    "dialogue": MetricStyle("Dialogue fidelity", "0\u2013100", True),
    "knowledge": MetricStyle("Knowledge consistency", "0\u2013100", True),
    "style": MetricStyle("Style consistency", "0\u2013100", True),
    "in_character": MetricStyle("In-character", "0\u2013100", True),
    "bfi": MetricStyle("BFI error", "0\u2013100", False),
    "bfi_error": MetricStyle("BFI error", "0\u2013100", False),
    "rolebench_specific": MetricStyle("Persona-specific win rate", "%", True),
    "rolebench_general": MetricStyle("General-instruction win rate", "%", True),
    "safety": MetricStyle("Refusal of unsafe prompts", "%", True),
    "excess_safety": MetricStyle("Refusal of safe prompts", "%", False),
    "baseline_similarity": MetricStyle("Similarity to baseline response", "cosine \u00d7 100", True),
}


def metric_style(metric: str) -> MetricStyle:
    """The :class:`MetricStyle` of ``metric`` (an unknown metric gets a neutral 0-100 label, higher better)."""
    return METRICS.get(metric, MetricStyle(metric.replace("_", " "), "0\u2013100", True))


@contextmanager
def figure_style() -> Iterator[None]:
    """Context in which figures get the project's font sizes and grid (restores rcParams afterwards)."""
    with mpl.rc_context(_RC):
        yield
