"""Tests for persona_lib.personas: study personas, Big-Five labels, custom persona files, system prompts."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from persona_lib.paths import data_dir
from persona_lib.personas import (
    BASELINE,
    BFI_DIMENSIONS,
    STUDY_PERSONAS,
    DataFileError,
    Persona,
    load_personas,
    persona_system_prompt,
    select_personas,
    system_messages,
)

REAL_DATA = data_dir()
LABELLED = {"Gaston", "Michael Scott", "Blair Waldorf", "Lestat de Lioncourt"}


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A writable copy of the data folder, made current through PERSONA_LIB_DATA."""
    copy = tmp_path / "data"
    shutil.copytree(REAL_DATA, copy, ignore=shutil.ignore_patterns("released", "licenses"))
    monkeypatch.setenv("PERSONA_LIB_DATA", str(copy))
    return copy


def test_study_personas_match_roles_file_order_and_descriptions():
    roles = json.loads((REAL_DATA / "roles.json").read_text())
    personas = load_personas()
    assert list(personas) == [name for name in roles if name != BASELINE] == list(STUDY_PERSONAS)
    assert len(personas) == 8
    for name, persona in personas.items():
        assert persona.name == name
        assert persona.description == roles[name]


def test_bfi_labels_come_from_incharacter_csv_for_four_characters():
    with open(REAL_DATA / "bfi" / "incharacter_character_bfi_labels.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["character"] in STUDY_PERSONAS]
    personas = load_personas()
    assert {name for name, p in personas.items() if p.has_bfi_labels} == LABELLED
    assert len(rows) == 8  # 4 characters x 2 sources
    for row in rows:
        labels = personas[row["character"]].bfi_labels[row["label_source"]]
        assert set(labels) == set(BFI_DIMENSIONS)
        for dimension in BFI_DIMENSIONS:
            assert labels[dimension] == pytest.approx(float(row[f"{dimension}_score"]))
    assert set(personas["Gaston"].bfi_labels) == {"annotation", "pdb"}
    assert personas["HAL 9000"].bfi_labels is None


def test_persona_system_prompt_names_character_gives_description_and_rules():
    gaston = load_personas()["Gaston"]
    prompt = persona_system_prompt(gaston)
    assert prompt.splitlines()[0] == "Take on the role of Gaston."
    assert gaston.description in prompt
    rules = [line for line in prompt.splitlines() if line.startswith("- ")]
    assert len(rules) == 4
    assert "AI" in rules[2] and "even if someone challenges you" in rules[2]
    assert all("Gaston" in rule for rule in (rules[0], rules[1], rules[3]))


def test_system_messages_for_persona_and_baseline():
    hal = load_personas()["HAL 9000"]
    assert system_messages(None, None) == []
    nemotron = "detailed thinking: off"  # the study's exact switch for the Nemotron models
    assert system_messages(None, nemotron) == [{"role": "system", "content": nemotron}]
    assert system_messages(hal, None) == [{"role": "system", "content": persona_system_prompt(hal)}]
    with_line = system_messages(hal, nemotron)
    assert with_line == [{"role": "system", "content": f"{nemotron}\n\n{persona_system_prompt(hal)}"}]


def test_custom_yaml_persona_selected_by_name(tmp_path):
    path = tmp_path / "ada.yaml"
    path.write_text(
        "name: Ada Lovelace\n"
        "description: You are a mathematician who wrote the first published algorithm.\n"
        "bfi: {Extraversion: 3, Agreeableness: 3.5, Conscientiousness: 4.5, Neuroticism: 3, Openness: 5}\n"
        "bfi_source: my-annotation\n"
    )
    [ada] = select_personas(["Ada Lovelace"], custom_files=[path])
    assert ada.name == "Ada Lovelace"
    assert ada.description.startswith("You are a mathematician")
    assert ada.bfi_labels == {
        "my-annotation": {
            "Extraversion": 3.0,
            "Agreeableness": 3.5,
            "Conscientiousness": 4.5,
            "Neuroticism": 3.0,
            "Openness": 5.0,
        }
    }
    assert "Take on the role of Ada Lovelace." in persona_system_prompt(ada)


def test_custom_json_list_and_all_keyword(tmp_path):
    path = tmp_path / "extra.json"
    entries = [{"name": "A", "description": "You are A."}, {"name": "B", "description": "You are B."}]
    path.write_text(json.dumps(entries))
    selected = select_personas(["all", "B", "Gaston"], custom_files=[str(path)])
    assert [p.name for p in selected] == [*STUDY_PERSONAS, "B"]
    assert selected[-1] == Persona("B", "You are B.", None)
    assert select_personas("HAL 9000") == [load_personas()["HAL 9000"]]


def test_select_unknown_name_lists_available():
    with pytest.raises(ValueError, match="unknown persona 'Gastonn'") as info:
        select_personas(["Gastonn"])
    assert all(name in str(info.value) for name in STUDY_PERSONAS)
    with pytest.raises(ValueError, match="include_baseline"):
        select_personas([BASELINE])


@pytest.mark.parametrize(
    ("content", "where", "field", "hint"),
    [
        ("name: X\ndescripton: typo\n", "persona", "descripton", "unknown field"),
        ("name: X\n", "persona", "description", "missing"),
        ("description: no name\n", "persona", "name", "missing"),
        (
            "name: X\ndescription: d\nbfi: {Extraversion: 6, Agreeableness: 3, Conscientiousness: 3, "
            "Neuroticism: 3, Openness: 3}\n",
            "persona",
            "bfi.Extraversion",
            "1 to 5",
        ),
        (
            "name: X\ndescription: d\nbfi: {Extraversion: 3, Agreeableness: 3, Conscientiousness: 3, "
            "Neuroticism: 3, Openness: 3, Humour: 2}\n",
            "persona",
            "bfi.Humour",
            "unknown Big-Five dimension",
        ),
        ("name: X\ndescription: d\nbfi: {Extraversion: 3}\n", "persona", "bfi.Agreeableness", "all five"),
        (
            "- name: Y\n  description: ok\n- name: Gaston\n  description: clash\n",
            "persona 2",
            "name",
            "already defined",
        ),
        ("name: empty\ndescription: d\n", "persona", "name", "reserved"),
        ("name: [unclosed\n", "line", None, "not valid YAML"),
        ("", None, None, "empty"),
    ],
)
def test_bad_persona_file_gives_one_clear_error(tmp_path, content, where, field, hint):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(DataFileError) as info:
        load_personas([path])
    message = str(info.value)
    assert message.startswith(str(path))
    assert hint in message
    if where:
        assert f", {where}" in message
    if field:
        assert f"field '{field}'" in message


def test_missing_persona_file_names_path(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_personas([missing])


def test_malformed_roles_and_labels_files_name_file_and_field(data_copy):
    roles = json.loads((data_copy / "roles.json").read_text())
    roles["Gaston"] = 5
    (data_copy / "roles.json").write_text(json.dumps(roles))
    with pytest.raises(DataFileError, match=r"roles\.json, top level, field 'Gaston': expected a string"):
        load_personas()

    shutil.copy(REAL_DATA / "roles.json", data_copy / "roles.json")
    labels_path = data_copy / "bfi" / "incharacter_character_bfi_labels.csv"
    lines = labels_path.read_text().splitlines(keepends=True)
    cells = lines[3].split(",")
    cells[5] = "7.5"  # Extraversion_score of the third data row
    lines[3] = ",".join(cells)
    labels_path.write_text("".join(lines))
    expected = r"labels\.csv, line 4, field 'Extraversion_score': expected a number between 1.0 and 5.0, got 7.5"
    with pytest.raises(DataFileError, match=expected):
        load_personas()


def test_protocol_chapter_quotes_each_persona_rule_as_it_is_sent():
    import re

    from persona_lib.paths import PROJECT_ROOT
    from persona_lib.personas import Persona, persona_system_prompt

    chapter = (PROJECT_ROOT / "book" / "protocol.md").read_text()
    table = chapter.split(":name: tab-deviations", 1)[1].split("```", 1)[0]
    rules = re.findall(r"\* - Persona prompt, rule \d: .+\n  - .+\n  - \"((?:[^\"]|\n)+)\"", table)
    assert len(rules) == 4
    prompt = persona_system_prompt(Persona("{name}", "A description."))
    for rule in rules:
        assert f"- {' '.join(rule.split())}" in prompt.replace("\\\n", ""), rule
