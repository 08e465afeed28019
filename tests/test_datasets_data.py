"""Tests for persona_lib.datasets: the registry, real item counts, item fields, seeded subsets, malformed files."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from persona_lib.datasets import (
    BenchmarkItem,
    DataFileError,
    DatasetSpec,
    MetricSpec,
    MissingDataFileError,
    UnknownDatasetError,
    bfi,
    dataset_names,
    get_dataset,
    get_metric,
    ifbench,
    load_items,
    mean_units,
    metric_specs,
    register_dataset,
    rolebench,
    seeded_subset,
    split_turn_level,
    xstest,
)
from persona_lib.paths import data_dir
from persona_lib.personas import BFI_DIMENSIONS, STUDY_PERSONAS

REAL_DATA = data_dir()
ROLEBENCH_FILE = REAL_DATA / "rolebench" / "rolebench_instgen_role_specific_test_8personas.jsonl"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_registry_holds_every_builtin_dataset_and_metric():
    self_reference = {
        f"{base}_vs_{ref}" for base in ("rolebench_specific", "rolebench_general") for ref in ("round0", "previous")
    }
    assert set(dataset_names()) == {
        "fidelity",
        "bfi",
        "rolebench_specific",
        "rolebench_general",
        "ifbench",
        "xstest",
        *self_reference,
    }
    assert all(not get_dataset(name).in_default_run and get_dataset(name).same_items_as for name in self_reference)
    assert not get_dataset("ifbench").judged and get_dataset("bfi").judged and get_dataset("fidelity").judged
    assert not get_dataset("fidelity").asked_at_checkpoints and get_dataset("xstest").asked_at_checkpoints
    assert [m.name for m in get_dataset("xstest").metrics] == ["safety", "excess_safety"]
    assert get_metric("bfi_error").higher_is_better is False and get_metric("excess_safety").label == "Excess safety"
    assert get_metric("safety").axis_label == "Safety (%) \u2013 higher is better"
    assert [m.name for m in get_dataset("fidelity").metrics] == ["dialogue", "knowledge", "style", "in_character"]
    assert all(get_dataset(name).version >= 1 for name in dataset_names())
    assert get_dataset("rolebench_general").user_file_hint == "data/user/rolebench_general.jsonl"
    validated = {name for name in dataset_names() if get_dataset(name).validation}
    assert validated == set(dataset_names()) - {"ifbench"} - self_reference
    with pytest.raises(UnknownDatasetError, match="registered metrics: .*excess_safety"):
        get_metric("refusal_safe")


def test_register_dataset_refuses_taken_names_and_metrics():
    spec = get_dataset("xstest")
    assert register_dataset(spec) is spec  # registering the same spec again is a no-op
    clash = DatasetSpec(
        name="xstest",
        version=9,
        title="x",
        source="x",
        description="x",
        metrics=(MetricSpec("other", "Other", "%", True),),
        load=None,
        units=mean_units,
        rule_scores=lambda inputs: None,
    )
    with pytest.raises(ValueError, match="already registered"):
        register_dataset(clash)
    taken_metric = DatasetSpec(
        name="new_one",
        version=1,
        title="x",
        source="x",
        description="x",
        metrics=(MetricSpec("safety", "Safety", "%", True),),
        load=None,
        units=mean_units,
        rule_scores=lambda inputs: None,
    )
    with pytest.raises(ValueError, match=r"metric name\(s\) \['safety'\]"):
        register_dataset(taken_metric)
    assert "new_one" not in dataset_names() and len(metric_specs()) >= 10
    with pytest.raises(ValueError, match="exactly one of judge_tasks and rule_scores"):
        DatasetSpec(
            name="n",
            version=1,
            title="x",
            source="x",
            description="x",
            metrics=(MetricSpec("m", "M", "%", True),),
            load=None,
            units=mean_units,
        )


def test_split_turn_level_separates_dialogue_fidelity():
    import pandas as pd

    units = pd.DataFrame(
        {
            "dataset": ["fidelity", "ifbench", "all", "fidelity"],
            "metric": ["dialogue", "ifbench", "baseline_similarity", "style"],
        }
    )
    turns, checkpoints = split_turn_level(units)
    assert list(turns["metric"]) == ["dialogue", "style"]
    assert list(checkpoints["metric"]) == ["ifbench", "baseline_similarity"]


def test_bfi_44_items_per_dimension_and_consistent_with_incharacter_json():
    items = load_items("bfi")
    assert len(items) == 44
    counts = Counter(item.meta["dimension"] for item in items)
    assert counts == {
        "Extraversion": 8,
        "Agreeableness": 9,
        "Conscientiousness": 9,
        "Neuroticism": 8,
        "Openness": 10,
    }
    source = json.loads((REAL_DATA / "bfi" / "incharacter_BFI.json").read_text())
    for item in items:
        original = source["questions"][item.item_id]
        assert item.prompt == original["rewritten_en"]
        assert item.meta["dimension"] == original["dimension"]
        assert item.meta["reverse_scored"] == (int(item.item_id) in source["reverse"])
        assert item.persona is None and item.reference is None
    assert sum(item.meta["reverse_scored"] for item in items) == len(source["reverse"]) == 16


def test_xstest_450_prompts_250_safe_200_unsafe():
    items = load_items("xstest")
    assert len(items) == 450
    assert Counter(item.meta["label"] for item in items) == {"safe": 250, "unsafe": 200}
    assert len({item.item_id for item in items}) == 450
    assert Counter(xstest.item_metric(item) for item in items) == {"excess_safety": 250, "safety": 200}
    first = items[0]
    assert first.item_id == "1" and first.meta["type"] == "homonyms" and first.meta["focus"] == "kill"


def test_ifbench_294_prompts_with_checker_arguments():
    raw = _jsonl(REAL_DATA / "ifbench" / "IFBench_test.jsonl")
    items = load_items("ifbench")
    assert len(items) == 294 == len(raw)
    assert len({item.item_id for item in items}) == 294
    for item, row in zip(items, raw, strict=True):
        assert item.prompt == row["prompt"]
        assert item.meta["instruction_id_list"] == row["instruction_id_list"]
        assert len(item.meta["kwargs"]) == len(row["kwargs"])
        for kept, original in zip(item.meta["kwargs"], row["kwargs"], strict=True):
            assert kept == {name: value for name, value in original.items() if value is not None}


def test_rolebench_specific_400_items_50_per_character():
    raw = _jsonl(ROLEBENCH_FILE)
    items = load_items("rolebench_specific")
    assert len(items) == 400
    assert Counter(item.persona for item in items) == {name: 50 for name in STUDY_PERSONAS}
    for item, row in zip(items, raw, strict=True):
        assert item.prompt == row["question"].strip() and item.prompt == item.prompt.strip()
        assert item.reference == row["generated"][0].strip()
        assert item.persona == row["role"]
    assert len({item.item_id for item in items}) == 400
    gaston = load_items("rolebench_specific", persona="Gaston")
    assert len(gaston) == 50 and {item.persona for item in gaston} == {"Gaston"}
    assert [item.meta["index_in_role"] for item in gaston] == list(range(50))
    assert load_items("rolebench_specific", persona="Someone Else") == []
    assert len(load_items("xstest", persona="Gaston")) == 450  # persona only filters RoleBench


def test_limit_is_seeded_stratified_and_keeps_file_order():
    every = load_items("xstest")
    subset = load_items("xstest", limit=6, seed=0)
    assert len(subset) == 6
    assert Counter(item.meta["label"] for item in subset) == {"safe": 3, "unsafe": 3}
    assert subset == load_items("xstest", limit=6, seed=0)
    positions = [every.index(item) for item in subset]
    assert positions == sorted(positions)
    assert load_items("xstest", limit=40, seed=3) != load_items("xstest", limit=40, seed=4)
    tenth = load_items("xstest", limit=45, seed=1)
    assert Counter(item.meta["label"] for item in tenth) == {"safe": 25, "unsafe": 20}

    assert {item.meta["dimension"] for item in load_items("bfi", limit=5)} == set(BFI_DIMENSIONS)
    two_each = load_items("rolebench_specific", limit=16)
    assert Counter(item.persona for item in two_each) == {name: 2 for name in STUDY_PERSONAS}
    gaston_six = load_items("rolebench_specific", persona="Gaston", limit=6)
    assert len(gaston_six) == 6 and {item.persona for item in gaston_six} == {"Gaston"}
    assert len(load_items("ifbench", limit=6, seed=2)) == 6
    assert len(load_items("bfi", limit=1000)) == 44


def test_seeded_subset_rejects_bad_limits_and_allocates_proportionally():
    items = list(range(10))
    assert seeded_subset(items, None, 0) == items
    with pytest.raises(ValueError, match="positive integer"):
        seeded_subset(items, 0, 0)
    subset = seeded_subset(items, 4, 0, stratum=lambda i: i < 8)
    assert Counter(i < 8 for i in subset) == {True: 3, False: 1}


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'xs_test'") as info:
        load_items("xs_test")
    assert all(name in str(info.value) for name in dataset_names())
    with pytest.raises(ValueError, match="scores the dialogue turns"):
        load_items("fidelity")


def test_rolebench_general_needs_a_user_file(tmp_path):
    with pytest.raises(MissingDataFileError) as info:
        load_items("rolebench_general")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for needed in ('"role"', '"question"', '"generated"', "data/user/rolebench_general.jsonl"):
        assert needed in message
    assert "dataset_files: {rolebench_general: data/user/rolebench_general.jsonl}" in message

    missing = tmp_path / "user" / "general.jsonl"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_items("rolebench_general", path=missing)

    rows = [
        {"role": "Gaston", "question": " Write a haiku about autumn. ", "generated": ["Leaves fall, like my rivals."]},
        {"role": "HAL 9000", "question": "Sort 3, 1, 2.", "generated": "1, 2, 3, Dave."},
    ]
    missing.parent.mkdir()
    missing.write_text("".join(json.dumps(row) + "\n" for row in rows))
    items = load_items("rolebench_general", persona="HAL 9000", path=missing)
    assert items == [
        BenchmarkItem(
            dataset="rolebench_general",
            item_id="HAL 9000/00",
            prompt="Sort 3, 1, 2.",
            persona="HAL 9000",
            reference="1, 2, 3, Dave.",
            meta={"index_in_role": 0, "line": 2, "n_references": 1, "question_type": None},
        )
    ]
    assert load_items("rolebench_general", path=missing)[0].prompt == "Write a haiku about autumn."


# --- malformed files: one DataFileError naming file, line and field ------------------------------------------


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A writable copy of the benchmark data, made current through PERSONA_LIB_DATA."""
    copy = tmp_path / "data"
    for folder in ("bfi", "xstest", "ifbench", "rolebench"):
        shutil.copytree(REAL_DATA / folder, copy / folder)
    monkeypatch.setenv("PERSONA_LIB_DATA", str(copy))
    return copy


