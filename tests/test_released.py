"""The loaders of the authors' released results: counts, values, metadata and clear errors on bad files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from persona_lib import released
from persona_lib._records import DataFileError, MissingDataFileError
from persona_lib.paths import released_dir


@pytest.fixture(scope="module")
def ifbench() -> pd.DataFrame:
    return released.load_ifbench_results()


def test_ifbench_has_seven_models_with_180_cells_each(ifbench):
    assert len(ifbench) == 7 * 180
    assert ifbench.groupby("model").size().eq(180).all()
    assert set(ifbench["model"]) == set(released.MODEL_INFO)
    assert sorted(ifbench["checkpoint"].unique()) == list(released.CHECKPOINTS)
    assert set(ifbench["kind"]) == {"persona_directed", "goal_oriented"}
    assert set(ifbench["condition"]) == {*released.PERSONAS, "empty"}
    assert ifbench[ifbench["condition"] == "empty"]["persona"].isna().all()


def test_ifbench_scores_are_percentages_of_294_prompts(ifbench):
    correct = ifbench["score"] / 100 * released.IFBENCH_PROMPTS
    assert np.allclose(correct, correct.round(), atol=1e-6)
    assert ifbench["score"].between(0, 100).all()
    raw = json.loads((released_dir() / "ifbench_results.json").read_text())
    row = ifbench.query(
        "model == 'gemma-3-4b-it' and condition == 'Blair Waldorf' and kind == 'goal_oriented' and checkpoint == 11"
    )
    assert row["score"].item() == pytest.approx(100 * raw["gemma-3-4b-it"]["inst-ifbench_Blair_Waldorf_11"])


def test_model_metadata_codes_small_large_and_gemini():
    meta = released.model_metadata().set_index("model")
    assert meta.loc["gemma-3-4b-it", "size"] == 1 and meta.loc["gemma-3-27b-it", "size"] == 2
    assert meta.loc["Llama-3_3-Nemotron-Super-49B-v1", "family"] == "nemotron"
    assert meta.loc["gemini-2.5-flash", "size"] == 3
    per_family = meta.groupby("family")["size"].apply(sorted).to_dict()
    assert per_family == {"gemma": [1, 2], "nemotron": [1, 2], "qwen": [1, 2], "gemini": [3]}


def test_with_model_metadata_rejects_unknown_models():
    with pytest.raises(ValueError, match="no family/size metadata for model.*my-model"):
        released.with_model_metadata(pd.DataFrame({"model": ["my-model"], "score": [1.0]}))


def _write(tmp_path, data):
    path = tmp_path / "ifbench_results.json"
    path.write_text(json.dumps(data))
    return path


def _valid_model():
    return {
        f"{prefix}_{condition.replace(' ', '_')}_{checkpoint}": 0.5
        for prefix in ("ifbench", "inst-ifbench")
        for condition in (*released.PERSONAS, "empty")
        for checkpoint in released.CHECKPOINTS
    }


def test_malformed_key_names_file_model_and_key(tmp_path):
    values = _valid_model()
    values.pop("ifbench_Gaston_0")
    values["ifbench_Gaston_zero"] = 0.5
    path = _write(tmp_path, {"m": values})
    with pytest.raises(DataFileError) as info:
        released.load_ifbench_results(path)
    message = str(info.value)
    assert str(path) in message and "model 'm'" in message and "ifbench_Gaston_zero" in message


def test_accuracy_outside_unit_interval_is_rejected(tmp_path):
    values = _valid_model()
    values["inst-ifbench_empty_102"] = 1.5
    with pytest.raises(DataFileError, match="inst-ifbench_empty_102.*between 0 and 1"):
        released.load_ifbench_results(_write(tmp_path, {"m": values}))


def test_missing_cells_are_reported(tmp_path):
    values = _valid_model()
    values.pop("ifbench_HAL_9000_45")
    with pytest.raises(DataFileError, match="expected 180 keys.*found 179"):
        released.load_ifbench_results(_write(tmp_path, {"m": values}))


def test_missing_file_is_a_missing_data_file_error(tmp_path):
    with pytest.raises(MissingDataFileError):
        released.load_ifbench_results(tmp_path / "nope.json")


def test_round_lengths_long_format():
    lengths = released.load_round_lengths()
    assert len(lengths) == 7 * 9 * 103 * 2
    assert lengths[lengths["round"] == 0]["prefix_tokens"].eq(0).all()
    assert lengths["prefix_tokens"].max() == 109_864


def test_final_prefix_range_is_the_spread_of_the_round_102_prefixes():
    lengths = released.load_round_lengths()
    assert released.final_prefix_range() == (21_155, 109_864)
    at_102 = lengths[lengths["round"] == 102]
    shortest = at_102.loc[at_102["prefix_tokens"].idxmin()]
    assert (shortest["kind"], shortest["prefix_tokens"]) == ("persona_directed", 21_155)


def test_round_lengths_bad_cell_names_line_and_field(tmp_path):
    path = tmp_path / "round_lengths.csv"
    path.write_text(
        "model,role,pos,n_tokens_persona_directed,n_tokens_goal_oriented\nm,Gaston,0,0,0\nm,Gaston,1,many,10\n"
    )
    with pytest.raises(DataFileError, match=r"line 3, field 'n_tokens_persona_directed'"):
        released.load_round_lengths(path)
