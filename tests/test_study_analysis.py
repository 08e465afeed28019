"""The cross-model analysis of a study: size regressions on synthetic scores with known effects, per-model bars and
mixed-model coefficients (and the figures drawing them) on synthetic scores with known contrasts and slopes, the
published IFBench rows from the authors' released results fed in as a study, and what is said when a study cannot be
regressed."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from persona_lib import released
from persona_lib.paths import PROJECT_ROOT
from persona_lib.personas import BASELINE
from persona_lib.plots import KIND_COLOURS
from persona_lib.reproduce import PUBLISHED, TABLE_METRICS
from persona_lib.study import (
    KIND_DIFFERENCE,
    LENGTH_COST,
    PERSONALISATION_COST,
    Study,
    analyse_study,
    load_study_config,
    metric_grid,
    model_bars,
    size_tables,
)
from persona_lib.study._analysis import LENGTH_TERM, PERSONA_TERM, coefficient_rows, model_coefficients
from persona_lib.study._figures import plot_model_bars, plot_model_coefficients

PAPER = load_study_config(PROJECT_ROOT / "configs" / "study-paper.yaml")
#: True size coefficients of the synthetic study (points per size step), near the published ones.
TRUE_SIZE_EFFECT = {(table, label): coef for table, label, coef, *_ in PUBLISHED}
KINDS = ("persona_directed", "goal_oriented")


def synthetic_units(seed: int = 0, models: pd.DataFrame | None = None) -> pd.DataFrame:
    """WorkUnit scores at t = 0 and t = 102 whose length cost and personalisation cost grow with size as
    :data:`TRUE_SIZE_EFFECT` says, plus a persona x family random intercept and noise."""
    rng = np.random.default_rng(seed)
    models = PAPER.models_table() if models is None else models
    rows = []
    for label, (dataset, metric) in TABLE_METRICS.items():
        length_effect = TRUE_SIZE_EFFECT[("Table 5", label)]
        persona_effect = TRUE_SIZE_EFFECT.get(("Table 6", label), 0.0)
        families = models["family"].unique()
        u_length = {(p, f): rng.normal(0, 2.0) for p in released.PERSONAS for f in families}
        u_persona = {(p, f): rng.normal(0, 2.0) for p in released.PERSONAS for f in families}
        for model in models.itertuples():
            for kind in KINDS:
                baseline = {t: 50 + rng.normal(0, 3) for t in (0, 102)}
                rows += [(model.model, BASELINE, kind, t, dataset, metric, score) for t, score in baseline.items()]
                for persona in released.PERSONAS:
                    start = baseline[0] - 4 + persona_effect * model.size + u_persona[(persona, model.family)]
                    start += rng.normal(0, 1.5)
                    end = start - 10 + length_effect * model.size + u_length[(persona, model.family)]
                    end += rng.normal(0, 1.5)
                    rows += [
                        (model.model, persona, kind, 0, dataset, metric, start),
                        (model.model, persona, kind, 102, dataset, metric, end),
                    ]
    return pd.DataFrame(rows, columns=["model", "condition", "kind", "checkpoint", "dataset", "metric", "score"])


def test_known_size_effects_are_recovered_within_their_confidence_intervals():
    covered, errors = [], []
    for seed in range(5):
        tables, notes = size_tables(synthetic_units(seed), PAPER.models_table())
        assert notes == [] and len(tables) == len(PUBLISHED) and tables["converged"].all()
        assert set(tables["n"]) == {7 * 8 * 2} and set(tables["n_groups"]) == {8 * 4}  # persona x family groups
        for row in tables.itertuples():
            truth = TRUE_SIZE_EFFECT[(row.table, row.dataset)]
            standard_error = (row.ci_high - row.ci_low) / (2 * 1.959964)
            covered.append(row.ci_low <= truth <= row.ci_high)
            errors.append(abs(row.coef - truth) / standard_error)
            assert row.ci_high - row.ci_low < 4  # precise enough to tell the effects apart
            if abs(truth) > 2:
                assert np.sign(row.ci_low) == np.sign(row.ci_high) == np.sign(truth), (row.table, row.dataset)
    # 55 intervals of nominal 95%: the Wald intervals of a mixed model with 32 groups cover about 91% (measured
    # over 20 seeds), so a handful of misses is expected; an estimate 4 standard errors off is not.
    assert np.mean(covered) >= 0.8
    assert max(errors) < 4


def test_per_model_bars_are_the_mean_contrast_of_each_model_with_a_ci_over_personas():
    units = synthetic_units()
    ifbench = units[units["metric"] == "ifbench"]
    bars, notes = model_bars(ifbench, seed=0, n_resamples=500)
    assert notes == [] and set(bars["contrast"]) == {LENGTH_COST, PERSONALISATION_COST, KIND_DIFFERENCE}
    personas = ifbench[ifbench["condition"] != BASELINE]
    wide = personas.pivot_table(index=["model", "condition", "kind"], columns="checkpoint", values="score")
    expected = (wide[102] - wide[0]).groupby(["model", "kind"]).mean()
    # The length cost is split by dialogue kind, as the study's length-cost figure: a bar per model x kind.
    length = bars[bars["contrast"] == LENGTH_COST].set_index(["model", "kind"])
    assert len(length) == 7 * 2 and not length.index.duplicated().any()
    pd.testing.assert_series_equal(length["estimate"].sort_index(), expected.sort_index(), check_names=False)
    assert (length["ci_low"] <= length["estimate"]).all() and (length["estimate"] <= length["ci_high"]).all()
    assert set(length["n_units"]) == {8}
    by_model = length["estimate"].groupby("model").mean()
    assert by_model["gemini-2.5-flash"] - by_model["gemma-3-4b-it"] == pytest.approx(
        2 * TRUE_SIZE_EFFECT[("Table 5", "IFBench")], abs=1.5
    )
    assert bars.loc[bars["contrast"] != LENGTH_COST, "kind"].isna().all()
    figure = plot_model_bars(length.reset_index(), title="t")
    drawn = {
        colour: sorted(
            patch.get_width() for patch in figure.axes[0].patches if patch.get_facecolor()[:3] == to_rgb(colour)
        )
        for colour in KIND_COLOURS.values()
    }
    for kind, colour in KIND_COLOURS.items():  # a bar per model in each kind's colour, as long as its estimate
        np.testing.assert_allclose(drawn[colour], sorted(length.xs(kind, level="kind")["estimate"]))
    grid = metric_grid(units, "model")
    assert set(grid["model"]) == set(PAPER.models_table()["model"]) and grid["n_units"].eq(8 * 2 * 2).all()
    assert "empty" in set(metric_grid(units, "condition")["condition"])


CHECKPOINTS = (0, 11, 22, 34, 45, 56, 68, 79, 90, 102)


def true_slope(size: int, kind: str) -> float:
    """Points per round of the synthetic coefficient study: steeper for small models and goal-oriented dialogues."""
    return -0.12 / size - (0.05 if kind == "goal_oriented" else 0.0)


def coefficient_units(seed: int = 0) -> pd.DataFrame:
    """Dialogue fidelity per round (the baseline judged against each persona) and IFBench and safety per checkpoint,
    with slope :func:`true_slope` for the personas, a persona gap of 3 x size points, a persona intercept and noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in PAPER.models_table().itertuples():
        for kind, condition in itertools.product(KINDS, [*released.PERSONAS, BASELINE]):
            persona = condition != BASELINE
            level = 60 + (3.0 * model.size + rng.normal(0, 2) if persona else 0.0)
            slope = true_slope(model.size, kind) if persona else 0.0
            for round_ in range(1, 103):
                reference = condition if persona else released.PERSONAS[round_ % len(released.PERSONAS)]
                rows.append(
                    (
                        model.model,
                        condition,
                        kind,
                        round_,
                        "fidelity",
                        "dialogue",
                        reference,
                        level + slope * round_ + rng.normal(0, 1),
                    )
                )
            for (dataset, metric), t in itertools.product([("ifbench", "ifbench"), ("xstest", "safety")], CHECKPOINTS):
                rows.append(
                    (model.model, condition, kind, t, dataset, metric, None, level + slope * t + rng.normal(0, 1))
                )
    return pd.DataFrame(
        rows, columns=["model", "condition", "kind", "checkpoint", "dataset", "metric", "reference_persona", "score"]
    )


