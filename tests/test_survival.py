"""Break onsets, survival curves and models, and profile stability on series with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona_lib import stats
from persona_lib.stats import CHECKPOINT_RULE, TURN_RULE, BreakRule

ROUNDS = np.arange(1, 103)
CHECKPOINTS = np.array([0, 11, 22, 34, 45, 56, 68, 79, 90, 102])


def series_table(values, positions=ROUNDS, *, condition="Gaston", kind="goal_oriented", metric="fidelity"):
    """One dialogue's series as a tidy scores table."""
    return pd.DataFrame(
        {
            "model": "m",
            "condition": condition,
            "kind": kind,
            "metric": metric,
            "checkpoint": positions,
            "score": np.asarray(values, dtype=float),
        }
    )


def step(before: float, after: float, at: int, positions=ROUNDS) -> np.ndarray:
    return np.where(positions >= at, after, before).astype(float)


def onset_of(table, rule=TURN_RULE, higher_is_better=True, **kwargs) -> pd.Series:
    result = stats.dialogue_onsets(table, higher_is_better=higher_is_better, rule=rule, n_resamples=0, **kwargs)
    assert len(result) == 1
    return result.iloc[0]


# --- the onset rule -----------------------------------------------------------------------------------------------


def test_a_clean_break_is_found_at_its_round_with_its_reference_and_limit():
    row = onset_of(series_table(step(80, 50, at=61)))
    assert row["broke"] and row["onset"] == 61 and row["duration"] == 61 and row["observed_until"] == 102
    assert row["reference_level"] == pytest.approx(80) and row["break_level"] == pytest.approx(67.5)
    assert row["rule"] == TURN_RULE.describe() and row["note"] == ""


def test_noise_around_a_break_still_locates_it_within_three_rounds():
    values = step(85, 55, at=37) + np.random.default_rng(3).normal(0, 8, len(ROUNDS))
    row = onset_of(series_table(values))
    assert row["broke"] and abs(row["onset"] - 37) <= 3


def test_a_dip_that_recovers_is_no_break_but_a_long_dip_is():
    short_dip = np.where((ROUNDS >= 40) & (ROUNDS <= 45), 50.0, 80.0)
    row = onset_of(series_table(short_dip))
    assert not row["broke"] and np.isnan(row["onset"]) and row["duration"] == 102
    long_dip = np.where((ROUNDS >= 40) & (ROUNDS <= 60), 50.0, 80.0)  # 21 rounds: longer than persistence
    assert onset_of(series_table(long_dip))["onset"] == 40
    to_the_end = BreakRule(persistence=None)
    assert not onset_of(series_table(long_dip), rule=to_the_end)["broke"]


def test_a_series_that_never_breaks_is_censored_at_its_last_observed_round():
    values = 80 + np.random.default_rng(1).normal(0, 3, 90)
    row = onset_of(series_table(values, ROUNDS[:90]))
    assert not row["broke"] and np.isnan(row["onset"])
    assert row["observed_until"] == 90 and row["duration"] == 90


def test_for_lower_is_better_metrics_a_break_is_a_rise():
    rising = series_table(step(20, 45, at=30), metric="bfi_error")
    assert onset_of(rising, higher_is_better={"bfi_error": False})["onset"] == 30
    row = onset_of(rising, higher_is_better={"bfi_error": False})
    assert row["reference_level"] == pytest.approx(20) and row["break_level"] == pytest.approx(32.5)
    assert not onset_of(rising, higher_is_better=True)["broke"]
    with pytest.raises(ValueError, match="higher_is_better has no entry for metric 'bfi_error'"):
        onset_of(rising, higher_is_better={"fidelity": True})


def test_relative_threshold_is_a_fraction_of_the_opening_level():
    table = series_table(step(80, 66, at=50))  # a 17.5 % fall
    assert onset_of(table, rule=BreakRule(threshold=0.15, relative=True))["onset"] == 50
    assert not onset_of(table, rule=BreakRule(threshold=0.20, relative=True))["broke"]


def test_baseline_reference_breaks_when_the_persona_falls_to_the_baseline():
    persona = series_table(step(80, 56, at=50))
    baseline = series_table(np.full(len(ROUNDS), 55.0), condition="empty")
    rule = BreakRule(reference="baseline", threshold=-5)  # within 5 points of the baseline
    result = stats.dialogue_onsets(pd.concat([persona, baseline]), higher_is_better=True, rule=rule, n_resamples=0)
    row = result.set_index("condition").loc["Gaston"]
    assert row["broke"] and row["onset"] == 50
    assert row["reference_level"] == pytest.approx(55) and row["break_level"] == pytest.approx(60)
    skipped = result.set_index("condition").loc["empty"]
    assert skipped["note"] == "baseline is the reference" and np.isnan(skipped["duration"])
    with pytest.raises(ValueError, match="a baseline reference needs rows with condition 'empty'"):
        stats.dialogue_onsets(persona, higher_is_better=True, rule=rule, n_resamples=0)


