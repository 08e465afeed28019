"""Writing figures, together with the data they show."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure


def save_figure(fig: Figure, path_stem: str | Path, data: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``fig`` as PNG and SVG (and ``data`` as CSV) next to each other.

    Args:
        fig: The figure.
        path_stem: Path without suffix, e.g. ``out/figures/ifbench_curves``; parent folders are created.
        data: The tidy table the figure plots; written as ``<stem>.csv`` so every figure can be re-checked.

    Returns:
        The written paths keyed by ``png``, ``svg`` (and ``csv``).
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {"png": stem.with_suffix(".png"), "svg": stem.with_suffix(".svg")}
    for path in paths.values():
        fig.savefig(path, dpi=150, bbox_inches="tight")
    if data is not None:
        paths["csv"] = stem.with_suffix(".csv")
        data.to_csv(paths["csv"], index=False)
    return paths


def save_and_show(fig: Figure, path_stem: str | Path, data: pd.DataFrame | None = None):
    """Save a figure like :func:`save_figure` and return its PNG for display in a notebook.

    Figures here are built without pyplot, so Jupyter has no inline display for them; showing the saved PNG also
    guarantees the book shows exactly the file that was written.
    """
    from IPython.display import Image

    return Image(filename=str(save_figure(fig, path_stem, data)["png"]))
