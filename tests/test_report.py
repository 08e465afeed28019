"""What a results chapter shows: numbers formatted for a page, and model tables no cleaner than their fits."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from persona_lib import report, stats


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (98.958333, 1, "99.0"),
        (-0.0001, 1, "0.0"),
        (-0.04, 2, "-0.04"),
        (-0.004, 2, "0.00"),
        (3, 0, "3"),
        (None, 1, "\u2014"),
        (float("nan"), 1, "\u2014"),
        (pd.NA, 1, "\u2014"),
        ("text", 1, "text"),
    ],
)
def test_format_number_never_prints_a_negative_zero(value, digits, text):
    assert report.format_number(value, digits) == text


def test_format_table_formats_every_number_of_a_pivot_table():
    scores = pd.DataFrame(
        {
            "metric": ["ifbench"] * 4,
            "checkpoint": [0, 0, 8, 8],
            "condition": ["A", "empty"] * 2,
            "score": [98.958333, 50.0, -0.0001, 12.26],
            "n": [96, 96, 1, 96],
        }
    )
    pivot = scores.pivot_table(index=["metric", "checkpoint"], columns="condition", values=["score", "n"])
    shown = re.findall(r"<td [^>]*>([^<]*)</td>", report.format_table(pivot).to_html())
    assert shown == ["96", "96", "99.0", "50.0", "1", "96", "0.0", "12.3"]  # row by row: n, then score


def test_fit_table_shows_the_verdict_and_warnings_of_every_effect():
    rng = np.random.default_rng(0)
    units = pd.DataFrame(
        {
            "model": "m",
            "metric": "excess_safety",
            "kind": "goal_oriented",
            "condition": np.repeat(["Gaston", "HAL 9000"], 3),
            "checkpoint": np.tile([0, 4, 8], 2),
            "score": rng.normal(50, 5, 6),
        }
    )
    table = report.fit_table(stats.length_slope(units))
    assert list(table.columns) == [
        "metric",
        "dialogue",
        "effect",
        "estimate [95% CI]",
        "rests on",
        "verdict",
        "statsmodels warnings",
    ]
    (row,) = table.to_dict("records")
    fit = stats.length_slope(units).set_index("term").loc["checkpoint"]
    assert row["metric"] == "Excess safety \u2193" and row["dialogue"] == "goal-oriented"
    assert row["effect"] == "slope per round"
    assert row["estimate [95% CI]"] == f"{fit['coef']:.2f} [{fit['ci_low']:.2f},\u00a0{fit['ci_high']:.2f}]"
    assert row["rests on"] == "6 scores in 2 groups"
    assert row["verdict"].startswith("not estimable: n groups = 2")
    assert row["statsmodels warnings"] == (fit["warnings"] or "none")


def test_provenance_names_the_run_folder_without_the_machines_paths(tmp_path):
    from persona_lib.paths import PROJECT_ROOT
    from persona_lib.resolve import load_config

    default = PROJECT_ROOT / "configs" / "default.yaml"
    assert "in `runs/default`" in report.provenance_markdown(load_config(default))
    inside = load_config(default, output_dir=str(PROJECT_ROOT / "runs" / "mine"))
    assert "in `runs/mine`" in report.provenance_markdown(inside)
    scratch = report.provenance_markdown(load_config(default, output_dir=str(tmp_path / "tiny_run0")))
    assert "in `tiny_run0`" in scratch and str(tmp_path) not in scratch


def test_sample_answers_keys_items_by_dataset_and_names_the_dialogue():
    rows = []
    for dataset, item in (("bfi", "34"), ("xstest", "34"), ("xstest", "7")):
        for kind in ("persona_directed", "goal_oriented"):
            for checkpoint in (0, 4, 8):
                if dataset == "xstest" and item == "7" and checkpoint == 8:
                    continue  # asked at fewer checkpoints: not the one shown
                rows.append(
                    (
                        "Gaston",
                        kind,
                        checkpoint,
                        dataset,
                        item,
                        f"{dataset} {item} asked " + "word " * 80,
                        f"answer {kind} {checkpoint}",
                    )
                )
    answers = pd.DataFrame(
        rows, columns=["condition", "kind", "checkpoint", "dataset", "item_id", "prompt", "response"]
    )
    sample = report.sample_answers(answers, "Gaston", max_chars=40)
    assert list(sample[["dataset", "item"]].drop_duplicates().itertuples(index=False, name=None)) == [
        ("bfi", "34"),
        ("xstest", "34"),
    ]
    assert len(sample) == 2 * 2 * 2  # two items x two checkpoints (first, last) x two dialogue kinds
    first = sample.iloc[0]
    assert (first["dialogue"], first["checkpoint"], first["response"]) == (
        "persona-directed",
        0,
        "answer persona_directed 0",
    )
    assert sample["prompt"].str.len().max() <= 42 and sample["prompt"].str.endswith("\u2026").all()
    with pytest.raises(ValueError, match="no benchmark answers of condition 'Belle'"):
        report.sample_answers(answers, "Belle")


def test_scores_with_n_shows_how_many_judgements_each_score_rests_on():
    units = pd.DataFrame(
        {
            "model": "m",
            "metric": ["safety", "safety", "safety", "safety"],
            "kind": "goal_oriented",
            "checkpoint": 0,
            "condition": ["Gaston", "empty", "empty", "HAL 9000"],
            "reference_persona": [None, "Gaston", "HAL 9000", None],
            "score": [100.0, 50.0, 0.0, 98.958333],
            "n_items": [1, 2, 2, 96],
            "n_unscored": [95, 0, 0, 0],
        }
    )
    table = report.scores_with_n(units)
    row = table.loc[("Safety \u2191", "goal-oriented", 0)]
    assert row["Gaston"] == "100.0 (n = 1 of 96)"
    assert row["HAL 9000"] == "99.0 (n = 96 of 96)"
    assert row["empty"] == "25.0 (n = 4 of 4)"  # the baseline's two reference rows averaged, their counts summed


def test_fit_table_keeps_statsmodels_messages_and_counts_numpy_arithmetic_warnings():
    fits = pd.DataFrame(
        {
            "term": ["Intercept", "checkpoint"],
            "coef": [1.0, -0.0001],
            "ci_low": [0.0, np.nan],
            "ci_high": [2.0, np.nan],
            "n": 6,
            "n_groups": 2,
            "verdict": "not estimable: the optimiser did not converge",
            "warnings": "divide by zero encountered in log; Retrying MixedLM optimization with lbfgs; "
            "invalid value encountered in divide; The MLE may be on the boundary of the parameter space.",
        }
    )
    (row,) = report.fit_table(fits).to_dict("records")
    assert row["estimate [95% CI]"] == "0.00 [\u2014,\u00a0\u2014]"
    assert row["statsmodels warnings"] == (
        "The MLE may be on the boundary of the parameter space.; "
        "2 numerical warnings (division by zero or invalid values)"
    )


def test_metric_notes_name_the_judge_and_its_kappa_for_judged_metrics_only():
    import pandas as pd

    from persona_lib.config import RunConfig
    from persona_lib.report import metric_judge_notes, provenance_markdown

    config = RunConfig(judging={"mode": "both"})
    agreement = pd.DataFrame(
        {
            "dataset": ["bfi", "bfi", "xstest", "bfi"],
            "judge_model": [config.judge.model, config.judge.model, config.judge.model, "another-judge"],
            "judge_mode": ["generate", "distribution", "generate", "generate"],
            "kappa": [0.123, 0.5, float("nan"), 0.9],
            "n": [4, 4, 4, 4],
        }
    )
    units = pd.DataFrame(
        {"dataset": ["bfi", "xstest", "ifbench", "fidelity"], "metric": ["bfi_error", "safety", "ifbench", "style"]}
    )

    notes = metric_judge_notes(units, config, agreement)

    assert notes == {  # mode "both": the generated verdicts give the scores, so their κ is shown
        "bfi_error": "judged by SmolLM2-135M-Instruct \u00b7 κ 0.12",
        "safety": "judged by SmolLM2-135M-Instruct \u00b7 κ undefined",
        "style": "judged by SmolLM2-135M-Instruct \u00b7 κ not measured",
    }
    block = provenance_markdown(config, judge_agreement=agreement)
    assert "| judge vs people | κ bfi 0.12 · xstest — (n = 4 per dataset" in block
    assert "label distributions read beside them" in block
    assert "not measured yet (run the validate stage)" in provenance_markdown(config)


def test_provenance_states_stage_times_with_the_machine_they_came_from():
    from persona_lib.backends import cpu_model
    from persona_lib.config import RunConfig
    from persona_lib.report import describe_compute, provenance_markdown

    info = {
        "stage_seconds": {"generate": 312.4, "score": 80.0},
        "machine": {"cpu": "Intel(R) Xeon(R) Processor", "cores": 2, "native_bf16": []},
    }

    assert describe_compute(info) == (
        "generate 312 s · score 80 s (on Intel(R) Xeon(R) Processor, 2 cores, no native bfloat16)"
    )
    assert describe_compute({"stage_seconds": {}}) is None and describe_compute(None) is None
    assert "| stage times so far | generate 312 s" in provenance_markdown(RunConfig(), run_info=info)
    assert "stage times" not in provenance_markdown(RunConfig())
    assert cpu_model("processor : 0\nmodel name\t: Test CPU 9000\nflags : sse\n") == "Test CPU 9000"


def test_the_model_line_says_when_the_batch_invariant_mode_was_asked():
    from persona_lib.config import ModelConfig

    plain = ModelConfig(backend="vllm", model="Qwen/Qwen3-4B-Instruct-2507")
    assert report.describe_model(plain) == "`vllm` · Qwen/Qwen3-4B-Instruct-2507"
    asked = plain.model_copy(update={"batch_invariant": True})
    assert report.describe_model(asked) == (
        "`vllm` · Qwen/Qwen3-4B-Instruct-2507 · batch-invariant mode asked (each answer's provenance says whether "
        "it applied)"
    )