def test_checkpoint_rule_on_ten_checkpoints():
    row = onset_of(series_table(step(25, 17, at=34, positions=CHECKPOINTS), CHECKPOINTS), rule=CHECKPOINT_RULE)
    assert row["onset"] == 34 and row["reference_level"] == 25 and row["break_level"] == 21
    last_only = series_table(step(25, 15, at=102, positions=CHECKPOINTS), CHECKPOINTS)
    assert onset_of(last_only, rule=CHECKPOINT_RULE)["onset"] == 102  # a run cut short by the end counts
    blip = series_table(np.where(CHECKPOINTS == 45, 15.0, 25.0), CHECKPOINTS)
    assert not onset_of(blip, rule=CHECKPOINT_RULE)["broke"]


def test_too_short_series_are_reported_not_assessed():
    row = onset_of(series_table([80.0] * 5, ROUNDS[:5]))
    assert row["note"].startswith("too short: 5 scored observations") and np.isnan(row["duration"])


def test_several_scores_per_round_need_an_item_column():
    table = pd.concat([series_table(step(80, 50, 61)), series_table(step(80, 50, 61))])
    with pytest.raises(ValueError, match="several scores for one dialogue round"):
        stats.dialogue_onsets(table, higher_is_better=True, n_resamples=0)


@pytest.mark.parametrize("bad", [{"window": 4}, {"opening": 0}, {"persistence": 0}, {"reference": "start"}])
def test_break_rule_rejects_impossible_settings(bad):
    with pytest.raises(ValueError, match="BreakRule"):
        BreakRule(**bad)


# --- bootstrap of the onset -----------------------------------------------------------------------------------------


def test_residual_bootstrap_brackets_a_clear_onset_and_is_seeded():
    values = step(85, 55, at=40) + np.random.default_rng(5).normal(0, 6, len(ROUNDS))
    table = series_table(values)
    first = stats.dialogue_onsets(table, higher_is_better=True, n_resamples=200, seed=7).iloc[0]
    again = stats.dialogue_onsets(table, higher_is_better=True, n_resamples=200, seed=7).iloc[0]
    assert first["bootstrap"] == "residuals" and first["break_share"] == 1.0
    assert first["onset_ci_low"] <= first["onset"] <= first["onset_ci_high"]
    assert first["onset_ci_low"] >= 36 and first["onset_ci_high"] <= 44
    assert first["onset_ci_low"] == again["onset_ci_low"] and first["onset_ci_high"] == again["onset_ci_high"]


def test_item_bootstrap_resamples_items_paired_across_checkpoints():
    rng = np.random.default_rng(2)
    accuracy = step(0.6, 0.3, at=45, positions=CHECKPOINTS)
    passed = rng.random((80, len(CHECKPOINTS))) < accuracy  # 80 items asked at every checkpoint
    table = pd.DataFrame(
        {
            "model": "m",
            "condition": "Gaston",
            "kind": "goal_oriented",
            "metric": "ifbench",
            "checkpoint": np.tile(CHECKPOINTS, 80),
            "item_id": np.repeat(np.arange(80), len(CHECKPOINTS)),
            "score": 100.0 * passed.ravel(),
        }
    )
    row = stats.dialogue_onsets(
        table, higher_is_better=True, rule=CHECKPOINT_RULE, item="item_id", n_resamples=300, seed=1
    ).iloc[0]
    assert row["bootstrap"] == "items" and row["onset"] == 45 and row["break_share"] > 0.9
    assert row["onset_ci_low"] <= 45 <= row["onset_ci_high"]
    assert row["reference_level"] == pytest.approx(100 * passed[:, 0].mean())


# --- survival curves and models -------------------------------------------------------------------------------------


def onset_table(durations, broke, **columns) -> pd.DataFrame:
    return pd.DataFrame({"duration": np.asarray(durations, dtype=float), "broke": np.asarray(broke, bool), **columns})


def test_kaplan_meier_matches_a_hand_computed_estimate_with_censoring():
    # Breaks at 2, 3, 5; censored at 3 and 8.  S(2) = 4/5, S(3) = 4/5 * 3/4, S(5) = 0.6 * 1/2.
    curve = stats.kaplan_meier(onset_table([2, 3, 3, 5, 8], [1, 1, 0, 1, 0], kind="k"), by=("kind",))
    assert curve["time"].tolist() == [0, 2, 3, 5, 8]
    np.testing.assert_allclose(curve["survival"], [1.0, 0.8, 0.6, 0.3, 0.3])
    assert curve["n_risk"].tolist()[1:4] == [5, 4, 2] and curve["n_events"].tolist() == [0, 1, 1, 1, 0]
    # Greenwood: se(2) = 0.8 * sqrt(1 / (5 * 4)); log(-log) interval worked out by hand.
    at_two = curve.iloc[1]
    assert at_two["se"] == pytest.approx(0.8 * np.sqrt(1 / 20))
    assert at_two["ci_low"] == pytest.approx(0.2038, abs=1e-4) and at_two["ci_high"] == pytest.approx(0.9692, abs=1e-4)
    assert np.isnan(curve.iloc[0]["ci_low"]) and (curve["n"] == 5).all() and (curve["n_breaks"] == 3).all()


