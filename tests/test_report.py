"""What a results chapter shows: numbers formatted for a page, and model tables that never look cleaner than they are."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from persona_lib import report, stats


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [(98.958333, 1, "99.0"), (-0.0001, 1, "0.0"), (-0.04, 2, "-0.04"), (-0.004, 2, "0.00"), (3, 0, "3"),
     (None, 1, "\u2014"), (float("nan"), 1, "\u2014"), (pd.NA, 1, "\u2014"), ("text", 1, "text")],
)
def test_format_number_never_prints_a_negative_zero(value, digits, text):
    assert report.format_number(value, digits) == text


def test_format_table_formats_every_number_of_a_pivot_table():
    scores = pd.DataFrame({"metric": ["ifbench"] * 4, "checkpoint": [0, 0, 8, 8], "condition": ["A", "empty"] * 2,
                           "score": [98.958333, 50.0, -0.0001, 12.26], "n": [96, 96, 1, 96]})
    pivot = scores.pivot_table(index=["metric", "checkpoint"], columns="condition", values=["score", "n"])
    shown = re.findall(r"<td [^>]*>([^<]*)</td>", report.format_table(pivot).to_html())
    assert shown == ["96", "96", "99.0", "50.0", "1", "96", "0.0", "12.3"]  # row by row: n, then score


def test_fit_table_shows_the_verdict_and_warnings_of_every_effect():
    rng = np.random.default_rng(0)
    units = pd.DataFrame({"model": "m", "metric": "excess_safety", "kind": "goal_oriented",
                          "condition": np.repeat(["Gaston", "HAL 9000"], 3), "checkpoint": np.tile([0, 4, 8], 2),
                          "score": rng.normal(50, 5, 6)})
    table = report.fit_table(stats.length_slope(units))
    assert list(table.columns) == ["metric", "dialogue", "effect", "estimate [95% CI]", "observations", "groups",
                                   "verdict", "statsmodels warnings"]
    (row,) = table.to_dict("records")
    fit = stats.length_slope(units).set_index("term").loc["checkpoint"]
    assert row["metric"] == "Excess safety \u2193" and row["dialogue"] == "goal-oriented"
    assert row["effect"] == "slope per round"
    assert row["estimate [95% CI]"] == f"{fit['coef']:.2f} [{fit['ci_low']:.2f}, {fit['ci_high']:.2f}]"
    assert (row["observations"], row["groups"]) == (6, 2)
    assert row["verdict"].startswith("not estimable: n groups = 2")
    assert row["statsmodels warnings"] == (fit["warnings"] or "none")