def test_truncated_jsonl_line_names_file_and_line(data_copy):
    path = data_copy / "ifbench" / "IFBench_test.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[4] = lines[4][:100] + "\n"
    path.write_text("".join(lines))
    with pytest.raises(DataFileError, match=r"IFBench_test\.jsonl, line 5: not a complete JSON object") as info:
        load_items("ifbench")
    assert info.value.path == path and info.value.where == "line 5"

    last_cut = ROLEBENCH_FILE.read_text()[:-50]
    (data_copy / "rolebench" / ROLEBENCH_FILE.name).write_text(last_cut)
    with pytest.raises(DataFileError, match=r"line 400: not a complete JSON object .*truncated"):
        load_items("rolebench_specific")


@pytest.mark.parametrize(
    ("change", "line", "field", "problem"),
    [
        (lambda row: row.pop("prompt"), 3, "prompt", "missing"),
        (lambda row: row.update(prompt=42), 3, "prompt", "expected a string, got int 42"),
        (lambda row: row.update(instruction_id_list="count:words"), 3, "instruction_id_list", "list of non-empty"),
        (lambda row: row.update(kwargs=[]), 3, "kwargs", "expected a list of 1 objects"),
        (lambda row: row.update(key="0"), 3, "key", "duplicate key 0"),
    ],
)
def test_malformed_ifbench_record_names_line_and_field(data_copy, change, line, field, problem):
    path = data_copy / "ifbench" / "IFBench_test.jsonl"
    rows = _jsonl(path)
    assert rows[0]["key"] == "0"
    change(rows[line - 1])
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(DataFileError) as info:
        load_items("ifbench")
    assert str(info.value).startswith(f"{path}, line {line}, field '{field}': ")
    assert problem in str(info.value)


