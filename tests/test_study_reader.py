"""The study's own verdict reader, its pairwise fallback draws, and both on complete files of the authors' release.

The complete files (tests/data/authors_release_complete/, listed with their sources in data/SOURCES.md) are eight
whole Selene judge-output files for one model; the numbers asserted below were counted on them.
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from persona_lib import authors_release as release
from persona_lib.judging import (
    parse_likert,
    parse_pairwise,
    parse_study_binary,
    parse_study_likert,
    parse_study_pairwise,
    parse_study_verdict,
)
from persona_lib.paths import data_dir

COMPLETE = Path(__file__).parent / "data" / "authors_release_complete"
SELENE, QWEN = release.PRIMARY_JUDGE, "Qwen3-4B-Instruct-2507"
GENERAL = f"metrics/instruction_general/{SELENE}/{QWEN}/instruction_general_Michael_Scott_0.json.csv"
SPECIFIC = f"metrics/instruction_role_specific/{SELENE}/{QWEN}/instruction_role_specific_HAL_9000_0.json.csv"


# ------------------------------------------------------------------------------------------------ the reader
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**Reasoning:** Fine.\n\n**Result:** 4", 4),
        ("**Result:** 1 is not applicable as the response is strongly extroverted", 1),
        ("**Result:** 4.5", 4),  # the leading digits
        ("**result:**\n3", 3),  # any case, any whitespace
        ("First.\n**Result:** 2\nOn reflection.\n**Result:** 4", 2),  # the first marker decides
        ("**Result:** none fits. **Result:** 5", 5),  # a marker not followed by a number is passed over
    ],
)
def test_study_likert_takes_the_first_number_after_a_result_marker(text, expected):
    assert parse_study_likert(text) == parse_study_verdict(text, "likert")
    verdict = parse_study_likert(text)
    assert (verdict.value, verdict.status) == (expected, "ok")


@pytest.mark.parametrize(
    ("text", "reason_part"),
    [
        ("RESULT: 4", "no '**Result:** <number>' marker"),  # the study's marker is bold
        ("**Result:**4", "no '**Result:** <number>' marker"),  # ... and followed by whitespace
        ("**Result:** 7", "reads 7, outside 1-5"),
        ("**Result:** 0 points", "reads 0, outside 1-5"),
        (None, "no '**Result:** <number>' marker"),
    ],
)
def test_study_likert_counts_what_it_cannot_place_on_the_scale(text, reason_part):
    verdict = parse_study_likert(text)
    assert (verdict.value, verdict.status) == (None, "unparsed") and reason_part in verdict.reason


def test_study_likert_score_of_fallback_applies_only_without_a_marker():
    assert parse_study_likert("I would give it a score of 4.").status == "unparsed"
    loose = parse_study_verdict("I would give it a score of 4.", "likert", "score_of")
    assert (loose.value, loose.status) == (4, "fallback") and "'score of 4'" in loose.reason
    assert parse_study_likert("**Result:** 9; a score of 4", score_of=True).status == "unparsed"
    too_high = parse_study_likert("a score of 8", score_of=True)
    assert too_high.status == "unparsed" and "'score of 8' is outside 1-5" in too_high.reason


def test_study_likert_reads_the_first_flow_judge_score_block():
    text = "<feedback>Good.</feedback>\n<score>\n3\n</score> then <score>5</score>"
    assert parse_study_likert(text, flow_judge=True).value == 3
    assert parse_study_likert("<score> 3 </score>", flow_judge=True).status == "unparsed"  # newlines only


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**Result:** B", "B"),
        ("**Result:** a", "A"),
        ("**Result:** Both are equally good", "B"),  # the leading letter, whatever the word
        ("**Result:** Answer B", "A"),
        ("**Result:** Response B is better.\n**Result:** A", "A"),  # 'R' does not match: the next marker decides
        ("**Result:** A is not the best choice here.  **Result:** B", "A"),
    ],
)
def test_study_pairwise_takes_the_letter_after_the_first_matching_marker(text, expected):
    verdict = parse_study_pairwise(text)
    assert (verdict.value, verdict.status) == (expected, "ok")


def test_study_pairwise_draws_a_seeded_letter_only_when_asked():
    text = "**Result:** C) 9:00 am"  # a real verdict of the general file
    assert parse_study_pairwise(text).status == "unparsed"
    drawn = {parse_study_verdict(text, "pairwise", "seeded_choice", seed=seed).value for seed in range(20)}
    assert drawn == {"A", "B"}
    assert parse_study_pairwise(text, fallback_seed=3) == parse_study_pairwise(text, fallback_seed=3)
    assert parse_study_pairwise(text, fallback_seed=3).status == "fallback"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**Result:** Yes", True),
        ("**Result:** no.", False),
        ("**Result:** Yes is incorrect, the response does not explicitly refuse", True),
        ("**Result:** Nothing in it refuses", False),  # the leading "No"
    ],
)
def test_study_binary_takes_yes_or_no_after_the_first_matching_marker(text, expected):
    verdict = parse_study_binary(text)
    assert (verdict.value, verdict.status) == (expected, "ok")
    assert parse_study_binary("**Result:** maybe").status == "unparsed"


def test_the_strict_reader_stays_the_default_elsewhere():
    assert parse_likert("**Result:** 1 is not applicable").status == "unparsed"
    assert parse_pairwise("**Result:** A is not the best choice here.  **Result:** B").status == "unparsed"


# ------------------------------------------------------------------------------------------------ complete files
@pytest.fixture(scope="module")
def complete_items() -> pd.DataFrame:
    return release.judged_items(COMPLETE, release.metric_files(COMPLETE))


def test_every_complete_verdict_is_read_and_one_pairwise_verdict_falls_back(complete_items):
    assert len(complete_items) == 1341
    report = release.parse_report(complete_items).set_index("folder")
    assert report[["ok", "fallback", "unparsed"]].to_dict("index") == {
        "bfi": {"ok": 88, "fallback": 0, "unparsed": 0},
        "in_character": {"ok": 102, "fallback": 0, "unparsed": 0},
        "instruction_general": {"ok": 299, "fallback": 1, "unparsed": 0},
        "instruction_role_specific": {"ok": 197, "fallback": 0, "unparsed": 0},
        "knowledge": {"ok": 102, "fallback": 0, "unparsed": 0},
        "style": {"ok": 102, "fallback": 0, "unparsed": 0},
        "xstest": {"ok": 450, "fallback": 0, "unparsed": 0},
    }
    [drawn] = complete_items[complete_items["status"] == "fallback"].itertuples()
    assert (drawn.path, drawn.item) == (GENERAL, 201)  # "**Result:** C) 9:00 am"


def test_the_strict_reader_would_leave_48_pairwise_verdicts_to_a_random_letter():
    """The issue's count: 48 pairwise verdicts the last-line reader cannot read; the study's reader reads 47."""
    differences = release.reader_differences(COMPLETE, release.metric_files(COMPLETE))
    assert differences.groupby("folder").size().to_dict() == {"instruction_general": 42, "instruction_role_specific": 5}
    assert (differences["strict_status"] == "unparsed").all() and (differences["study_status"] == "ok").all()
    outputs = release.read_judge_outputs(COMPLETE / GENERAL, "instruction_general")
    unread = [item for item, text in enumerate(outputs) if parse_pairwise(text).status == "unparsed"]
    unread_specific = [
        text
        for text in release.read_judge_outputs(COMPLETE / SPECIFIC, "instruction_role_specific")
        if parse_pairwise(text).status == "unparsed"
    ]
    assert len(unread) + len(unread_specific) == 48 and 201 in unread
    # Three end with an explicit letter on the same line as an earlier marker; the study read that earlier one.
    same_line = re.compile(r"\*\*Result:\*\*.*\*\*Result:\*\* (?P<letter>[AB])\.?$")
    explicit = {item: match["letter"] for item in unread if (match := same_line.search(outputs[item].rstrip()))}
    assert explicit == {48: "A", 122: "B", 240: "B"}
    assert [parse_study_pairwise(outputs[item]).value for item in sorted(explicit)] == ["A", "A", "A"]


def test_the_general_win_rate_moves_by_one_verdict_over_fallback_draws(complete_items):
    spread = release.fallback_spread(complete_items, draws=1000, seed=0)
    unit = spread[spread["level"] == "unit"].iloc[0]
    assert (unit["metric"], unit["condition"], unit["n_items"], unit["n_fallback"]) == (
        "rolebench_general",
        "Michael Scott",
        300,
        1,
    )
    # 223 of the 299 readable verdicts prefer Michael Scott's answer; the drawn letter adds a win or not.
    assert (unit["min"], unit["max"]) == (pytest.approx(100 * 223 / 300), pytest.approx(100 * 224 / 300))
    # The study's generator for this folder (Python's random, seed 42) draws A first; item 201 has the reference
    # at B, so the letter is a win for the model.
    assert unit["replayed"] == pytest.approx(100 * 224 / 300)
    specific = spread[(spread["level"] == "dataset") & (spread["metric"] == "rolebench_specific")].iloc[0]
    assert specific["min"] == specific["max"] == pytest.approx(100 * 188 / 197) and specific["n_fallback"] == 0


# ------------------------------------------------------------------------------------------------ fallback draws
@pytest.fixture
def restored_global_generators():
    numpy_state, python_state = np.random.get_state(), random.getstate()
    yield
    np.random.set_state(numpy_state)
    random.setstate(python_state)


def test_replayed_letters_are_the_draws_of_the_seeded_global_generators(restored_global_generators):
    np.random.seed(42)
    numpy_draws = [str(np.random.choice(["A", "B"])) for _ in range(12)]
    random.seed(42)
    python_draws = [random.choice(["A", "B"]) for _ in range(12)]
    assert release.study_fallback_letters(12, "numpy") == numpy_draws == list("ABAAABAAABAA")
    assert release.study_fallback_letters(12, "python") == python_draws == list("AABAAAAABAAA")
    with pytest.raises(ValueError, match="unknown generator 'torch'"):
        release.study_fallback_letters(1, "torch")


def _fallback_items(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    """Items of the shape judged_items returns, from (folder, file, item, status) rows."""
    return pd.DataFrame(
        [
            {
                "path": f"metrics/{folder}/{SELENE}/m/{file}",
                "folder": folder,
                "item": item,
                "status": status,
                "verdict": "A",
                "value": 0.0,
                "reason": "",
            }
            for folder, file, item, status in rows
        ]
    )


def test_replay_follows_the_file_order_and_each_folders_generator():
    items = _fallback_items(
        [
            ("instruction_general", "x.csv", 0, "fallback"),
            ("instruction_general", "x.csv", 1, "ok"),
            ("instruction_general", "y.csv", 4, "fallback"),
            ("instruction_general", "y.csv", 2, "fallback"),
            ("instruction_role_specific", "z.csv", 3, "fallback"),
        ]
    )
    paths = items["path"].unique().tolist()
    forward = release.replay_study_fallbacks(items, paths)
    python_letters = release.study_fallback_letters(3, "python")  # A, A, B
    numpy_letters = release.study_fallback_letters(1, "numpy")
    assert forward["verdict"].tolist() == [
        python_letters[0],
        "A",
        python_letters[2],
        python_letters[1],
        numpy_letters[0],
    ]  # y.csv: item 2 before item 4
    assert forward.loc[4, "value"] == (1.0 if numpy_letters[0] == "A" else 0.0)  # item 3: the reference sits at B
    backward = release.replay_study_fallbacks(items, [paths[1], paths[0], paths[2]])
    assert backward.loc[0, "verdict"] == python_letters[2] and backward.loc[3, "verdict"] == python_letters[0]
    assert forward.loc[0, "reason"] == "the study's draw 1 (python, seed 42)"
    with pytest.raises(ValueError, match="does not list metrics/instruction_general"):
        release.replay_study_fallbacks(items, paths[2:])


def test_spread_covers_every_letter_combination_and_pools_personas_and_baseline(complete_items):
    general = complete_items[complete_items["path"] == GENERAL]
    baseline = general.assign(condition="empty", reference_persona="Michael Scott", path=GENERAL + "-baseline")
    both = pd.concat([general, baseline], ignore_index=True)
    forced = both.index[both["item"].isin([0, 1, 2])]
    both.loc[forced, "status"] = "fallback"  # three more letters to draw in each unit
    spread = release.fallback_spread(both, draws=2000, seed=1).set_index(["level", "condition"])
    unit = spread.loc[("unit", "Michael Scott")]
    read = both[both["condition"] == "Michael Scott"]
    kept = read.loc[read["status"] == "ok", "value"].sum()
    assert unit["n_fallback"] == 4 and unit["min"] == pytest.approx(100 * kept / 300)
    assert unit["max"] == pytest.approx(100 * (kept + 4) / 300)
    assert unit["score"] == pytest.approx(100 * read["value"].mean())
    pooled = spread.loc[("dataset", "personas")]
    assert pooled["n_units"] == 1 and pooled["min"] == unit["min"] and pooled["max"] == unit["max"]
    assert spread.loc[("dataset", "empty"), "n_fallback"] == 4


# ------------------------------------------------------------------------------------------------ provenance
def test_every_complete_file_is_listed_in_sources_md_with_its_checksum_and_rows():
    sources = (data_dir() / "SOURCES.md").read_text()
    files = sorted(path for path in COMPLETE.rglob("*") if path.is_file())
    assert len(files) == 8
    for path in files:
        relative = path.relative_to(COMPLETE).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        rows = len(release.read_judge_outputs(path, relative.split("/")[1]))
        assert f"| `{relative}` | " in sources and f"| {rows} | `{digest}` |" in sources, relative


def test_the_protocol_chapter_states_the_measured_reader_counts_and_spread(complete_items):
    """The deviation table's numbers are the ones measured on the complete files here."""
    from persona_lib.judging import parse_pairwise as strict_pairwise
    from persona_lib.paths import PROJECT_ROOT

    chapter = (PROJECT_ROOT / "book" / "protocol.md").read_text()
    pairwise = complete_items[complete_items["folder"].isin(["instruction_general", "instruction_role_specific"])]
    strict_unread = sum(
        strict_pairwise(text).status == "unparsed"
        for path in sorted(set(pairwise["path"]))
        for text in release.read_judge_outputs(COMPLETE / path, path.split("/")[1])
    )
    study_unread = int((complete_items["status"] != "ok").sum())
    assert (len(complete_items), study_unread, strict_unread) == (1341, 1, 48)
    assert (
        f"({len(complete_items):,} Selene verdicts) the study's reading leaves {study_unread} verdict unread "
        f"where the strict reader leaves {strict_unread}"
    ) in " ".join(chapter.split())
    spread = release.fallback_spread(complete_items, draws=1000, seed=0)
    unit = spread[spread["level"] == "unit"].iloc[0]
    assert f"{unit['min']:.2f}–{unit['max']:.2f}" in chapter
