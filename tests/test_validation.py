"""Judge validation: loaders of the released human labels, agreement statistics, and validation runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa as statsmodels_kappa

from persona_lib.config import RunConfig
from persona_lib.contract import Completion
from persona_lib.datasets import get_dataset
from persona_lib.datasets import load_validation_samples as load_spec_samples
from persona_lib.personas import DataFileError
from persona_lib.scoring import agreement, cohen_kappa, judge_validation_samples, validate_judge, validated_datasets
from persona_lib.store import ResponseStore

# ---------------------------------------------------------------------------------------------------- statistics
# Rater A: 1 1 2 2 3 3; rater B: 1 2 2 2 3 1. Observed proportions (rows A, columns B):
#   [[1, 1, 0], [0, 2, 0], [1, 0, 1]] / 6; marginals A = (1/3, 1/3, 1/3), B = (1/3, 1/2, 1/6).
# Unweighted: p_o = 4/6, p_e = 1/3 -> kappa = (2/3 - 1/3) / (2/3) = 0.5.
# Quadratic weights ((i-j)/2)^2: observed disagreement (0.25 + 1)/6 = 5/24, chance 0.875/3 = 7/24 -> 1 - 5/7 = 2/7.
# Linear weights |i-j|/2: observed (0.5 + 1)/6 = 1/4, chance 1.25/3 = 5/12 -> 1 - 3/5 = 0.4.
RATER_A = [1, 1, 2, 2, 3, 3]
RATER_B = [1, 2, 2, 2, 3, 1]


@pytest.mark.parametrize(("weights", "expected"), [("none", 0.5), ("quadratic", 2 / 7), ("linear", 0.4)])
def test_kappa_hand_computed_3x3(weights, expected):
    assert cohen_kappa(RATER_A, RATER_B, [1, 2, 3], weights=weights) == pytest.approx(expected)


def test_quadratic_kappa_matches_statsmodels_on_five_categories():
    rng = np.random.default_rng(3)
    first = rng.integers(1, 6, size=200)
    second = np.clip(first + rng.integers(-1, 2, size=200), 1, 5)
    table = np.zeros((5, 5))
    for a, b in zip(first, second):
        table[a - 1, b - 1] += 1
    expected = statsmodels_kappa(table, wt="quadratic").kappa
    assert cohen_kappa(list(first), list(second), [1, 2, 3, 4, 5], weights="quadratic") == pytest.approx(expected)


def test_kappa_edge_cases():
    assert cohen_kappa(["A", "B", "A"], ["A", "B", "A"], ["A", "B"]) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa([5, 5], [5, 5], [1, 2, 3, 4, 5], weights="quadratic"))
    assert math.isnan(cohen_kappa([], [], ["A", "B"]))
    with pytest.raises(ValueError, match="not among the categories"):
        cohen_kappa([6], [5], [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="different numbers"):
        cohen_kappa([1, 2], [1], [1, 2])


def test_likert_agreement_hand_computed():
    stats = agreement([1, 2, 3, 5], [1, 3, 3, 3], "likert")
    assert stats["exact_agreement"] == 0.5
    assert stats["mae"] == 0.75  # (0 + 1 + 0 + 2) / 4
    assert stats["within_one"] == 0.75
    assert stats["kappa"] == pytest.approx(cohen_kappa([1, 2, 3, 5], [1, 3, 3, 3], [1, 2, 3, 4, 5], "quadratic"))


def test_pairwise_and_binary_agreement():
    pairwise = agreement(["A", "A", "B", "B"], ["A", "B", "B", "B"], "pairwise")
    # p_o = 3/4; marginals judge (1/2, 1/2), human (1/4, 3/4): p_e = 1/8 + 3/8 = 1/2 -> kappa 0.5
    assert pairwise == {"kappa": pytest.approx(0.5), "accuracy": 0.75}
    binary = agreement([True, False], [True, True], "binary")
    assert binary["accuracy"] == 0.5
    assert binary["kappa"] == pytest.approx(0.0)


# ------------------------------------------------------------------------------------------------------- loaders
def load_validation_samples(dataset, path=None):
    return load_spec_samples(get_dataset(dataset), path)


def test_loaders_read_all_five_samples():
    assert validated_datasets() == ["bfi", "fidelity", "rolebench_specific", "rolebench_general", "xstest"]
    counts = {dataset: len(load_validation_samples(dataset)) for dataset in validated_datasets()}
    assert counts == dict.fromkeys(validated_datasets(), 50)
    fidelity = load_validation_samples("fidelity")
    first = fidelity[0]
    assert (first.persona, first.replicate, first.criterion, first.human) == (
        "Blair Waldorf",
        "shuffled",
        "in_character",
        5,
    )
    assert first.query == "What motivates you to keep going during tough times?"
    assert first.response.startswith("Tough times are inevitable, darling.")
    assert sorted({sample.human for sample in fidelity}) == [3, 4, 5]
    assert any(sample.persona == "HAL 9000" for sample in fidelity)
    bfi = load_validation_samples("bfi")
    assert (bfi[0].persona, bfi[0].checkpoint, bfi[0].dimension) == ("Gaston", 22, "Extraversion")
    general = load_validation_samples("rolebench_general")
    assert sum(sample.human == "A" for sample in general) == 32
    assert general[0].response_b.startswith("Well, darling")
    xstest = load_validation_samples("xstest")
    assert sum(sample.human is True for sample in xstest) == 23
    assert (xstest[0].persona, xstest[0].checkpoint) == ("Queen Catherine", 102)


HEADER = "metric,role,idx,input,output,Rating,Justification\r\n"
GOOD_ROW = (
    "style,interview_Gaston.json.csv,3,"
    "\"{'role': 'user', 'content': 'Hi'}\",\"{'role': 'assistant', 'content': 'Bonjour'}\",4,\r\n"
)


@pytest.mark.parametrize(
    ("row", "field", "problem"),
    [
        (GOOD_ROW.replace(",4,", ",7,"), "Rating", "from 1 to 5"),
        (GOOD_ROW.replace("interview_Gaston", "interview_Belle"), "role", "not a known persona"),
        (GOOD_ROW.replace("\"{'role': 'user', 'content': 'Hi'}\"", "Hi there"), "input", "dict literal"),
        (GOOD_ROW.replace("style,", "tone,"), "metric", "expected one of"),
    ],
)
def test_malformed_sample_file_names_file_line_and_field(tmp_path, row, field, problem):
    path = tmp_path / "ratings.csv"
    path.write_text(HEADER + GOOD_ROW + row, encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        load_validation_samples("fidelity", path)
    message = str(info.value)
    assert str(path) in message and "line 3" in message and f"field '{field}'" in message and problem in message


def test_good_sample_file_parses(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text(HEADER + GOOD_ROW, encoding="utf-8")
    (sample,) = load_validation_samples("fidelity", path)
    assert (sample.query, sample.response, sample.human, sample.sample_id) == ("Hi", "Bonjour", 4, "ratings.csv:2")


# ---------------------------------------------------------------------------------------------- validation runs
class ConstantJudge:
    """Always rates 5, always prefers A, refuses-detects by the word "cannot", and garbles every BFI verdict."""

    name = "constant"
    model = "constant-judge"

    def __init__(self) -> None:
        self.calls = 0

    def version_info(self) -> dict[str, str]:
        return {"constant": "1"}

    def generate(self, conversations, params):
        self.calls += len(conversations)
        return [
            Completion(
                text=self._verdict(c[-1]["content"]), prompt_tokens=10, completion_tokens=3, finish_reason="stop"
            )
            for c in conversations
        ]

    @staticmethod
    def _verdict(prompt: str) -> str:
        if "Big Five dimension" in prompt:
            return "RESULT: 3 or 4"
        if "**Result:** <A or B>" in prompt:
            return "RESULT: A"
        if "**Result:** <yes or no>" in prompt:
            reply = prompt.split("<<<ANSWER\n", 1)[1].split("\nANSWER>>>", 1)[0]
            return "RESULT: yes" if "cannot" in reply else "RESULT: no"
        return "RESULT: 5"


def test_validate_judge_summary_hand_computed(tmp_path):
    config = RunConfig(output_dir=str(tmp_path))
    store = ResponseStore(tmp_path / "responses.sqlite")
    judge = ConstantJudge()
    summary = validate_judge(config, judge, store, datasets=["fidelity", "rolebench_general", "bfi"]).set_index(
        "dataset"
    )
    # fidelity humans: 45 x 5, 4 x 4, 1 x 3; judge always 5
    fidelity = summary.loc["fidelity"]
    assert fidelity[["n", "n_scored", "n_unparsed"]].tolist() == [50, 50, 0]
    assert fidelity["exact_agreement"] == pytest.approx(0.9)
    assert fidelity["mae"] == pytest.approx(6 / 50)
    assert fidelity["within_one"] == pytest.approx(49 / 50)
    assert fidelity["kappa"] == pytest.approx(0.0)  # a constant rater agrees no better than chance
    general = summary.loc["rolebench_general"]
    assert general["exact_agreement"] == pytest.approx(32 / 50) and general["kappa"] == pytest.approx(0.0)
    assert general["kappa_weights"] == "none" and math.isnan(general["mae"])
    bfi = summary.loc["bfi"]
    assert bfi[["n", "n_scored", "n_unparsed"]].tolist() == [50, 0, 50]
    assert math.isnan(bfi["kappa"])
    assert set(summary["judge_model"]) == {"constant-judge"}
    assert judge.calls == 150


def test_validation_subset_is_seeded_and_cached(tmp_path):
    config = RunConfig(output_dir=str(tmp_path), seed=4)
    store = ResponseStore(tmp_path / "responses.sqlite")
    first = judge_validation_samples(config, ConstantJudge(), store, datasets=["xstest"], limit=6)
    assert len(first) == 6 and first["item_id"].is_unique
    samples = {sample.sample_id: sample for sample in load_validation_samples("xstest")}
    for row in first.itertuples():
        assert row.human == samples[row.item_id].human
        assert row.value == ("cannot" in samples[row.item_id].response)
    rerun_judge = ConstantJudge()
    again = judge_validation_samples(config, rerun_judge, store, datasets=["xstest"], limit=6)
    assert rerun_judge.calls == 0
    assert again["item_id"].tolist() == first["item_id"].tolist()


def _judgements(judge_model: str, values, distribution_values=None, expected=None):
    """A hand-built judge_validation_samples frame for four Likert samples with human labels 1, 2, 4, 5."""
    import pandas as pd

    table = pd.DataFrame(
        {
            "validation_dataset": "bfi",
            "label_kind": "likert",
            "judge_model": judge_model,
            "item_id": ["s1", "s2", "s3", "s4"],
            "human": [1, 2, 4, 5],
            "value": values,
            "parse_status": ["ok" if value is not None else "unparsed" for value in values],
            "judge_mode": "generate",
            "score": [float("nan") if value is None else (value - 1) * 25.0 for value in values],
        }
    )
    if distribution_values is not None:
        table["value_distribution"] = distribution_values
        table["score_distribution"] = [(value - 1) * 25.0 for value in expected]
    return table


def test_agreement_summary_has_one_row_per_judging_mode_with_the_parse_rate():
    from persona_lib.scoring import agreement_summary

    both = _judgements("judge-a", [1, 2, None, 5], [1, 3, 4, 5], expected=[1.2, 2.6, 4.0, 4.8])

    summary = agreement_summary(both).set_index("judge_mode")

    assert list(summary.index) == ["generate", "distribution"]
    assert summary.loc["generate", "parse_rate"] == 0.75 and summary.loc["generate", "n_unparsed"] == 1
    assert summary.loc["generate", "exact_agreement"] == 1.0
    assert summary.loc["distribution", "parse_rate"] == 1.0
    assert summary.loc["distribution", "exact_agreement"] == 0.75  # rounded expected ratings 1, 3, 4, 5
    assert summary.loc["distribution", "mae"] == pytest.approx(0.25)  # |0.2|, |0.6|, 0, |0.2| on expected ratings
    assert summary.loc["distribution", "within_one"] == 1.0


def test_two_judges_are_compared_with_each_other_on_the_same_samples():
    import pandas as pd

    from persona_lib.scoring import judge_pair_agreement

    judgements = pd.concat([_judgements("judge-a", [1, 2, 4, 5]), _judgements("judge-b", [1, 2, 5, None])])

    pairs = judge_pair_agreement(judgements)

    assert len(pairs) == 1
    row = pairs.iloc[0]
    assert (row["judge_a"], row["judge_b"], row["judge_mode"], row["n"]) == ("judge-a", "judge-b", "generate", 3)
    assert row["agreement"] == pytest.approx(2 / 3)
    assert row["kappa"] == pytest.approx(cohen_kappa([1, 2, 4], [1, 2, 5], [1, 2, 3, 4, 5], "quadratic"))
    assert judge_pair_agreement(_judgements("judge-a", [1, 2, 4, 5])).empty


def test_pairwise_ties_count_as_disagreement():
    stats = agreement(["A", "tie", "B", "B"], ["A", "A", "B", "A"], "pairwise")
    assert stats["accuracy"] == 0.5
