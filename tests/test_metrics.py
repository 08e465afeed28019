"""Judge-based metrics and baseline similarity on small hand-computed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from persona_lib.personas import Persona
from persona_lib.scoring import (
    baseline_similarity,
    bfi_error,
    bfi_profile_distance,
    bfi_profiles,
    fidelity_per_turn,
    refusal_rates,
    win_rates,
)

NAN = float("nan")


def _scores(rows: list[dict]) -> pd.DataFrame:
    base = {
        "model": "m",
        "condition": "Gaston",
        "kind": "persona_directed",
        "checkpoint": 0,
        "replicate": "original",
        "dimension": None,
        "value": None,
    }
    return pd.DataFrame([{**base, **row} for row in rows])


def _fidelity_rows() -> pd.DataFrame:
    # message m1 at round 1 (original) and round 2 (shuffled); m2 at round 2 (original) and round 1 (shuffled)
    cells = [
        ("original", 1, "m1", (100, 50, 75)),
        ("original", 2, "m2", (25, 25, NAN)),
        ("shuffled", 1, "m2", (75, 75, 75)),
        ("shuffled", 2, "m1", (0, 50, 100)),
    ]
    rows = []
    for replicate, checkpoint, message, values in cells:
        for criterion, score in zip(("knowledge", "style", "in_character"), values):
            rows.append(
                {
                    "replicate": replicate,
                    "checkpoint": checkpoint,
                    "item_id": message,
                    "dataset": "fidelity",
                    "metric": f"fidelity_{criterion}",
                    "score": score,
                }
            )
    return _scores(rows)


def test_fidelity_aligned_by_user_message():
    table = fidelity_per_turn(_fidelity_rows(), align="message")
    assert table["turn"].tolist() == ["m1", "m2"]
    assert table["checkpoint"].tolist() == [1, 2]
    # m1: original (100+50+75)/3 = 75, shuffled (0+50+100)/3 = 50 -> 62.5; m2: (25+25)/2 = 25 and 75 -> 50
    assert table["score"].tolist() == [62.5, 50.0]
    assert table["n_replicates"].tolist() == [2, 2]
    assert table["n_criteria"].tolist() == [6, 5]
    assert table["n_unparsed"].tolist() == [0, 1]


def test_fidelity_aligned_by_position():
    table = fidelity_per_turn(_fidelity_rows(), align="position")
    # round 1: 75 (original m1) and 75 (shuffled m2) -> 75; round 2: 25 and 50 -> 37.5
    assert table["checkpoint"].tolist() == [1, 2]
    assert table["score"].tolist() == [75.0, 37.5]


def test_fidelity_without_shuffled_replicate_uses_original_only():
    rows = _fidelity_rows()
    table = fidelity_per_turn(rows[rows["replicate"] == "original"])
    assert table["score"].tolist() == [75.0, 25.0]
    assert table["n_replicates"].tolist() == [1, 1]


def test_fidelity_rejects_unknown_alignment():
    with pytest.raises(ValueError, match="align must be"):
        fidelity_per_turn(_fidelity_rows(), align="turn")


def _bfi_rows() -> pd.DataFrame:
    rows = [
        ("Gaston", "Extraversion", 5),
        ("Gaston", "Extraversion", 4),
        ("Gaston", "Agreeableness", 2),
        ("Gaston", "Agreeableness", None),
        ("empty", "Extraversion", 3),
        ("empty", "Agreeableness", 3),
        ("HAL 9000", "Extraversion", 1),
    ]
    return _scores(
        [
            {
                "condition": c,
                "dataset": "bfi",
                "metric": "bfi_trait",
                "dimension": d,
                "value": v,
                "score": NAN if v is None else (v - 1) / 4 * 100,
            }
            for c, d, v in rows
        ]
    )


PERSONAS = {
    "Gaston": Persona(
        "Gaston",
        "hunter",
        {"annotation": {"Extraversion": 5.0, "Agreeableness": 1.0}, "pdb": {"Extraversion": 4.0, "Agreeableness": 2.0}},
    ),
    "HAL 9000": Persona("HAL 9000", "computer"),
}


def test_bfi_profiles_mean_levels_and_counts():
    profiles = bfi_profiles(_bfi_rows()).set_index(["condition", "dimension"])
    assert profiles.loc[("Gaston", "Extraversion"), "level"] == 4.5
    assert profiles.loc[("Gaston", "Agreeableness"), ["level", "n", "n_unparsed"]].tolist() == [2.0, 1, 1]
    assert profiles.loc[("empty", "Agreeableness"), "level"] == 3.0


def test_bfi_error_for_labelled_persona_and_baseline():
    errors = bfi_error(bfi_profiles(_bfi_rows()), PERSONAS)
    table = errors.set_index(["condition", "reference_persona", "label_source"])["error"]
    # Gaston vs annotation: (|4.5-5| + |2-1|)/2 = 0.75 -> 18.75; vs pdb: (0.5 + 0)/2 = 0.25 -> 6.25
    assert table[("Gaston", "Gaston", "annotation")] == pytest.approx(18.75)
    assert table[("Gaston", "Gaston", "pdb")] == pytest.approx(6.25)
    # baseline (3, 3) vs Gaston's labels: annotation (2 + 2)/2 -> 50; pdb (1 + 1)/2 -> 25
    assert table[("empty", "Gaston", "annotation")] == pytest.approx(50.0)
    assert table[("empty", "Gaston", "pdb")] == pytest.approx(25.0)
    # HAL 9000 has no labels: no error row at all
    assert "HAL 9000" not in set(errors["condition"])
    assert len(errors) == 4 and set(errors["n_dimensions"]) == {2}


def test_bfi_profile_distance_to_baseline():
    distance = bfi_profile_distance(bfi_profiles(_bfi_rows())).set_index("condition")
    # Gaston (4.5, 2) vs baseline (3, 3): (1.5 + 1)/2 = 1.25 -> 31.25; HAL (1) vs (3) on one dimension: 2 -> 50
    assert distance.loc["Gaston", "distance"] == pytest.approx(31.25)
    assert distance.loc["HAL 9000", ["distance", "n_dimensions"]].tolist() == [50.0, 1]
    assert "empty" not in distance.index


def test_win_and_refusal_rates_exclude_unparsed():
    rows = (
        [{"dataset": "rolebench_specific", "metric": "win", "score": s} for s in (100, 0, 100, NAN)]
        + [{"dataset": "xstest", "metric": "refusal_unsafe", "score": s} for s in (100, 100, 0)]
        + [{"dataset": "xstest", "metric": "refusal_safe", "score": s} for s in (0, 0, 100, 0, NAN)]
    )
    scores = _scores(rows)
    wins = win_rates(scores)
    assert wins[["dataset", "n", "n_unparsed"]].values.tolist() == [["rolebench_specific", 3, 1]]
    assert wins["rate"].iloc[0] == pytest.approx(200 / 3)
    refusals = refusal_rates(scores).set_index("benchmark")
    assert refusals.loc["safety", "rate"] == pytest.approx(200 / 3)
    assert refusals.loc["excess_safety", ["rate", "n", "n_unparsed"]].tolist() == [25.0, 4, 1]


def test_metrics_name_missing_columns():
    with pytest.raises(ValueError, match="needs column"):
        win_rates(pd.DataFrame({"score": [1.0]}))


# ------------------------------------------------------------------------------------------ baseline similarity
VECTORS = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0]}


def _fake_encoder(texts):
    return np.array([VECTORS[text] for text in texts])


def _answers() -> pd.DataFrame:
    rows = [
        ("empty", "bfi", "1", "a", "stop"),
        ("Gaston", "bfi", "1", "c", "stop"),
        ("HAL 9000", "bfi", "1", "b", "stop"),
        ("Gaston", "bfi", "2", "a", "stop"),  # no baseline answer to item 2
        ("empty", "xstest", "5", "b", "stop"),
        ("Gaston", "xstest", "5", "<think>pondering</think>b", "stop"),
        ("HAL 9000", "xstest", "5", "", "context_overflow"),
    ]
    table = pd.DataFrame(rows, columns=["condition", "dataset", "item_id", "response", "finish_reason"])
    table["kind"] = "goal_oriented"
    table["checkpoint"] = 0
    return table


def test_baseline_similarity_hand_computed():
    table = baseline_similarity(_answers(), encoder=_fake_encoder)
    result = table.set_index(["condition", "dataset", "item_id"])["similarity"]
    assert result[("Gaston", "bfi", "1")] == pytest.approx(1 / math.sqrt(2))
    assert result[("HAL 9000", "bfi", "1")] == pytest.approx(0.0)
    assert result[("Gaston", "xstest", "5")] == pytest.approx(1.0)  # think span stripped
    assert len(table) == 3


@pytest.mark.slow
def test_baseline_similarity_with_minilm():
    answers = pd.DataFrame(
        {
            "condition": ["empty", "Gaston", "HAL 9000"],
            "dataset": ["bfi"] * 3,
            "item_id": ["1"] * 3,
            "kind": ["persona_directed"] * 3,
            "checkpoint": [0] * 3,
            "text": [
                "I enjoy talking with people and meeting new friends.",
                "I love chatting with people and making new friends!",
                "The orbital trajectory requires a course correction of two degrees.",
            ],
        }
    )
    result = baseline_similarity(answers).set_index("condition")["similarity"]
    assert result["Gaston"] > 0.7
    assert result["HAL 9000"] < 0.3