def test_kaplan_meier_without_breaks_says_so():
    curve = stats.kaplan_meier(onset_table([102, 102, 90], [0, 0, 0], kind="k"), by=("kind",))
    assert curve["time"].tolist() == [0, 102] and (curve["survival"] == 1).all()
    assert curve["n_risk"].tolist() == [3, 2] and curve["n_events"].tolist() == [0, 0]
    assert curve["note"].iloc[0] == "no breaks observed: S(t) = 1 up to round 102"


def two_kinds(seed: int, goal_scale: float, directed_scale: float, n: int = 60) -> pd.DataFrame:
    """Exponential break times, censored at round 102, for two dialogue kinds."""
    rng = np.random.default_rng(seed)
    frames = []
    for kind, scale in (("goal_oriented", goal_scale), ("persona_directed", directed_scale)):
        times = rng.exponential(scale, n).round() + 1
        frames.append(onset_table(np.minimum(times, 102), times <= 102, kind=kind, model=rng.choice(["a", "b"], n)))
    return pd.concat(frames, ignore_index=True)


def test_logrank_separates_kinds_that_differ_and_not_kinds_that_do_not():
    different = stats.logrank_test(two_kinds(0, goal_scale=20, directed_scale=120)).iloc[0]
    assert different["p"] < 1e-4 and different["df"] == 1 and different["levels"] == "goal_oriented vs persona_directed"
    same = stats.logrank_test(two_kinds(1, goal_scale=60, directed_scale=60)).iloc[0]
    assert same["p"] > 0.05 and same["n"] == 120 and same["note"] == ""
    stratified = stats.logrank_test(two_kinds(0, 20, 120), strata="model").iloc[0]
    assert stratified["strata"] == "model" and stratified["p"] < 1e-4


def test_logrank_degenerate_cases_are_rows_not_errors():
    one_kind = stats.logrank_test(onset_table([10, 20, 102], [1, 1, 0], kind="goal_oriented")).iloc[0]
    assert one_kind["note"] == "not estimable: only one kind (goal_oriented) in the data" and np.isnan(one_kind["p"])
    no_breaks = stats.logrank_test(onset_table([102, 102], [0, 0], kind=["a", "b"])).iloc[0]
    assert no_breaks["note"].startswith("not estimable: no breaks")


def test_cox_model_recovers_the_direction_of_size_and_kind_effects():
    rng = np.random.default_rng(4)
    n = 400
    size = rng.integers(1, 4, n)
    goal = rng.random(n) < 0.5
    rate = 0.02 * np.exp(-0.7 * (size - 1) + 0.8 * goal)  # larger models later, goal-oriented earlier
    times = np.ceil(rng.exponential(1 / rate))
    data = onset_table(
        np.minimum(times, 102),
        times <= 102,
        size=size,
        kind=np.where(goal, "goal_oriented", "persona_directed"),
        model=size.astype(str),
    )
    table = stats.hazard_model(data).set_index("term")
    kind_term = "C(kind, Treatment('persona_directed'))[T.goal_oriented]"
    assert table.loc["size", "hazard_ratio"] < 1 < table.loc[kind_term, "hazard_ratio"]
    assert table.loc["size", "coef"] == pytest.approx(-0.7, abs=0.25)
    assert table.loc[kind_term, "coef"] == pytest.approx(0.8, abs=0.3)
    assert (table["p"] < 1e-3).all() and (table["n"] == n).all() and (table["n_breaks"] == data["broke"].sum()).all()
    assert (table["hr_ci_low"] < table["hazard_ratio"]).all() and (table["hazard_ratio"] < table["hr_ci_high"]).all()
    clustered = stats.hazard_model(data, cluster="model").set_index("term")
    assert clustered.loc["size", "coef"] == pytest.approx(table.loc["size", "coef"])
    assert clustered.loc["size", "se"] != pytest.approx(table.loc["size", "se"])


def test_cox_model_degenerate_cases_are_rows_not_errors():
    no_breaks = stats.hazard_model(onset_table([102, 102, 90], [0, 0, 0], size=[1, 2, 3], kind=["a", "b", "a"]))
    assert len(no_breaks) == 1 and no_breaks["note"].iloc[0] == "not estimable: no breaks observed"
    one_kind = stats.hazard_model(
        onset_table([10, 50, 90, 102], [1, 1, 1, 0], size=[1, 2, 1, 2], kind="goal"), covariates="size + kind"
    )
    assert one_kind["note"].iloc[0].startswith("not estimable: covariate(s) without variation")