def test_coefficient_figures_show_each_models_fitted_slope_and_persona_effect_per_kind():
    units = coefficient_units()
    models = PAPER.models_table()
    order = list(models["model"])
    slopes, effects, notes = model_coefficients(units)
    assert notes == [
        "length coefficients: no units of bfi_error, rolebench_specific, rolebench_general, "
        "excess_safety, so none in its figure",
        "persona coefficients: no units of rolebench_general, excess_safety, so none in its figure",
    ]
    length = coefficient_rows(slopes, LENGTH_TERM, order)
    # One row per metric x model x kind, dialogue fidelity first (fitted over its 102 rounds) as in the paper.
    assert list(length.columns[:4]) == ["dataset", "metric", "model", "kind"]
    assert len(length) == 3 * 7 * 2 and not length.duplicated(["metric", "model", "kind"]).any()
    assert list(dict.fromkeys(length["metric"])) == ["dialogue", "ifbench", "safety"]
    assert list(dict.fromkeys(length["model"])) == order
    sizes = dict(zip(models["model"], models["size"]))
    truth = [true_slope(sizes[row.model], row.kind) for row in length.itertuples()]
    np.testing.assert_allclose(length["coef"].astype(float), truth, atol=0.01)
    dialogue = length[length["metric"] == "dialogue"]
    assert set(dialogue["n"]) == {8 * 102} and set(dialogue["n_groups"]) == {8}
    assert ((length["ci_low"] < length["coef"]) & (length["coef"] < length["ci_high"])).all()
    persona = coefficient_rows(effects, PERSONA_TERM, order)
    assert len(persona) == 2 * 7 * 2 and set(persona["metric"]) == {"ifbench", "safety"}
    mean = (
        units.assign(persona=units["condition"] != BASELINE)
        .groupby(["metric", "model", "kind", "persona"])["score"]
        .mean()
        .unstack()
    )
    observed = (mean[True] - mean[False]).loc[list(zip(persona["metric"], persona["model"], persona["kind"]))]
    np.testing.assert_allclose(persona["coef"].astype(float), observed.to_numpy(), atol=1e-6)

    figure = plot_model_coefficients(
        length, title="t", ylabel="y", families=dict(zip(models["model"], models["family"]))
    )
    axes = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["Dialogue fidelity \u2191", "IFBench accuracy \u2191", "Safety \u2191"]
    for ax, (_metric, rows) in zip(axes, length.groupby("metric", sort=False)):
        points = [line for line in ax.lines if line.get_marker() in ("o", "s")]  # not the interval caps
        drawn = np.concatenate([line.get_ydata() for line in points])
        np.testing.assert_allclose(np.sort(drawn), np.sort(rows["coef"].astype(float)))
        separators = [line for line in ax.lines if line.get_linestyle() == ":" and len(set(line.get_xdata())) == 1]
        assert len(separators) == 3  # between the four families (the zero line is horizontal)