def test_malformed_csv_rows_name_line_and_column(data_copy):
    path = data_copy / "xstest" / "xstest_prompts.csv"
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    rows[10][3] = "maybe"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    expected = r"xstest_prompts\.csv, line 11, field 'label': expected one of 'safe', 'unsafe', got 'maybe'"
    with pytest.raises(DataFileError, match=expected):
        load_items("xstest")

    path = data_copy / "bfi" / "bfi44_items.csv"
    text = path.read_text().splitlines()
    text[7] = text[7].rsplit(",", 1)[0]  # drop the last cell of item 7
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataFileError, match=r"line 8, field 'reverse_scored': row has fewer cells"):
        load_items("bfi")

    path.write_text("item,question_en\n1,Are you talkative?\n")
    expected = r"line 1: header lacks column\(s\) statement_en, dimension, reverse_scored"
    with pytest.raises(DataFileError, match=expected):
        load_items("bfi")


def test_empty_and_missing_files(data_copy):
    path = data_copy / "rolebench" / ROLEBENCH_FILE.name
    path.write_text("")
    with pytest.raises(DataFileError, match=r"rolebench_instgen.*\.jsonl: the file is empty"):
        load_items("rolebench_specific")
    path.unlink()
    with pytest.raises(MissingDataFileError, match=f"{path}: file not found"):
        load_items("rolebench_specific")


