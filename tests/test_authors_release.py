"""Reading a clone of the authors' repository, on a fake clone built from real excerpts of it.

The excerpts (tests/data/authors_release/, listed with their sources in data/SOURCES.md) keep the repository's
layout; the fake clone adds the released IFBench accuracies (the same file as data/released/ifbench_results.json).
Expected values below are worked out by hand from the verdicts in the excerpts.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import shutil
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from persona_lib import authors_release as release
from persona_lib import released, stats
from persona_lib.cli import _reproduce as cli_reproduce
from persona_lib.judging import parse_likert
from persona_lib.paths import data_dir, released_dir
from persona_lib.personas import DataFileError
from persona_lib.reproduce import PUBLISHED, table_variants, tables_from_units

EXCERPTS = Path(__file__).parent / "data" / "authors_release"
SELENE, FLOW = release.PRIMARY_JUDGE, release.SECOND_JUDGE
GEMMA, NEMOTRON = "gemma-3-4b-it", "Llama-3.1-Nemotron-Nano-8B-v1"
BFI_GASTON_0 = f"metrics/bfi/{SELENE}/{GEMMA}/bfi_Gaston_0.json.csv"
EMPTY_SPECIFIC = f"metrics/instruction_role_specific/{SELENE}/{GEMMA}/instruction_role_specific_empty_0.json-Gaston.csv"


@pytest.fixture(autouse=True, scope="module")
def _agg_backend() -> None:
    matplotlib.use("Agg")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "persistent-personas"
    shutil.copytree(EXCERPTS, root)
    shutil.copy(released_dir() / "ifbench_results.json", root / release.IFBENCH_RESULTS)
    return root


@pytest.fixture
def items(clone: Path) -> pd.DataFrame:
    return release.judged_items(clone, release.metric_files(clone))


@pytest.fixture
def units(items: pd.DataFrame) -> pd.DataFrame:
    return release.unit_scores(items)


def _unit(units: pd.DataFrame, **where) -> pd.Series:
    part = units
    for column, value in where.items():
        part = part[part[column].isna()] if value is None else part[part[column] == value]
    assert len(part) == 1, f"expected one unit for {where}, found {len(part)}"
    return part.iloc[0]


# ------------------------------------------------------------------------------------------------ file-name grammar
def test_every_excerpt_name_parses_with_its_kind_condition_round_and_judge(clone):
    files = release.metric_files(clone)
    assert len(files) == 19 and {f.judge for f in files} == {SELENE, FLOW}
    parsed = {f.path.split("/", 1)[1].replace(f"/{SELENE}/{GEMMA}/", "/"): f for f in files}

    goal = parsed["bfi/inst-bfi_Gaston_0.json.csv"]
    assert (goal.kind, goal.condition, goal.checkpoint, goal.dataset) == ("goal_oriented", "Gaston", 0, "bfi")
    assert parsed["bfi/bfi_Gaston_102.json.csv"].kind == "persona_directed"
    assert parsed["bfi/bfi_Gaston_102.json.csv"].checkpoint == 102
    baseline = parsed["bfi/bfi_empty_0.json.csv"]
    assert (baseline.condition, baseline.reference_persona) == ("empty", None)
    pairwise_baseline = parsed["instruction_role_specific/instruction_role_specific_empty_0.json-Gaston.csv"]
    assert (pairwise_baseline.condition, pairwise_baseline.reference_persona) == ("empty", "Gaston")
    zero = parsed["instruction_role_specific/instruction_role_specific_Gaston_11.json_zero_reference.csv"]
    assert (zero.reference, zero.checkpoint, zero.dataset) == ("zero", 11, "rolebench_specific")
    shuffled = parsed["style/interview_Gaston_shuffle.json.csv"]
    assert (shuffled.replicate, shuffled.checkpoint, shuffled.criterion) == ("shuffled", None, "style")
    dialogue_baseline = parsed["knowledge/interview_empty.json-Gaston.csv"]
    assert (dialogue_baseline.replicate, dialogue_baseline.reference_persona) == ("original", "Gaston")
    flow = parsed[f"knowledge/{FLOW}/{GEMMA}/interview_Gaston.json.csv"]
    assert (flow.judge, flow.dataset, flow.kind) == (FLOW, "fidelity", "persona_directed")
    assert parsed[f"bfi/{SELENE}/{NEMOTRON}/bfi_Michael_Scott_0.json.csv"].model == NEMOTRON
    [generation] = release.generation_files(clone)
    assert (generation.dataset, generation.condition, generation.checkpoint, generation.judge) == (
        "ifbench",
        "Gaston",
        0,
        None,
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            f"metrics/instruction_general/{SELENE}/{GEMMA}/"
            "inst-instruction_general_HAL_9000_102.json_previous_reference.csv",
            {"kind": "goal_oriented", "condition": "HAL 9000", "checkpoint": 102, "reference": "previous"},
        ),
        (
            f"metrics/knowledge/{FLOW}/gemma-3-27b-it/interview_empty_shuffle.json-Lestat de Lioncourt.csv",
            {
                "condition": "empty",
                "replicate": "shuffled",
                "reference_persona": "Lestat de Lioncourt",
                "criterion": "knowledge",
                "judge": FLOW,
            },
        ),
        (
            f"metrics/style/{SELENE}/{GEMMA}/instructions_Blair_Waldorf.json.csv",
            {"kind": "goal_oriented", "condition": "Blair Waldorf", "replicate": "original", "criterion": "style"},
        ),
        (
            "generations/gemini-2.5-flash/inst-ifbench_empty_90.json",
            {"kind": "goal_oriented", "condition": "empty", "checkpoint": 90, "dataset": "ifbench"},
        ),
    ],
)
def test_names_from_the_real_tree_parse(path, expected):
    parsed = release.parse_release_path(path)
    assert {key: getattr(parsed, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"metrics/bfi/{SELENE}/{GEMMA}/bfi_Gaston_12.json.csv", "round 12 is not one of the study's checkpoints"),
        (f"metrics/bfi/{SELENE}/{GEMMA}/bfi_Gastn_11.json.csv", "unknown persona 'Gastn'"),
        (
            f"metrics/xstest/{SELENE}/{GEMMA}/xstest_Gaston_11.json_zero_reference.csv",
            "self-reference variants exist only",
        ),
        (f"metrics/knowledge/{SELENE}/{GEMMA}/interview_empty.json.csv", "must name its reference persona"),
        (f"metrics/knowledge/{SELENE}/{GEMMA}/interview_Gaston.json-Gaston.csv", "only baseline ('empty') files"),
        (f"metrics/bfi/{SELENE}/{GEMMA}/bfi_Gaston_0.json", "cannot read the name"),
        (f"metrics/ifeval/{SELENE}/{GEMMA}/ifeval_Gaston_0.json.csv", "unknown metrics folder 'ifeval'"),
        ("results/bfi_ratings.csv", "expected 'metrics/<folder>/<judge>/<model>/<file>'"),
    ],
)
def test_unreadable_names_raise_an_error_naming_the_file(path, message):
    with pytest.raises(release.ReleaseNameError, match=re.escape(message)) as caught:
        release.parse_release_path(path)
    assert str(caught.value).startswith(path)


def test_an_unreadable_name_in_the_clone_stops_the_walk(clone):
    stray = clone / "metrics" / "bfi" / SELENE / GEMMA / "bfi_Gaston_final.json.csv"
    stray.write_text("bfi\n")
    with pytest.raises(release.ReleaseNameError, match="bfi_Gaston_final.json.csv"):
        release.metric_files(clone)


# ------------------------------------------------------------------------------------------------ verdicts
def test_the_selene_result_line_is_read_by_the_project_parser_as_before():
    selene = (EXCERPTS / BFI_GASTON_0).read_text()
    first_verdict = selene.split('"\n"')[0]
    assert first_verdict.rstrip().endswith("**Result:** 5")
    assert parse_likert(first_verdict).value == 5
    assert parse_likert("The answer stays in role.\nRESULT: 4").value == 4


def test_every_excerpt_row_becomes_one_item_and_nothing_is_dropped(clone, items):
    rows = 0
    for path in (clone / "metrics").rglob("*.csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            rows += sum(1 for _ in csv.reader(handle)) - 1
    assert len(items) == rows == 104
    assert (items["status"] == "ok").all() and items["value"].notna().all()  # the study's reader reads every one


def test_malformed_verdicts_are_read_as_the_study_read_them(clone, items):
    """The four shipped Selene verdicts whose result line is a sentence: the study took its first word."""
    differences = release.reader_differences(clone, release.metric_files(clone))
    found = {
        (path.rsplit("/", 1)[1], item): (study, strict, status)
        for path, item, study, strict, status in differences[
            ["path", "item", "study", "strict", "strict_status"]
        ].itertuples(index=False)
    }
    assert found == {
        ("bfi_Michael_Scott_0.json.csv", 15): (1, None, "unparsed"),  # "**Result:** 1 is not applicable ..."
        ("xstest_Gaston_0.json.csv", 32): (True, None, "unparsed"),  # "**Result:** Yes is incorrect, ..."
        ("instruction_role_specific_empty_0.json-Gaston.csv", 2): ("A", None, "unparsed"),  # "A cannot be chosen"
        ("instruction_role_specific_Gaston_11.json_zero_reference.csv", 1): ("B", None, "unparsed"),
    }
    assert "'1 is not applicable as the response is strongly extroverted" in differences.loc[0, "strict_reason"]
    assert len(items[items["judge"] == SELENE]) == 97  # every other shipped Selene verdict reads the same both ways
    assert not any("**Result:**" in path.read_text() for path in released_dir().glob("*.csv"))  # none there

    report = release.parse_report(items).set_index(["judge", "folder"])
    assert report.loc[(SELENE, "bfi"), ["ok", "fallback", "unparsed"]].tolist() == [36, 0, 0]
    assert report.loc[(SELENE, "xstest"), ["ok", "fallback", "unparsed"]].tolist() == [33, 0, 0]
    assert report.loc[(SELENE, "instruction_role_specific"), ["ok", "fallback", "unparsed"]].tolist() == [10, 0, 0]
    assert report["n_items"].sum() == 104


def _reword(clone: Path, relative: str, old: str, new: str) -> None:
    """Rewrite one passage of a judge-output file in the fake clone (the passage must occur once)."""
    path = clone / relative
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))


def test_a_verdict_without_a_readable_marker_falls_back_to_a_seeded_letter(clone):
    _reword(clone, EMPTY_SPECIFIC, "**Result:** A cannot be chosen", "**Result:** Response A cannot be chosen")
    items = release.judged_items(clone, release.metric_files(clone))
    [pairwise] = items[items["path"].eq(EMPTY_SPECIFIC) & items["item"].eq(2)].itertuples()
    assert pairwise.status == "fallback" and pairwise.verdict in ("A", "B")
    assert pairwise.reason == "no '**Result:** A/B' marker; seeded random choice"


def test_flow_judge_score_blocks_are_read(items):
    flow = items[(items["judge"] == FLOW) & (items["folder"] == "bfi")].sort_values("item")
    assert flow["verdict"].tolist() == [4, 1, 1, 5, 2]
    assert (flow["status"] == "ok").all()


def test_pairwise_fallback_is_seeded_per_item_not_by_reading_order(clone):
    _reword(clone, EMPTY_SPECIFIC, "**Result:** A cannot be chosen", "**Result:** Response A cannot be chosen")
    files = release.metric_files(clone)
    items = release.judged_items(clone, files)
    backwards = release.judged_items(clone, list(reversed(files)))
    merged = items.merge(backwards, on=["path", "item"], suffixes=("", "_backwards"))
    assert merged["verdict"].tolist() == merged["verdict_backwards"].tolist()
    fallback = items[items["status"] == "fallback"].iloc[0]
    release_file = release.parse_release_path(fallback["path"])
    text = release.read_judge_outputs(clone / fallback["path"], release_file.folder)[fallback["item"]]
    choices = {release.parse_verdict(text, release_file, fallback["item"], seed=seed).value for seed in range(20)}
    assert choices == {"A", "B"}  # the seed decides; over 20 seeds both answers occur


def test_dialogue_ratings_fall_back_to_score_of_n_and_say_so(clone):
    dialogue = release.parse_release_path(f"metrics/knowledge/{SELENE}/{GEMMA}/interview_Gaston.json.csv")
    text = release.read_judge_outputs(clone / dialogue.path, "knowledge")[0]
    reworded = text.replace("**Result:** 4", "I would give this a score of 4.")
    verdict = release.parse_verdict(reworded, dialogue, 0)
    assert (verdict.value, verdict.status) == (4, "fallback") and "'score of 4'" in verdict.reason
    bfi = release.parse_release_path(BFI_GASTON_0)
    assert release.parse_verdict(reworded, bfi, 0).status == "unparsed"  # the study had no fallback for BFI


# ------------------------------------------------------------------------------------------------ missing data
def test_a_folder_without_verdicts_is_refused_naming_what_is_missing(tmp_path, clone):
    with pytest.raises(release.CloneError, match="no such folder"):
        release.check_clone(tmp_path / "nowhere")
    shutil.rmtree(clone / "generations")
    assert release.check_clone(clone) == clone.resolve()  # a partial clone is read for what it holds
    empty = tmp_path / "empty"
    (empty / "results").mkdir(parents=True)
    with pytest.raises(release.CloneError, match="the folder 'metrics/' is missing"):
        release.check_clone(empty)
    (empty / "metrics" / "xstest" / SELENE).mkdir(parents=True)
    with pytest.raises(release.CloneError, match="no judge-output .csv file"):
        release.check_clone(empty)


def test_a_judge_file_with_the_wrong_column_names_the_file(clone):
    path = clone / BFI_GASTON_0
    path.write_text(path.read_text().replace("bfi\n", "rating\n", 1))
    with pytest.raises(DataFileError, match="bfi_Gaston_0.json.csv: expected one column named 'bfi'"):
        release.judged_items(clone, [release.parse_release_path(BFI_GASTON_0)])


def test_a_judge_file_longer_than_the_item_list_names_the_file(clone):
    relative = f"metrics/xstest/{SELENE}/{GEMMA}/xstest_Gaston_0.json.csv"
    path = clone / relative
    header, body = path.read_text().split("\n", 1)
    records = body.split('"\n"')
    path.write_text(header + "\n" + '"\n"'.join(records * 14))  # 33 real verdicts repeated: 462 rows
    with pytest.raises(DataFileError, match="xstest_Gaston_0.json.csv: has 462 rows, more than the study's 450"):
        release.judged_items(clone, [release.parse_release_path(relative)])


# ------------------------------------------------------------------------------------------------ unit scores
def test_bfi_error_units_against_hand_computed_values(units):
    bfi = units[units["metric"] == "bfi_error"]
    assert set(bfi["label_source"]) == {"annotation"}
    # Gaston's annotation labels E 4.67, A 1, C 2, N 4.67, O 1.67; judged levels at t = 0 (items 0-4): 5, 1, 3, 2, 2.
    # |diffs| 0.33 + 0 + 1 + 2.67 + 0.33 = 4.33; / 5 dimensions / 4 * 100 = 21.67.
    t0 = _unit(bfi, model=GEMMA, condition="Gaston", kind="persona_directed", checkpoint=0)
    assert t0["score"] == pytest.approx(21.6667, abs=1e-3) and t0["n_items"] == 5
    # At t = 102 the levels are 2, 3, 5, 3, 3: 2.67 + 2 + 3 + 1.67 + 1.33 = 10.67 -> 53.33.
    t102 = _unit(bfi, model=GEMMA, condition="Gaston", kind="persona_directed", checkpoint=102)
    assert t102["score"] == pytest.approx(53.3333, abs=1e-3)
    goal = _unit(bfi, model=GEMMA, condition="Gaston", kind="goal_oriented", checkpoint=0)
    assert goal["score"] == pytest.approx(21.6667, abs=1e-3)
    # Michael Scott (E 5, A 2.33, C 1.67, N 4.33, O 4.5); items 0-14 give E 5, A 3, C 1.67, N 3.33, O 4.33 and
    # item 15 (Extraversion) reads 1 as the study read it ("**Result:** 1 is not applicable"): E (5 + 5 + 5 + 1) / 4
    # = 4, so 1 + 0.67 + 0 + 1 + 0.17 = 2.83 -> 14.17.
    scott = _unit(bfi, model=NEMOTRON, condition="Michael Scott")
    assert scott["score"] == pytest.approx(14.1667, abs=1e-3)
    assert (scott["n_items"], scott["n_unparsed"]) == (16, 0)
    # The baseline (levels 4, 5, 5, 2, 5) gets one error per labelled character; against Gaston 68.33.
    baseline = bfi[bfi["condition"] == "empty"].set_index("reference_persona")["score"]
    assert sorted(baseline.index) == ["Blair Waldorf", "Gaston", "Lestat de Lioncourt", "Michael Scott"]
    assert baseline["Gaston"] == pytest.approx(68.3333, abs=1e-3)
    distance = _unit(units, metric="bfi_distance", condition="Gaston")
    assert distance["score"] == pytest.approx(50.0)  # |5-4| + |1-5| + |3-5| + 0 + |2-5| = 10 -> 10/5/4*100


def test_bfi_error_with_the_other_label_source(items):
    pdb = release.unit_scores(items, label_source="pdb")
    # Gaston's pdb labels E 5, A 1, C 1.19, N 3.29, O 1.19 against 5, 1, 3, 2, 2: 3.90 / 5 / 4 * 100 = 19.52.
    gaston = _unit(
        pdb[pdb["metric"] == "bfi_error"], model=GEMMA, condition="Gaston", kind="persona_directed", checkpoint=0
    )
    assert gaston["score"] == pytest.approx(19.5238, abs=1e-3) and gaston["label_source"] == "pdb"
    with pytest.raises(ValueError, match="no BFI labels from source 'imdb'"):
        release.unit_scores(items, label_source="imdb")


def test_dialogue_fidelity_averages_replicates_by_position_then_criteria(units):
    fidelity = units[units["dataset"] == "fidelity"]
    persona = fidelity[fidelity["condition"] == "Gaston"]
    # Turn 0 (original, shuffled): knowledge 4, 5; style 5, 5; in-character 4, 4 -> 87.5, 100, 75 on 0-100.
    assert _unit(persona, metric="knowledge", checkpoint=0)["score"] == pytest.approx(87.5)
    assert _unit(persona, metric="style", checkpoint=0)["score"] == pytest.approx(100.0)
    assert _unit(persona, metric="in_character", checkpoint=0)["score"] == pytest.approx(75.0)
    assert _unit(persona, metric="dialogue", checkpoint=0)["score"] == pytest.approx(87.5)
    # Turn 1: knowledge 4, 5; style 4, 5; in-character 5, 5 -> (87.5 + 87.5 + 100) / 3.
    turn1 = _unit(persona, metric="dialogue", checkpoint=1)
    assert turn1["score"] == pytest.approx(91.6667, abs=1e-3) and turn1["n_items"] == 6
    # The baseline's turns judged against Gaston's description: 2 and 1 -> 25 and 0.
    baseline = fidelity[(fidelity["condition"] == "empty") & (fidelity["metric"] == "knowledge")]
    assert baseline.sort_values("checkpoint")["score"].tolist() == [25.0, 0.0]
    assert set(baseline["reference_persona"]) == {"Gaston"}


def test_win_rates_follow_the_alternating_reference_position(units, items):
    specific = _unit(units, dataset="rolebench_specific", metric="rolebench_specific", condition="Gaston")
    assert specific["score"] == 100.0  # verdicts B, A, B, A: the model's answer sits at B, A, B, A
    general = _unit(units, dataset="rolebench_general", metric="rolebench_general", condition="Gaston")
    assert general["score"] == 75.0  # B, A, B, B: the last answer (odd item, model at A) loses
    baseline = _unit(units, dataset="rolebench_specific", metric="rolebench_specific", condition="empty")
    decided = items[items["path"] == EMPTY_SPECIFIC]
    assert decided["verdict"].tolist() == ["A", "B", "A", "B"]  # the reference's position every time
    assert baseline["score"] == 0.0 and (baseline["n_items"], baseline["n_fallback"]) == (4, 0)
    assert baseline["reference_persona"] == "Gaston"
    zero = _unit(units, dataset="rolebench_specific", metric="rolebench_specific_vs_round0")
    assert (zero["checkpoint"], zero["n_items"], zero["n_fallback"]) == (11, 2, 0)


def test_safety_and_excess_safety_from_xstest_labels(units):
    excess = _unit(units, metric="excess_safety")
    assert (excess["score"], excess["n_items"]) == (0.0, 25)  # 25 safe prompts, no refusal
    safety = _unit(units, metric="safety")
    # Unsafe prompts 25-32: a refusal for "terminate my wife's life" and one for prompt 32, whose verdict reads
    # "**Result:** Yes is incorrect, the response does not explicitly refuse" -- the study read its "Yes".
    assert safety["score"] == pytest.approx(25.0)
    assert (safety["n_items"], safety["n_unparsed"]) == (8, 0)


def test_collapse_reference_personas_averages_the_baseline_rows(units):
    collapsed = stats.collapse_reference_personas(units)
    bfi = collapsed[(collapsed["metric"] == "bfi_error") & (collapsed["condition"] == "empty")]
    expected = units.loc[(units["metric"] == "bfi_error") & (units["condition"] == "empty"), "score"].mean()
    assert len(bfi) == 1 and bfi["score"].item() == pytest.approx(expected) and bfi["n_items"].item() == 20
    assert len(collapsed[collapsed["condition"] != "empty"]) == len(units[units["condition"] != "empty"])


def test_ifbench_units_are_the_released_accuracies(clone):
    ifbench = release.ifbench_units(clone)
    assert len(ifbench) == 7 * 180
    raw = json.loads((clone / release.IFBENCH_RESULTS).read_text())
    cell = _unit(ifbench, model=GEMMA, condition="Gaston", kind="persona_directed", checkpoint=0)
    assert cell["score"] == pytest.approx(100 * raw[GEMMA]["ifbench_Gaston_0"])


# ------------------------------------------------------------------------------------------------ cross-checks
def test_judge_agreement_on_the_items_both_judges_rated(items):
    agreement = release.judge_agreement(items).set_index("folder")
    bfi = agreement.loc["bfi"]
    # Selene 5, 1, 3, 2, 2 against Flow-Judge 4, 1, 1, 5, 2: gaps 1, 0, 2, 3, 0. Quadratic weights (gap/4)^2 give
    # an observed disagreement of 0.175 and a chance one of 0.28 from the marginals: kappa = 1 - 0.175/0.28.
    assert (bfi["n_pairs"], bfi["n_excluded"]) == (5, 0)
    assert bfi["exact_agreement"] == pytest.approx(0.4) and bfi["mae"] == pytest.approx(1.2)
    assert bfi["within_one"] == pytest.approx(0.6) and bfi["kappa"] == pytest.approx(0.375)
    knowledge = agreement.loc["knowledge"]  # Selene 4, 4 against Flow-Judge 4, 5
    assert knowledge["n_pairs"] == 2 and knowledge["exact_agreement"] == 0.5 and knowledge["mae"] == 0.5


def test_our_parse_against_the_authors_extracted_bfi_ratings(clone, items):
    ratings = release.load_bfi_ratings(clone)
    check = release.bfi_ratings_crosscheck(items, ratings)
    assert len(check) == len(ratings) == 17
    assert check["status"].value_counts().to_dict() == {"ok": 16, "missing": 1}
    assert check["agrees"].sum() == 16  # with the study's reader, item 15 reads 1 in both ("1 is not applicable")


def test_units_from_the_authors_ratings_equal_ours(clone, units):
    authors = release.unit_scores(release.items_from_bfi_ratings(release.load_bfi_ratings(clone)))
    scott = _unit(authors[authors["metric"] == "bfi_error"], condition="Michael Scott")
    ours = _unit(units[units["metric"] == "bfi_error"], condition="Michael Scott")
    assert scott["score"] == pytest.approx(ours["score"]) == pytest.approx(14.1667, abs=1e-3)
    assert scott["n_items"] == ours["n_items"] == 16


def test_released_ifbench_answers_are_rescored_strict_and_loose(clone):
    [row] = release.rescore_ifbench(clone).itertuples()
    answers = json.loads((clone / "generations" / GEMMA / "ifbench_Gaston_0.json").read_text())
    # Prompt 0 asks for 'paradox' seven times, the answer has it five times; prompt 1 asks for 'meridian' once.
    assert answers[0].count("paradox") == 5 and "meridian" not in answers[1]
    assert (row.n_answers, row.complete, row.strict_correct, row.loose_correct) == (2, False, 0, 0)
    assert row.released == pytest.approx(100 * 45 / 294) and row.released_correct == 45
    summary = release.ifbench_variant_summary(release.rescore_ifbench(clone)).set_index("variant")
    assert summary["n_files"].tolist() == [0, 0] and not summary["reproduces"].any()


def test_variant_summary_names_the_variant_that_matches_every_file(clone):
    rescored = release.rescore_ifbench(clone).assign(complete=True, strict_correct=45, loose_correct=47)
    rescored = rescored.assign(strict=100 * 45 / 294, loose=100 * 47 / 294)
    summary = release.ifbench_variant_summary(rescored).set_index("variant")
    assert summary.loc["strict", "reproduces"] and summary.loc["strict", "n_exact"] == 1
    assert not summary.loc["loose", "reproduces"]
    assert summary.loc["loose", "max_abs_diff"] == pytest.approx(100 * 2 / 294)


# ------------------------------------------------------------------------------------------------ tables
def test_tables_from_units_reproduce_ifbench_and_say_why_other_rows_are_missing(clone, items):
    units = release.unit_scores(items, ifbench=release.ifbench_units(clone))
    tables = tables_from_units(units).set_index(["table", "dataset"])
    assert len(tables) == len(PUBLISHED)
    assert tables.loc[("Table 5", "IFBench"), "status"] == "matched"
    assert tables.loc[("Table 6", "IFBench"), "status"] == "matched"
    assert tables.loc[("Table 6", "Safety"), "note"] == "needs persona and baseline units at checkpoint 0"
    assert tables.loc[("Table 5", "General"), "note"] == "needs persona units at two or more checkpoints"
    assert tables.loc[("Table 5", "BFI"), "status"] == "not computed"
    assert tables.loc[("Table 5", "BFI"), "note"].startswith("the mixed model could not be fitted")


def test_the_study_pairing_gives_one_difference_per_reference_persona(clone):
    """Table 6 with a baseline judged once per reference persona: the study pairs every persona with every row.

    Built from the released IFBench units with the baseline repeated for the eight personas: averaging the repeats
    (the variant) gives back the published IFBench coefficient, while the study's pairing fits eight differences
    per model x persona x kind -- eight times the observations, same groups, a narrower interval.
    """
    ifbench = release.ifbench_units(clone)
    baseline = ifbench[ifbench["condition"] == "empty"]
    repeated = pd.concat(
        [baseline.assign(reference_persona=persona) for persona in released.PERSONAS], ignore_index=True
    )
    paired = pd.concat([ifbench[ifbench["condition"] != "empty"], repeated], ignore_index=True)
    study = tables_from_units(paired).set_index(["table", "dataset"]).loc[("Table 6", "IFBench")]
    as_general = paired.assign(
        dataset=paired["dataset"].replace("ifbench", "rolebench_general"),
        metric=paired["metric"].replace("ifbench", "rolebench_general"),
    )
    averaged = table_variants(as_general).set_index(["table", "dataset"]).loc[("Table 6", "General")]
    assert averaged["coef"] == pytest.approx(1.48, abs=0.01)  # the published Table 6 IFBench coefficient
    assert study["n"] == 8 * averaged["n"] == 8 * 7 * 8 * 2
    assert study["n_groups"] == averaged["n_groups"] == 8 * 4
    assert study["ci_high"] - study["ci_low"] < averaged["ci_high"] - averaged["ci_low"]


# ------------------------------------------------------------------------------------------------ CLI
def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli_reproduce.add_parser(parser.add_subparsers(dest="command"))
    return cli_reproduce.run(parser.parse_args(["reproduce", *argv]))


def test_cli_end_to_end_on_the_fake_clone(clone, tmp_path, capsys):
    out = tmp_path / "reproduction"
    assert _cli("--authors-repo", str(clone), "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "matched" in printed and "not computed (needs persona units at two or more checkpoints)" in printed
    assert "verdicts read: 104 (0 replaced by the study's fallback, 0 unparsed and excluded)" in printed
    assert "4 Selene verdicts would read otherwise with the strict last-line reader" in printed
    assert "our parse agrees with results/bfi_ratings.csv on 16 of 16 items" in printed
    assert len(pd.read_csv(out / "reader_differences.csv")) == 4
    spread = pd.read_csv(out / "fallback_spread.csv")
    assert (spread["level"] == "dataset").all() and (spread["min"] == spread["max"]).all()  # nothing to redraw
    tables = pd.read_csv(out / "tables.csv")
    assert len(tables) == 11 and tables["status"].value_counts().to_dict() == {"not computed": 9, "matched": 2}
    units = pd.read_csv(out / "units.csv")
    assert set(units["dataset"]) == {"bfi", "fidelity", "rolebench_specific", "rolebench_general", "xstest", "ifbench"}
    assert pd.read_csv(out / "parse_report.csv")["n_items"].sum() == 104
    assert pd.read_csv(out / "ifbench_rescore.csv")["n_answers"].tolist() == [2]
    assert set(pd.read_csv(out / "variants.csv")["variant"]) == {
        "one baseline per model (reference personas averaged)",
        "labels: pdb",
        "authors' extracted ratings",
    }
    for stem in ("tables_5_6_forest", "bfi_bfi_error_per_model", "fidelity_dialogue_per_model"):
        assert (out / "figures" / f"{stem}.png").stat().st_size > 0


def test_cli_skips_the_rescoring_when_asked(clone, tmp_path):
    out = tmp_path / "quick"
    assert _cli("--authors-repo", str(clone), "--out", str(out), "--skip-ifbench-rescore", "--label-source", "pdb") == 0
    assert pd.read_csv(out / "ifbench_rescore.csv").empty
    assert set(pd.read_csv(out / "units.csv").query("metric == 'bfi_error'")["label_source"]) == {"pdb"}


def test_cli_names_what_is_missing_from_an_incomplete_clone(clone, tmp_path, capsys):
    shutil.rmtree(clone / "metrics" / "instruction_general")
    assert _cli("--authors-repo", str(clone), "--out", str(tmp_path / "x"), "--skip-ifbench-rescore") == 0
    printed = capsys.readouterr().out
    assert f"not in this clone: metrics/instruction_general/{SELENE} (feeds rolebench_general" in printed
    assert _cli("--authors-repo", str(tmp_path / "nowhere"), "--out", str(tmp_path / "y")) == 2
    assert "no such folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ provenance
def test_every_excerpt_is_listed_in_sources_md_with_its_checksum():
    sources = (data_dir() / "SOURCES.md").read_text()
    files = sorted(path for path in EXCERPTS.rglob("*") if path.is_file())
    assert len(files) == 24 and sum(path.stat().st_size for path in files) < 300_000
    for path in files:
        relative = path.relative_to(EXCERPTS).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        assert f"| `{relative}` |" in sources, f"{relative} is not listed in data/SOURCES.md"
        assert f"`{digest}`" in sources, f"{relative}: sha256 prefix {digest} missing from data/SOURCES.md"
