"""Bootstrap intervals, differences and mixed-model wrappers on data with known answers."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from persona_lib import stats

CHECKPOINTS = [0, 11, 22, 34, 45, 56, 68, 79, 90, 102]


def synthetic_units(
    *,
    n_models: int = 4,
    n_personas: int = 5,
    slope: float = 0.0,
    kind_gap: float = 0.0,
    persona_gap: float = 0.0,
    noise: float = 0.0,
    seed: int = 1,
) -> pd.DataFrame:
    """Unit-level scores: 50 + slope*t + kind_gap (persona-directed) + persona_gap (personas) + persona/noise."""
    rng = np.random.default_rng(seed)
    conditions = [f"p{i}" for i in range(n_personas)] + ["empty"]
    persona_shift = dict(zip(conditions, rng.normal(0, 2, len(conditions))))
    rows = []
    for model, condition, kind, t in itertools.product(
        [f"m{i}" for i in range(n_models)], conditions, ["persona_directed", "goal_oriented"], CHECKPOINTS
    ):
        score = 50 + slope * t + (kind_gap if kind == "persona_directed" else 0.0)
        if condition != "empty":
            score += persona_gap + persona_shift[condition]
        rows.append((model, condition, kind, t, score + noise * rng.normal()))
    return pd.DataFrame(rows, columns=["model", "condition", "kind", "checkpoint", "score"])


def test_percentile_ci_matches_normal_theory_for_a_large_sample():
    values = np.random.default_rng(7).normal(10.0, 5.0, 2_000)
    table = pd.DataFrame({"model": "m", "condition": np.arange(len(values)), "score": values})
    row = stats.bootstrap_ci(table, n_resamples=4_000, seed=3).iloc[0]
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert row["estimate"] == pytest.approx(values.mean())
    assert row["ci_low"] == pytest.approx(values.mean() - 1.96 * se, abs=0.1 * se)
    assert row["ci_high"] == pytest.approx(values.mean() + 1.96 * se, abs=0.1 * se)
    assert row["n_units"] == 2_000 and row["n_resamples"] == 4_000 and row["seed"] == 3


def test_same_seed_same_interval_different_seed_different_interval():
    units = synthetic_units(noise=3.0)
    first = stats.bootstrap_ci(units, by=["kind", "checkpoint"], seed=11)
    again = stats.bootstrap_ci(units, by=["kind", "checkpoint"], seed=11)
    other = stats.bootstrap_ci(units, by=["kind", "checkpoint"], seed=12)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["ci_low"], other["ci_low"])
    np.testing.assert_allclose(first["estimate"], other["estimate"])


def test_vectorised_means_equal_a_plain_loop_and_skip_missing_cells():
    values = np.array([[1.0, 10.0], [2.0, np.nan], [4.0, 30.0], [8.0, 40.0]])
    indices = stats.resample_indices(4, 50, seed=5)
    assert indices.shape == (50, 4)
    expected = np.array(
        [
            [np.mean(values[row, 0]), np.nanmean(values[row, 1]) if not np.isnan(values[row, 1]).all() else np.nan]
            for row in indices
        ]
    )
    np.testing.assert_allclose(stats.resampled_means(values, indices), expected)


def test_bootstrap_rejects_several_rows_per_unit():
    units = synthetic_units()
    with pytest.raises(ValueError, match="aggregate to one row per unit"):
        stats.bootstrap_ci(units, by=["checkpoint"])


def test_aggregate_averages_items_and_counts_unscored_ones():
    items = pd.DataFrame(
        {
            "model": "m",
            "condition": "Gaston",
            "kind": "goal_oriented",
            "checkpoint": 0,
            "dataset": "xstest",
            "metric": "safety",
            "item_id": [1, 2, 3, 4],
            "score": [100.0, 0.0, 100.0, np.nan],
        }
    )
    units = stats.aggregate(items)
    assert len(units) == 1
    assert units.loc[0, "score"] == pytest.approx(200 / 3)
    assert units.loc[0, "n_items"] == 3 and units.loc[0, "n_unscored"] == 1
    with pytest.raises(ValueError, match="needs column.*checkpoint"):
        stats.aggregate(items.drop(columns="checkpoint"))


def test_paired_differences_recover_known_gaps_exactly():
    units = synthetic_units(slope=0.1, kind_gap=3.0, persona_gap=-2.0)
    kind = stats.kind_difference(units)
    assert np.allclose(kind[["estimate", "ci_low", "ci_high"]], 3.0)
    assert (kind["contrast"] == "persona_directed - goal_oriented").all()
    assert (kind["n_units"] == 4 * 5).all()
    over_time = stats.checkpoint_difference(units).set_index(["kind", "checkpoint"])
    assert over_time.loc[("goal_oriented", 90), "estimate"] == pytest.approx(9.0)
    assert over_time.loc[("goal_oriented", 90), "ci_high"] == pytest.approx(9.0)
    vs_baseline = stats.persona_baseline_difference(units)
    personas = units[units["condition"] != "empty"].groupby(["kind", "checkpoint"])["score"].mean()
    baseline = units[units["condition"] == "empty"].groupby(["kind", "checkpoint"])["score"].mean()
    expected = (personas - baseline).loc[list(zip(vs_baseline["kind"], vs_baseline["checkpoint"]))]
    np.testing.assert_allclose(vs_baseline["estimate"], expected.to_numpy())
    assert (vs_baseline["contrast"] == "persona - baseline").all()


def _baseline_judged_per_persona(units: pd.DataFrame) -> pd.DataFrame:
    """The baseline scored against each persona's description: 10 points below that persona's own score."""
    personas = units[units["condition"] != "empty"].assign(reference_persona=lambda t: t["condition"])
    baseline = personas.assign(
        reference_persona=personas["condition"], condition="empty", score=personas["score"] - 10.0
    )
    return pd.concat([personas, baseline], ignore_index=True)


def test_persona_is_compared_with_the_baseline_judged_against_it():
    units = _baseline_judged_per_persona(synthetic_units(noise=1.0))
    vs_baseline = stats.persona_baseline_difference(units)
    np.testing.assert_allclose(vs_baseline[["estimate", "ci_low", "ci_high"]], 10.0)
    assert (vs_baseline["n_units"] == 4 * 5).all()
    collapsed = stats.collapse_reference_personas(units)
    assert len(collapsed[collapsed["condition"] == "empty"]) == 4 * 2 * len(CHECKPOINTS)
    curves = stats.checkpoint_curves(units)
    assert set(curves.loc[curves["arm"] == "baseline", "n_units"]) == {4}
    mean_gap = stats.personalisation_cost(units).groupby("kind")["diff"].mean()  # one (averaged) baseline per model
    np.testing.assert_allclose(mean_gap, 10.0)


def test_per_model_difference_resamples_personas_within_model():
    units = synthetic_units(kind_gap=1.0, noise=1.0)
    bars = stats.kind_difference(units, by=["model"], n_resamples=stats.PER_MODEL_RESAMPLES)
    assert list(bars["model"]) == ["m0", "m1", "m2", "m3"]
    assert (bars["n_units"] == 5).all()
    personas = units[units["condition"] != "empty"]
    per_model = personas.pivot_table(index=["model", "condition", "checkpoint"], columns="kind", values="score")
    gaps = (per_model["persona_directed"] - per_model["goal_oriented"]).groupby("model").mean()
    np.testing.assert_allclose(bars["estimate"], gaps.to_numpy())
    assert (bars["n_resamples"] == 5_000).all()
    assert (bars["ci_low"] < bars["estimate"]).all() and (bars["estimate"] < bars["ci_high"]).all()


def test_checkpoint_curves_resample_models_for_the_baseline():
    curves = stats.checkpoint_curves(synthetic_units(noise=1.0))
    assert len(curves) == 2 * 2 * len(CHECKPOINTS)
    assert set(curves.loc[curves["arm"] == "baseline", "n_units"]) == {4}
    assert set(curves.loc[curves["arm"] == "persona", "n_units"]) == {20}


def test_length_slope_recovers_a_known_slope():
    fits = stats.length_slope(synthetic_units(slope=-0.15, noise=1.0))
    slopes = fits[fits["term"] == "checkpoint"]
    assert len(slopes) == 4 * 2
    np.testing.assert_allclose(slopes["coef"], -0.15, atol=0.02)
    assert slopes["coef"].mean() == pytest.approx(-0.15, abs=0.005)
    assert (slopes["ci_high"] - slopes["ci_low"]).between(0.005, 0.05).all()
    assert slopes["converged"].all() and set(slopes["optimiser"]) <= {"powell", "lbfgs"}
    assert (slopes["n"] == 5 * len(CHECKPOINTS)).all() and (slopes["n_groups"] == 5).all()
    assert set(slopes["verdict"]) == {"estimable"}


def test_persona_effect_recovers_a_known_gap():
    units = synthetic_units(persona_gap=-4.0, noise=0.5)
    fits = stats.persona_effect(units)
    effect = fits[fits["term"] == "C(arm, Treatment('empty'))[T.persona]"].set_index(["model", "kind"])
    assert len(effect) == 4 * 2
    is_persona = units["condition"] != "empty"
    observed = (
        units[is_persona].groupby(["model", "kind"])["score"].mean()
        - units[~is_persona].groupby(["model", "kind"])["score"].mean()
    )
    np.testing.assert_allclose(effect["coef"], observed.loc[effect.index], atol=0.05)
    assert (effect["ci_high"] < 0).all()
    # Unit scores hold one value per round x condition group: the group variance is not identified, and the
    # table says so even though statsmodels converges without a warning.
    assert effect["verdict"].str.startswith("not estimable: one observation per group").all()


def turn_and_benchmark_units(*, turn_slope: float, benchmark_slope: float, persona_gap: float) -> pd.DataFrame:
    """A run's unit table: dialogue fidelity per round (its mean and three criteria; the baseline judged against each
    persona) beside an IFBench unit per checkpoint, 5 personas, 2 kinds, one model, no noise but a persona shift."""
    personas = [f"p{i}" for i in range(5)]
    shift = dict(zip(personas, np.random.default_rng(5).normal(0, 2, len(personas))))
    rows = []
    for condition, kind in itertools.product([*personas, "empty"], ["persona_directed", "goal_oriented"]):
        gap = persona_gap + shift[condition] if condition != "empty" else 0.0
        references = personas if condition == "empty" else [condition]
        for round_, metric, reference in itertools.product(
            range(1, 103), ["dialogue", "knowledge", "style", "in_character"], references
        ):
            rows.append(("m", condition, kind, round_, "fidelity", metric, reference, 70 + gap + turn_slope * round_))
        for t in CHECKPOINTS:
            rows.append(("m", condition, kind, t, "ifbench", "ifbench", None, 40 + gap + benchmark_slope * t))
    return pd.DataFrame(
        rows, columns=["model", "condition", "kind", "checkpoint", "dataset", "metric", "reference_persona", "score"]
    )


def test_turn_level_units_are_fitted_over_rounds_beside_the_benchmarks():
    units = turn_and_benchmark_units(turn_slope=-0.2, benchmark_slope=0.1, persona_gap=-6.0)
    # A round none of whose verdicts could be parsed has no score; it is left out, not a failed fit.
    unscored = units.index[
        (units["metric"] == "dialogue")
        & (units["condition"] == "p0")
        & (units["checkpoint"] == 50)
        & (units["kind"] == "goal_oriented")
    ]
    units.loc[unscored, "score"] = np.nan
    fits = stats.length_slope(units, metrics=["ifbench", "dialogue"])
    slopes = fits[fits["term"] == "checkpoint"].set_index(["metric", "kind"])
    assert set(slopes.index) == set(itertools.product(["dialogue", "ifbench"], ["goal_oriented", "persona_directed"]))
    np.testing.assert_allclose(slopes.loc["dialogue", "coef"], -0.2, atol=1e-6)
    np.testing.assert_allclose(slopes.loc["ifbench", "coef"], 0.1, atol=1e-6)
    assert slopes.loc[("dialogue", "goal_oriented"), "n"] == 5 * 102 - 1
    assert slopes.loc[("dialogue", "persona_directed"), "n"] == 5 * 102
    assert (slopes.loc["ifbench", "n"] == 5 * len(CHECKPOINTS)).all() and (slopes["n_groups"] == 5).all()
    effects = stats.persona_effect(units, metrics=["dialogue"])
    effect = effects[effects["term"] == "C(arm, Treatment('empty'))[T.persona]"]
    assert set(effect["metric"]) == {"dialogue"} and len(effect) == 2
    # The baseline, judged against every persona, is averaged over them: one baseline unit per round.
    assert (effect["n"] == [6 * 102 - 1, 6 * 102]).all()
    dialogue = units[units["metric"] == "dialogue"]
    is_persona = dialogue["condition"] != "empty"
    observed = (
        dialogue[is_persona].groupby("kind")["score"].mean() - dialogue[~is_persona].groupby("kind")["score"].mean()
    )
    np.testing.assert_allclose(effect["coef"], observed.loc[effect["kind"]], atol=0.01)


def test_size_regressions_recover_a_known_size_coefficient():
    rng = np.random.default_rng(4)
    rows = []
    for (family, size), persona, kind in itertools.product(
        [("a", 1), ("a", 2), ("b", 1), ("b", 2), ("c", 3)],
        [f"p{i}" for i in range(8)],
        ["persona_directed", "goal_oriented"],
    ):
        for t in (0, 102):
            drop = 2.5 * size - 6 if t == 102 else 0.0
            rows.append((f"{family}{size}", persona, kind, t, 60 + drop + rng.normal(0, 0.5), family, size))
    units = pd.DataFrame(rows, columns=["model", "condition", "kind", "checkpoint", "score", "family", "size"])
    fit = stats.length_cost_vs_size(units)
    size_row = fit[fit["term"] == "size"].iloc[0]
    assert size_row["coef"] == pytest.approx(2.5, abs=0.3)
    assert size_row["n"] == 5 * 8 * 2 and size_row["n_groups"] == 3 * 8


def test_convergence_warnings_are_captured_not_emitted():
    # No persona effect at all: the persona variance estimate sits on the boundary and statsmodels warns.
    noise = np.random.default_rng(2).normal(0, 1, 60)
    units = pd.DataFrame(
        {
            "model": "m",
            "kind": "goal_oriented",
            "condition": np.repeat([f"p{i}" for i in range(6)], 10),
            "checkpoint": np.tile(CHECKPOINTS, 6),
            "score": 50 + 0.2 * np.tile(CHECKPOINTS, 6) + noise,
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fits = stats.length_slope(units)
    assert not [w for w in caught if "statsmodels" in w.filename]
    assert fits["warnings"].str.contains("boundary").all()
    assert fits["verdict"].str.startswith("estimable with caution: group variance estimated at 0").all()
    # ... because with a zero group variance the fixed effects are an ordinary regression's, standard errors too.
    ols = smf.ols("score ~ checkpoint", units).fit()
    np.testing.assert_allclose(fits["se"], ols.bse.to_numpy(), rtol=1e-3)
    assert fits.loc[fits["term"] == "checkpoint", "coef"].item() == pytest.approx(0.2, abs=0.02)


def test_small_fits_that_converge_cleanly_are_still_called_not_estimable():
    # The embedded run's shapes: two personas x three checkpoints; nine units, each its own group.
    rng = np.random.default_rng(3)
    two_groups = pd.DataFrame(
        {"g": np.repeat(["a", "b"], 3), "x": np.tile([0, 4, 8], 2), "y": rng.normal(0, 1, 6) + np.repeat([0.0, 5.0], 3)}
    )
    fit = stats.fit_mixedlm(two_groups, "y ~ x", "g")
    assert fit["converged"].all() and (fit["warnings"] == "").all()
    assert set(fit["verdict"]) == {
        f"not estimable: n groups = 2 < {stats.MIN_GROUPS}, too few to estimate the group variance"
    }
    singletons = pd.DataFrame({"g": [f"g{i}" for i in range(9)], "x": np.tile([0, 0, 1], 3), "y": rng.normal(0, 1, 9)})
    fit = stats.fit_mixedlm(singletons, "y ~ x", "g")
    assert fit["converged"].all() and fit["verdict"].str.contains("one observation per group").all()
    failed = stats.fit_mixedlm(singletons, "y ~ missing_column", "g")
    assert failed["verdict"].item().startswith("not estimable: the fit failed")


@pytest.mark.parametrize(
    ("arguments", "verdict"),
    [
        ({}, "estimable"),
        ({"warning_text": "Retrying MixedLM optimization with lbfgs"}, "estimable"),
        (
            {"warning_text": "The Hessian matrix at the estimated parameter values is not positive definite."},
            "not estimable: Hessian not positive definite, so the standard errors and intervals are unreliable",
        ),
        (
            {
                "warning_text": "The MLE may be on the boundary of the parameter space.; The Hessian matrix at the "
                "estimated parameter values is not positive definite."
            },
            "estimable with caution: group variance estimated at 0 (boundary); the fixed effects are an ordinary "
            "regression's",
        ),
        (
            {"warning_text": "Random effects covariance is singular"},
            "estimable with caution: statsmodels warned: Random effects covariance is singular",
        ),
        ({"converged": False}, "not estimable: the optimiser did not converge"),
        (
            {"warning_text": "invalid value encountered in sqrt"},
            "not estimable: standard errors could not be computed (a negative variance estimate)",
        ),
        ({"n_groups": 1}, "not estimable: 1 group; a random intercept needs several"),
        ({"n": 2}, "not estimable: 2 observations for 2 fixed-effect terms"),
        (
            {"n_groups": 4, "warning_text": "The MLE may be on the boundary of the parameter space."},
            "not estimable: n groups = 4 < 5, too few to estimate the group variance",
        ),
    ],
)
def test_fit_verdict_names_the_most_serious_problem(arguments, verdict):
    assert stats.fit_verdict(**{"n": 80, "n_groups": 8, "n_terms": 2, "converged": True, **arguments}) == verdict


def test_attach_prefix_tokens_and_length_curves():
    units = synthetic_units(n_models=2, n_personas=2)
    lengths = units[["model", "condition", "kind", "checkpoint"]].rename(columns={"checkpoint": "round"})
    lengths = lengths.assign(prefix_tokens=lengths["round"] * 300)
    with_tokens = stats.attach_prefix_tokens(units, lengths)
    curves = stats.length_control_curves(with_tokens)
    assert curves.loc[curves["checkpoint"] == 102, "prefix_tokens"].eq(30_600).all()
    with pytest.raises(ValueError, match="have no prefix length"):
        stats.attach_prefix_tokens(units, lengths[lengths["round"] > 0])


def test_difference_curves_leave_out_contrasts_the_units_cannot_support():
    units = synthetic_units(kind_gap=2.0)
    assert set(stats.difference_curves(units, n_resamples=100)) == {"kind", "length", "persona"}
    one_kind = units[(units["kind"] == "goal_oriented") & (units["condition"] != "empty")]
    assert set(stats.difference_curves(one_kind, n_resamples=100)) == {"length"}
