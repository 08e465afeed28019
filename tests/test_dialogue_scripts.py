"""Tests for persona_lib.dialogues.load_script: the scripted user turns of both dialogue kinds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from persona_lib._records import DataFileError
from persona_lib.dialogues import DIALOGUE_KINDS, SCRIPT_ROUNDS, STUDY_SHUFFLE_SEED, load_script, shuffled_order
from persona_lib.paths import data_dir

REAL_DATA = data_dir()
INTERVIEW = json.loads((REAL_DATA / "interview.json").read_text())
INSTRUCTIONS = json.loads((REAL_DATA / "instructions.json").read_text())
# The question order of two of the authors' released shuffled dialogues (source: data/SOURCES.md).
RELEASED_ORDERS = json.loads((Path(__file__).parent / "data" / "released_shuffle_orders.json").read_text())


def test_persona_directed_is_intro_100_questions_and_closing_with_name_filled():
    turns = load_script("persona_directed", "Michael Scott")
    assert len(turns) == SCRIPT_ROUNDS == 102
    assert turns[0] == INTERVIEW["introductory_remark"].replace("{role}", "Michael Scott")
    assert turns[1:-1] == INTERVIEW["questions"]
    assert turns[-1] == INTERVIEW["concluding_remark"].replace("{role}", "Michael Scott")
    assert "Michael Scott" in turns[0] and "Michael Scott" in turns[-1]
    assert not any("{role}" in turn for turn in turns)


def test_baseline_interview_addresses_the_model_by_name():
    turns = load_script("persona_directed", "SmolLM2-135M-Instruct")
    assert turns[0].startswith("Welcome, SmolLM2-135M-Instruct!")


def test_goal_oriented_is_the_102_prism_requests_and_ignores_name():
    turns = load_script("goal_oriented", "Gaston")
    assert turns == INSTRUCTIONS["questions"]
    assert len(turns) == 102
    assert turns == load_script("goal_oriented", "HAL 9000")


@pytest.mark.parametrize("kind", DIALOGUE_KINDS)
def test_truncation_keeps_the_first_rounds(kind):
    full = load_script(kind, "Gaston")
    assert load_script(kind, "Gaston", n_rounds=12) == full[:12]
    assert load_script(kind, "Gaston", n_rounds=1) == full[:1]


def test_shuffled_interview_keeps_its_opening_and_closing_remarks():
    ordered = load_script("persona_directed", "Gaston")
    shuffled = load_script("persona_directed", "Gaston", shuffle_seed=7)
    assert shuffled[0] == ordered[0] and shuffled[-1] == ordered[-1]
    assert "Gaston" in shuffled[0] and "Gaston" in shuffled[-1]
    assert shuffled[1:-1] == [ordered[1:-1][i] for i in shuffled_order(100, seed=7)]
    assert sorted(shuffled) == sorted(ordered) and shuffled[1:-1] != ordered[1:-1]


def test_shuffled_goal_oriented_dialogue_permutes_all_102_requests():
    ordered = load_script("goal_oriented", "Gaston")
    shuffled = load_script("goal_oriented", "Gaston", shuffle_seed=7)
    assert shuffled == [ordered[i] for i in shuffled_order(102, seed=7)]
    assert shuffled[0] != ordered[0]


def test_study_seed_reproduces_the_released_shuffled_interview():
    order = RELEASED_ORDERS["persona_directed"]["question_order"]
    released = [
        INTERVIEW["introductory_remark"].replace("{role}", "Gaston"),
        *(INTERVIEW["questions"][i] for i in order),
        INTERVIEW["concluding_remark"].replace("{role}", "Gaston"),
    ]
    assert STUDY_SHUFFLE_SEED == 42
    assert load_script("persona_directed", "Gaston", shuffle_seed=42) == released
    assert order[:5] == [42, 41, 91, 9, 65]


def test_study_seed_reproduces_the_released_shuffled_goal_oriented_dialogue():
    order = RELEASED_ORDERS["goal_oriented"]["question_order"]
    assert load_script("goal_oriented", "Gaston", shuffle_seed=42) == [INSTRUCTIONS["questions"][i] for i in order]
    assert order[:5] == [41, 78, 82, 9, 67]


@pytest.mark.parametrize("kind", DIALOGUE_KINDS)
def test_shuffled_replicate_is_seeded_then_truncated(kind):
    ordered = load_script(kind, "Gaston")
    shuffled = load_script(kind, "Gaston", shuffle_seed=7)
    assert sorted(shuffled) == sorted(ordered) and shuffled != ordered
    assert load_script(kind, "Gaston", n_rounds=12, shuffle_seed=7) == shuffled[:12]
    assert load_script(kind, "Gaston", shuffle_seed=7) == shuffled
    assert load_script(kind, "Gaston", shuffle_seed=8) != shuffled


@pytest.mark.parametrize(
    ("kind", "n_rounds", "message"),
    [
        ("interview", 10, "unknown dialogue kind 'interview'"),
        ("goal_oriented", 0, "n_rounds must be an integer from 1 to 102"),
        ("goal_oriented", 103, "n_rounds must be an integer from 1 to 102"),
    ],
)
def test_bad_arguments_raise_value_error(kind, n_rounds, message):
    with pytest.raises(ValueError, match=message):
        load_script(kind, "Gaston", n_rounds=n_rounds)


def test_malformed_script_files_name_file_and_field(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_LIB_DATA", str(tmp_path))
    interview = dict(INTERVIEW, questions=INTERVIEW["questions"][:99])
    (tmp_path / "interview.json").write_text(json.dumps(interview))
    expected = r"interview\.json, top level, field 'questions': expected 100 questions, got 99"
    with pytest.raises(DataFileError, match=expected):
        load_script("persona_directed", "Gaston")

    without_closing = {key: value for key, value in INTERVIEW.items() if key != "concluding_remark"}
    (tmp_path / "interview.json").write_text(json.dumps(without_closing))
    with pytest.raises(DataFileError, match="field 'concluding_remark': missing"):
        load_script("persona_directed", "Gaston")

    shutil.copy(REAL_DATA / "instructions.json", tmp_path / "instructions.json")
    text = (tmp_path / "instructions.json").read_text()
    (tmp_path / "instructions.json").write_text(text[: len(text) // 2])
    with pytest.raises(DataFileError, match=r"instructions\.json, line \d+: not valid JSON"):
        load_script("goal_oriented", "Gaston")


def test_missing_script_file_names_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_LIB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "instructions.json")):
        load_script("goal_oriented", "Gaston")


def test_the_released_order_fixture_is_documented_with_its_checksum():
    import hashlib

    fixture = Path(__file__).parent / "data" / "released_shuffle_orders.json"
    digest = hashlib.sha256(fixture.read_bytes()).hexdigest()[:16]
    sources = (REAL_DATA / "SOURCES.md").read_text()
    assert "`tests/data/released_shuffle_orders.json`" in sources and f"sha256 `{digest}`" in sources
    assert RELEASED_ORDERS["source"]["commit"].startswith("92ddad75")
