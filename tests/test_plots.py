"""Figures: the right number of panels and lines, labelled axes, and files written next to their data."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

from persona_lib import plots, released, stats


@pytest.fixture(autouse=True, scope="module")
def _agg_backend() -> None:
    """Render off-screen (the figures are built without pyplot, but nothing may open a window)."""
    matplotlib.use("Agg")


@pytest.fixture(scope="module")
def units() -> pd.DataFrame:
    return released.load_ifbench_results()


@pytest.fixture(scope="module")
def curves(units) -> pd.DataFrame:
    return stats.checkpoint_curves(units, n_resamples=200)


def test_checkpoint_curves_draw_four_lines_with_bands_and_labels(curves):
    fig = plots.plot_checkpoint_curves(curves)
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 4  # 2 kinds x (persona, baseline)
    assert len(ax.collections) == 4  # one CI band per line
    assert "higher is better" in ax.get_ylabel() and "%" in ax.get_ylabel()
    assert ax.get_xlabel() == "Dialogue rounds before the item"
    labels = [line.get_label() for line in ax.get_lines()]
    # Every interval says how many units it rests on: 7 models x 8 personas, and one baseline per model.
    assert "Goal-oriented, no-persona baseline (n = 7)" in labels
    persona_pd = ax.get_lines()[labels.index("Persona-directed, persona (n = 56)")]
    assert list(persona_pd.get_xdata()) == list(released.CHECKPOINTS)


def test_units_label_gives_the_range_when_units_differ_along_a_line():
    line = pd.DataFrame({"n_units": [8, 8, 6]})
    assert plots.units_label(line) == " (n = 6\u20138)"
    assert plots.units_label(line.iloc[:2]) == " (n = 8)"
    assert plots.units_label(pd.DataFrame({"estimate": [1.0]})) == ""


def test_lower_is_better_metrics_say_so():
    table = pd.DataFrame(
        {
            "kind": ["goal_oriented"] * 2,
            "arm": "persona",
            "checkpoint": [0, 11],
            "estimate": [10.0, 12.0],
            "ci_low": [9.0, 11.0],
            "ci_high": [11.0, 13.0],
        }
    )
    fig = plots.plot_checkpoint_curves(table, metric="excess_safety")
    assert "lower is better" in fig.axes[0].get_ylabel()


def test_per_model_grid_has_one_panel_per_model(units):
    per_model = stats.checkpoint_curves(units, by=("model", "kind"), n_resamples=100)
    fig = plots.plot_curve_grid(per_model, facet="model")
    assert len(fig.axes) == 7
    assert all(len(ax.get_lines()) == 4 for ax in fig.axes)
    assert {ax.get_title() for ax in fig.axes} == set(released.MODEL_INFO)
    (legend,) = fig.legends  # every model has 8 personas and one baseline: one shared legend
    assert "Persona-directed, persona (n = 8)" in [text.get_text() for text in legend.get_texts()]


def test_metric_grid_titles_each_panel_with_its_direction(units):
    both = pd.concat([units, units.assign(metric="excess_safety", dataset="xstest")], ignore_index=True)
    curves = stats.checkpoint_curves(both, n_resamples=50)
    fig = plots.plot_curve_grid(curves, facet="metric")
    assert [ax.get_title() for ax in fig.axes] == ["IFBench accuracy \u2191", "Excess safety \u2193"]
    (legend,) = fig.legends
    assert "Goal-oriented, no-persona baseline (n = 7)" in [text.get_text() for text in legend.get_texts()]
    # Fewer units behind one panel's lines: each panel then names its own n, and the legend none.
    fewer = curves.assign(n_units=curves["n_units"].where(curves["metric"] == "ifbench", 3))
    fig = plots.plot_curve_grid(fewer, facet="metric")
    (legend,) = fig.legends
    assert "Goal-oriented, no-persona baseline" in [text.get_text() for text in legend.get_texts()]
    assert [[text.get_text() for text in ax.texts] for ax in fig.axes] == [
        ["n: persona 56, no-persona baseline 7"],
        ["n: persona 3, no-persona baseline 3"],
    ]


def test_difference_curve_draws_one_line_per_kind_and_a_zero_line(units):
    diffs = stats.persona_baseline_difference(units, n_resamples=100)
    fig = plots.plot_difference_curve(diffs)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3
    assert "persona - baseline" in fig.axes[0].get_ylabel()


def test_difference_grid_has_a_panel_per_metric_with_its_direction(units):
    both = pd.concat([units, units.assign(metric="excess_safety", dataset="xstest")], ignore_index=True)
    diffs = stats.checkpoint_difference(both, n_resamples=100)
    fig = plots.plot_difference_grid(diffs)
    assert [ax.get_title() for ax in fig.axes] == ["IFBench accuracy \u2191", "Excess safety \u2193"]
    assert all(len(ax.get_lines()) == 3 for ax in fig.axes)  # two kinds and the zero line


def test_length_control_uses_tokens_on_x(units):
    with_tokens = stats.attach_prefix_tokens(units, released.load_round_lengths())
    fig = plots.plot_length_control(stats.length_control_curves(with_tokens, n_resamples=100))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Dialogue prefix length (tokens)"
    assert max(max(line.get_xdata()) for line in ax.get_lines()) > 10_000


def test_baseline_similarity_curve(curves):
    similarity = curves[curves["arm"] == "persona"].assign(metric="baseline_similarity")
    fig = plots.plot_baseline_similarity(similarity)
    assert len(fig.axes[0].get_lines()) == 2
    assert fig.axes[0].get_ylabel() == "Similarity to the baseline's answer (cosine \u00d7 100)"


def test_forest_plot_and_save_figure_write_png_svg_csv(tmp_path):
    table = pd.DataFrame(
        {
            "table": ["Table 5", "Table 6"],
            "dataset": ["IFBench", "IFBench"],
            "coef": [0.98, 1.48],
            "ci_low": [-0.12, 0.82],
            "ci_high": [2.09, 2.15],
            "published_coef": [0.98, 1.48],
            "published_ci_low": [-0.13, 0.82],
            "published_ci_high": [2.09, 2.15],
        }
    )
    fig = plots.plot_forest(table, directions={"IFBench": True})
    ax = fig.axes[0]
    assert [tick.get_text() for tick in ax.get_yticklabels()] == [
        "Table 5 \u00b7 IFBench \u2191",
        "Table 6 \u00b7 IFBench \u2191",
    ]
    assert len(ax.containers) == 2  # published and reproduced error bars
    paths = plots.save_figure(fig, tmp_path / "sub" / "forest", table)
    assert set(paths) == {"png", "svg", "csv"}
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in paths["svg"].read_text()[:500]
    pd.testing.assert_frame_equal(pd.read_csv(paths["csv"]), table)


def test_context_growth_labels_every_persona_line_and_the_baseline():
    rows = [
        (condition, kind, "original", r, 100 * r + i)
        for i, condition in enumerate(["Gaston", "HAL 9000", "empty"])
        for kind in ("persona_directed", "goal_oriented")
        for r in range(1, 4)
    ]
    dialogues = pd.DataFrame(rows, columns=["condition", "kind", "replicate", "round", "prompt_tokens"])
    fig = plots.plot_context_growth(dialogues)
    assert [ax.get_title() for ax in fig.axes] == ["Persona-directed", "Goal-oriented"]
    (legend,) = fig.legends
    assert [text.get_text() for text in legend.get_texts()] == ["Gaston", "HAL 9000", "no-persona baseline"]
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert lines["no-persona baseline"].get_linestyle() == "--"
    assert lines["Gaston"].get_color() != lines["HAL 9000"].get_color()


def test_survival_grid_steps_per_kind_in_every_model_panel():
    analysis = stats.released_onset_analysis(n_resamples=50)
    fig = plots.plot_survival_grid(analysis.curves, facet="model")
    assert len(fig.axes) == 7
    first = fig.axes[0]
    assert len(first.get_lines()) == 4  # a step line and a censoring tick per kind
    assert first.get_ylim() == (-0.02, 1.05)
