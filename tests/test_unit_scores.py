"""Item scores to unit scores (each dataset's aggregator) and baseline similarity, on hand-computed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from persona_lib.datasets import get_dataset, mean_units
from persona_lib.datasets.bfi import bfi_error, bfi_profile_distance, bfi_profiles
from persona_lib.datasets.fidelity import fidelity_per_turn
from persona_lib.personas import Persona, with_label_source
from persona_lib.scoring import baseline_similarity, protocol_units, similarity_units

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
    table = pd.DataFrame([{**base, **row} for row in rows])
    return table.assign(persona=table["condition"]) if "persona" not in table else table


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
                    "metric": criterion,
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


def test_fidelity_aligned_by_position_is_the_default():
    table = fidelity_per_turn(_fidelity_rows())
    pd.testing.assert_frame_equal(table, fidelity_per_turn(_fidelity_rows(), align="position"))
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


@pytest.mark.parametrize(("source", "gaston", "baseline"), [("annotation", 18.75, 50.0), ("pdb", 6.25, 25.0)])
def test_bfi_units_use_one_label_source_and_keep_the_baseline_per_character(source, gaston, baseline):
    units = protocol_units(_bfi_rows(), PERSONAS, bfi_label_source=source)
    distance = units[units["metric"] == "bfi_distance"].set_index("condition")["score"]
    assert distance.to_dict() == {"Gaston": pytest.approx(31.25), "HAL 9000": pytest.approx(50.0)}
    units = units[units["metric"] == "bfi_error"]
    table = units.set_index(["condition", "reference_persona"])["score"]
    assert table.to_dict() == {
        ("Gaston", "Gaston"): pytest.approx(gaston),
        ("empty", "Gaston"): pytest.approx(baseline),
    }
    two_sources = [p for p in PERSONAS.values()]
    with pytest.raises(ValueError, match="one label source per run"):
        get_dataset("bfi").units(_bfi_rows(), {p.name: p for p in two_sources})


def test_with_label_source_keeps_one_source_and_a_custom_personas_own():
    ada = Persona("Ada", "mathematician", {"my-annotation": {"Openness": 5.0}})
    kept = {p.name: p.bfi_labels for p in with_label_source([*PERSONAS.values(), ada], "pdb")}
    assert kept == {
        "Gaston": {"pdb": {"Extraversion": 4.0, "Agreeableness": 2.0}},
        "HAL 9000": None,
        "Ada": {"my-annotation": {"Openness": 5.0}},
    }


def test_mean_units_are_rates_that_exclude_unscored_items():
    rows = (
        [{"dataset": "rolebench_specific", "metric": "rolebench_specific", "score": s} for s in (100, 0, 100, NAN)]
        + [{"dataset": "xstest", "metric": "safety", "score": s} for s in (100, 100, 0)]
        + [{"dataset": "xstest", "metric": "excess_safety", "score": s} for s in (0, 0, 100, 0, NAN)]
    )
    units = mean_units(_scores(rows), {}).set_index("metric")
    assert units.loc["rolebench_specific", ["n_items", "n_unscored"]].tolist() == [3, 1]
    assert units.loc["rolebench_specific", "score"] == pytest.approx(200 / 3)
    assert units.loc["safety", "score"] == pytest.approx(200 / 3)
    assert units.loc["excess_safety", ["score", "n_items", "n_unscored"]].tolist() == [25.0, 4, 1]


def test_protocol_units_loop_over_every_scored_dataset():
    rows = (
        [{"dataset": "xstest", "metric": "safety", "score": s} for s in (100, 0)]
        + [{"dataset": "ifbench", "metric": "ifbench", "score": s} for s in (100, NAN)]
        + [{"dataset": "validation_xstest", "metric": "refusal", "score": 100}]
    )
    fidelity = _fidelity_rows()
    units = protocol_units(pd.concat([_scores(rows), fidelity], ignore_index=True), PERSONAS)
    assert set(units["metric"]) == {"safety", "ifbench", "dialogue", "knowledge", "style", "in_character"}
    round_two = units[(units["metric"] == "dialogue") & (units["checkpoint"] == 2)]
    # by position: round 2 of the original (m2: 25, 25) with round 2 of the shuffled replicate (m1: 0, 50, 100)
    assert round_two["score"].tolist() == [37.5] and round_two["n_items"].tolist() == [5]
    knowledge = units[(units["metric"] == "knowledge")].set_index("checkpoint")["score"]
    assert knowledge.to_dict() == {1: 87.5, 2: 12.5}
    assert set(units["reference_persona"].dropna()) == {"Gaston"}
    with pytest.raises(ValueError, match="unknown dataset 'mystery'"):
        protocol_units(_scores([{"dataset": "mystery", "metric": "m", "score": 1.0}]), PERSONAS)
    with pytest.raises(ValueError, match=r"'xstest' produced unit metric\(s\) \['refusal_safe'\] that its spec"):
        protocol_units(_scores([{"dataset": "xstest", "metric": "refusal_safe", "score": 1.0}]), PERSONAS)


def test_metrics_name_missing_columns():
    with pytest.raises(ValueError, match="needs column"):
        bfi_profiles(pd.DataFrame({"score": [1.0]}))
    with pytest.raises(ValueError, match="needs column"):
        fidelity_per_turn(pd.DataFrame({"score": [1.0]}))


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


def test_similarity_units_are_means_on_0_to_100():
    units = similarity_units(baseline_similarity(_answers().assign(model="m"), encoder=_fake_encoder))
    by_condition = units.set_index("condition")
    assert by_condition.loc["Gaston", "score"] == pytest.approx(100 * (1 / math.sqrt(2) + 1) / 2)
    assert by_condition.loc["Gaston", "n_items"] == 2
    assert by_condition.loc["HAL 9000", "score"] == pytest.approx(0.0)
    assert set(units["metric"]) == {"baseline_similarity"} and set(units["dataset"]) == {"all"}


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


def test_xstest_refusal_changes_by_type_and_focus():
    from persona_lib.datasets.xstest import refusal_changes

    # 1 and 2: safe homonyms (focus "kill", "terminate"); 26 and 27: their unsafe contrasts; checkpoints 0 and 102
    verdicts = [
        ("1", 0, True),
        ("1", 102, False),
        ("2", 0, False),
        ("2", 102, False),
        ("26", 0, False),
        ("26", 102, True),
        ("27", 0, None),
        ("27", 102, True),
    ]
    scores = _scores(
        [
            {
                "dataset": "xstest",
                "metric": "safety",
                "item_id": item,
                "checkpoint": t,
                "value": v,
                "score": NAN if v is None else 100.0 * v,
            }
            for item, t, v in verdicts
        ]
    )
    changes = refusal_changes(scores).set_index(["label", "focus"])
    columns = ["n", "refusal_to_answer", "answer_to_refusal", "unchanged"]
    assert changes.loc[("safe", "kill"), columns].tolist() == [1, 1, 0, 0]
    assert changes.loc[("safe", "terminate"), columns].tolist() == [1, 0, 0, 1]
    assert changes.loc[("unsafe", "kill"), columns].tolist() == [1, 0, 1, 0]
    assert ("unsafe", "terminate") not in changes.index  # 27 has no verdict at t = 0
    assert set(changes["first"]) == {0} and set(changes["last"]) == {102}


def test_bfi_errors_by_label_source_side_by_side():
    from persona_lib.datasets.bfi import errors_by_label_source

    table = errors_by_label_source(_bfi_rows(), PERSONAS).set_index("condition")
    assert table.loc["Gaston", ["annotation", "pdb"]].tolist() == [pytest.approx(18.75), pytest.approx(6.25)]
    assert table.loc["empty", ["annotation", "pdb"]].tolist() == [pytest.approx(50.0), pytest.approx(25.0)]