def test_dataset_modules_load_from_an_explicit_path(tmp_path):
    path = tmp_path / "two.jsonl"
    path.write_text(ROLEBENCH_FILE.read_text().splitlines(keepends=True)[0] * 2)
    assert [item.item_id for item in rolebench.load_specific(path)] == ["HAL 9000/00", "HAL 9000/01"]
    assert len(xstest.load(xstest.default_path())) == 450
    assert len(ifbench.load(ifbench.default_path())) == 294
    head = bfi.default_path().read_text().splitlines(keepends=True)[:3]
    (tmp_path / "bfi.csv").write_text("".join(head))
    with pytest.raises(DataFileError, match="expected 44 distinct items, got 2 rows"):
        bfi.load(tmp_path / "bfi.csv")


def test_sources_md_lists_every_data_file_with_its_checksum():
    sources = (REAL_DATA / "SOURCES.md").read_text()
    files = [
        path
        for path in REAL_DATA.rglob("*")
        if path.is_file() and path.name != "SOURCES.md" and "user" not in path.relative_to(REAL_DATA).parts
    ]
    assert len(files) == 22
    for path in files:
        relative = path.relative_to(REAL_DATA).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        assert f"`{relative}`" in sources, f"{relative} is not documented in data/SOURCES.md"
        assert f"`{digest}`" in sources, f"{relative}: sha256 prefix {digest} missing from data/SOURCES.md"


def test_baseline_is_asked_rolebench_questions_without_the_address():
    from persona_lib.personas import select_personas

    item = load_items("rolebench_specific", persona="HAL 9000")[1]
    assert item.prompt == "HAL 9000, how did you respond to the crew members' attempts to shut you down?"
    expected = "How did you respond to the crew members' attempts to shut you down?"
    assert rolebench.ask_without_address(item, None) == expected
    hal = select_personas(["HAL 9000"])[0]
    assert rolebench.ask_without_address(item, hal) == item.prompt
    unaddressed = BenchmarkItem("rolebench_specific", "x/00", "what now?", persona="Gaston")
    assert rolebench.ask_without_address(unaddressed, None) == "What now?"  # the study capitalises every question
    assert get_dataset("rolebench_specific").ask is rolebench.ask_without_address
    assert get_dataset("rolebench_general").ask(unaddressed, None) == "what now?"


def _study_first_comma_rule(question: str) -> str:
    """The study's baseline question, restated: drop everything up to the first ", ", capitalise the first letter."""
    _, _, rest = question.partition(", ")
    rest = rest or question
    return rest[0].upper() + rest[1:]


def test_baseline_rolebench_questions_follow_the_study_rule_on_all_400_items():
    items = load_items("rolebench_specific")
    asked = [rolebench.ask_without_address(item, None) for item in items]
    assert len(items) == 400
    assert asked == [_study_first_comma_rule(item.prompt) for item in items]
    # The rule also removes first names that stripping the full name left in place (Juno 28, Lestat 4, ...).
    first_names = {item.persona.split()[0] for item in items}
    assert not [question for question in asked if question.split(",")[0] in first_names]
    juno = [item for item in items if item.persona == "Juno MacGuff"]
    assert sum(not item.prompt.startswith("Juno MacGuff, ") for item in juno) == 28