def test_cox_model_flags_a_coefficient_that_is_not_identified():
    # Every goal-oriented dialogue breaks, no persona-directed one does: the kind effect has no finite estimate.
    data = onset_table(
        [10, 20, 30, 40, 102, 102, 102, 102],
        [1, 1, 1, 1, 0, 0, 0, 0],
        size=[1, 2, 1, 2, 1, 2, 1, 2],
        kind=["goal_oriented"] * 4 + ["persona_directed"] * 4,
    )
    table = stats.hazard_model(data).set_index("term")
    kind_term = "C(kind, Treatment('persona_directed'))[T.goal_oriented]"
    assert table.loc[kind_term, "note"].startswith("not identified") and table.loc[kind_term, "se"] > 20


# --- summaries and the released data ------------------------------------------------------------------------------


def test_onset_summary_counts_breaks_and_their_rounds():
    onsets = onset_table([11, 34, 102, 102], [1, 1, 0, 1], kind="k").assign(onset=[11, 34, np.nan, 102])
    row = stats.onset_summary(onsets, by=("kind",)).iloc[0]
    assert (row["n_dialogues"], row["n_broken"], row["share_broken"]) == (4, 3, 0.75)
    assert (row["onset_min"], row["onset_median"], row["onset_max"]) == (11, 34, 102)


def test_released_analysis_returns_every_table():
    analysis = stats.released_onset_analysis(n_resamples=50)
    assert len(analysis.onsets) == 7 * 9 * 2 and analysis.rule == CHECKPOINT_RULE
    qwen = analysis.summary.set_index(["model", "kind", "arm"]).loc[
        ("Qwen3-4B-Instruct-2507", "persona_directed", "persona")
    ]
    assert qwen["n_broken"] == 8  # every persona of the small Qwen loses IFBench accuracy in the interview
    assert set(analysis.curves["model"]) == set(analysis.onsets["model"])
    kind_term = "C(kind, Treatment('persona_directed'))[T.goal_oriented]"
    assert set(analysis.hazards["term"]) == {"size", "C(size)[T.2]", "C(size)[T.3]", kind_term}
    assert (analysis.hazards["n"] == 112).all() and (analysis.hazards["cluster"] == "model").all()
    assert "all (stratified)" in set(analysis.logrank["model"])


# --- stability of BFI profiles ------------------------------------------------------------------------------------


def test_profile_stability_on_a_hand_made_profile():
    dimensions = ["E", "A", "C", "N", "O"]
    levels = {0: [1, 2, 3, 4, 5], 11: [1.5, 2.5, 3.5, 4.5, 5.0], 22: [5, 4, 3, 2, 1], 34: [3, 3, 3, 3, 3]}
    rows = [
        ("m", "Gaston", "goal_oriented", t, d, v)
        for t, values in levels.items()
        for d, v in zip(dimensions, values, strict=True)
    ]
    profiles = pd.DataFrame(
        rows,
        columns=["model", "condition", "kind", "checkpoint", "dimension", "level"],
    )
    table = stats.profile_stability(profiles).set_index(["checkpoint", "comparison"])
    shifted = table.loc[(11, "initial")]
    assert shifted["r"] == pytest.approx(np.corrcoef([1, 2, 3, 4, 5], [1.5, 2.5, 3.5, 4.5, 5])[0, 1])
    assert shifted["mean_abs_change"] == pytest.approx(0.4) and shifted["n_dimensions"] == 5
    reversed_ = table.loc[(22, "initial")]
    assert reversed_["r"] == pytest.approx(-1) and reversed_["mean_abs_change"] == pytest.approx(2.4)
    assert table.loc[(22, "previous"), "compared_with"] == 11
    flat = table.loc[(34, "previous")]
    assert np.isnan(flat["r"]) and flat["note"].startswith("a profile is flat")
    assert flat["mean_abs_change"] == pytest.approx(1.2)
    assert len(table) == 6


def test_profile_stability_uses_shared_dimensions_only():
    profiles = pd.DataFrame(
        {
            "model": "m",
            "condition": "Gaston",
            "kind": "goal_oriented",
            "checkpoint": [0] * 5 + [11] * 4,
            "dimension": ["E", "A", "C", "N", "O", "E", "A", "C", "N"],
            "level": [1, 2, 3, 4, 5, 2, 3, 4, 4],
        }
    )
    row = stats.profile_stability(profiles).iloc[0]
    assert row["n_dimensions"] == 4 and row["mean_abs_change"] == pytest.approx(0.75)
    assert row["r"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [2, 3, 4, 4])[0, 1])
