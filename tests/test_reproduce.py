"""Reproduction of the paper's IFBench rows of Tables 5 and 6 from the released data."""

from __future__ import annotations

import argparse

import matplotlib
import pandas as pd
import pytest

from persona_lib import released
from persona_lib.cli import _reproduce as cli_reproduce
from persona_lib.reproduce import PUBLISHED, TOLERANCE, comparison_table, reproduce_tables


@pytest.fixture(autouse=True, scope="module")
def _agg_backend() -> None:
    """Render off-screen (the figures are built without pyplot, but nothing may open a window)."""
    matplotlib.use("Agg")


@pytest.fixture(scope="module")
def tables() -> pd.DataFrame:
    return reproduce_tables().set_index(["table", "dataset"])


@pytest.mark.parametrize("table", ["Table 5", "Table 6"])
def test_ifbench_rows_match_the_published_values(tables, table):
    row = tables.loc[(table, "IFBench")]
    published = {t: (c, lo, hi) for t, d, c, lo, hi in PUBLISHED if d == "IFBench"}[table]
    assert abs(row["coef"] - published[0]) <= TOLERANCE
    assert abs(row["ci_low"] - published[1]) <= TOLERANCE
    assert abs(row["ci_high"] - published[2]) <= TOLERANCE
    assert row["status"] == "matched" and row["converged"] and row["verdict"] == "estimable"
    assert row["n"] == 7 * 8 * 2 and row["n_groups"] == 8 * 4


def test_rows_without_shipped_data_name_the_command_that_fills_them(tables):
    assert len(tables) == len(PUBLISHED) == 11
    others = tables.drop(index=[("Table 5", "IFBench"), ("Table 6", "IFBench")])
    assert others["coef"].isna().all()
    assert (others["status"] == "not reproducible").all()
    assert others["note"].str.contains("persona-eval reproduce --authors-repo PATH", regex=False).all()
    assert not others["note"].str.contains("not released").any()  # they were released, in the authors' repository


def test_comparison_table_marks_directions_and_gives_every_row_a_verdict_or_a_reason(tables):
    shown = comparison_table(tables.reset_index()).set_index(["table", "dataset"])
    assert ("Table 5", "BFI \u2193") in shown.index and ("Table 6", "Excess safety \u2193") in shown.index
    ifbench = shown.loc[("Table 5", "IFBench \u2191")]
    fit = tables.loc[("Table 5", "IFBench")]
    assert ifbench["reproduced [95% CI]"] == f"{fit['coef']:.2f} [{fit['ci_low']:.2f},\u00a0{fit['ci_high']:.2f}]"
    assert ifbench["published [95% CI]"] == "0.98 [-0.13,\u00a02.09]"
    assert ifbench["fit, or why not computed"] == "estimable (112 differences in 32 persona \u00d7 family groups)"
    safety = shown.loc[("Table 5", "Safety \u2191")]
    assert safety["reproduced [95% CI]"] == "\u2014"
    assert safety["fit, or why not computed"] == (
        "judge scores not in data/released/ (they are in the authors' repository)"
    )
    assert not shown["fit, or why not computed"].str.contains("`").any()


def test_a_changed_specification_no_longer_matches():
    """Guard against a comparison that cannot fail: coding size per family (1, 2, 1 for Gemini) must miss."""
    units = released.with_model_metadata(released.load_ifbench_results())
    units.loc[units["family"] == "gemini", "size"] = 1
    row = reproduce_tables(units).set_index(["table", "dataset"]).loc[("Table 6", "IFBench")]
    assert row["status"] == "mismatch"


def test_cli_writes_tables_curves_and_figures(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli_reproduce.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["reproduce", "--out", str(tmp_path)])
    assert cli_reproduce.run(args) == 0
    printed = capsys.readouterr().out
    assert "IFBench" in printed and "matched" in printed
    written = pd.read_csv(tmp_path / "tables.csv")
    assert list(written.columns[:8]) == [
        "table",
        "dataset",
        "coef",
        "ci_low",
        "ci_high",
        "published_coef",
        "published_ci_low",
        "published_ci_high",
    ]
    curves = pd.read_csv(tmp_path / "ifbench_curves.csv")
    assert len(curves) == 7 * 2 * 2 * 10  # models x kinds x arms x checkpoints
    baseline = curves[curves["arm"] == "baseline"]
    assert (baseline["ci_low"] == baseline["estimate"]).all()  # one baseline run per model: no spread
    for stem in ("ifbench_per_model", "tables_5_6_forest"):
        for suffix in ("png", "svg", "csv"):
            assert (tmp_path / "figures" / f"{stem}.{suffix}").stat().st_size > 0