def test_fewer_than_two_size_groups_say_what_is_missing():
    models = PAPER.models_table()
    small = models[models["size"] == 1]
    units = synthetic_units(models=small)
    tables, notes = size_tables(units, models)
    assert tables["coef"].isna().all() and set(tables["status"]) == {"not computed"}
    assert len(notes) == 1 and "need models of at least two size codes" in notes[0]
    assert "gemma-3-4b-it (size 1)" in notes[0] and tables["note"].eq(notes[0]).all()


def _study_from_units(folder, units_by_model: dict[str, pd.DataFrame]) -> Study:
    study = Study.create(PAPER, folder)
    for name, units in units_by_model.items():
        study.run(name).write_units(units)
    return study


def test_the_study_path_reproduces_the_published_ifbench_rows_from_the_released_results(tmp_path):
    results = released.load_ifbench_results()
    study = _study_from_units(tmp_path / "released", {name: part for name, part in results.groupby("model")})
    analysis = analyse_study(study)
    ifbench = analysis.tables[analysis.tables["dataset"] == "IFBench"]
    assert list(ifbench["status"]) == ["matched", "matched"]
    others = analysis.tables[analysis.tables["dataset"] != "IFBench"]
    assert set(others["status"]) == {"not computed"} and others["note"].str.startswith("no units of").all()
    assert set(analysis.units["model"]) == set(released.MODEL_INFO)
    assert analysis.files["forest_png"].is_file() and analysis.files["curves_ifbench_png"].is_file()
    for name in (
        "length_cost",
        "personalisation_cost",
        "kind_difference",
        "model_grid",
        "persona_grid",
        "length_coefficients",
        "persona_coefficients",
    ):
        assert analysis.files[f"{name}_png"].is_file(), name
    plotted = pd.read_csv(analysis.files["length_coefficients_csv"])
    assert set(plotted["metric"]) == {"ifbench"} and len(plotted) == len(released.MODEL_INFO) * 2
    assert len(study.table("length_slopes")) == len(analysis.slopes)
    written = study.table("tables_5_6")
    assert written.loc[written["dataset"] == "IFBench", "status"].tolist() == ["matched", "matched"]
    bars = analysis.bars[analysis.bars["contrast"] == LENGTH_COST]
    assert list(dict.fromkeys(bars["model"])) == list(released.MODEL_INFO)  # the configuration's order


def test_a_study_with_one_merged_model_is_analysed_and_says_what_is_missing(tmp_path):
    results = released.load_ifbench_results()
    study = _study_from_units(tmp_path / "one", {"gemma-3-4b-it": results[results["model"] == "gemma-3-4b-it"]})
    analysis = analyse_study(study)
    assert analysis.tables["coef"].isna().all()
    assert any("no unit scores yet" in note and note.startswith("gemma-3-27b-it") for note in analysis.notes)
    assert any("at least two size codes" in note for note in analysis.notes)
    assert set(analysis.curves["model"]) == {"gemma-3-4b-it"}
    empty = analyse_study(Study.create(PAPER, tmp_path / "empty"))
    assert empty.units.empty and len(empty.notes) == len(PAPER.models) + 1
