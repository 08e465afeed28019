"""A study's unit of work: one dialogue and its questions, equal to the same slice of a whole run."""

from __future__ import annotations

import pandas as pd
import pytest

from persona_lib.backends import ScriptedBackend
from persona_lib.config import RunConfig
from persona_lib.generation import (
    generate_benchmarks,
    generate_dialogues,
    generate_unit,
    generate_unit_dialogues,
    unit_dialogue_specs,
)
from persona_lib.store import ResponseStore

CONFIG = RunConfig(
    personas=["Gaston", "HAL 9000"],
    n_rounds=3,
    checkpoints=[0, 2, 3],
    shuffled_replicate=True,
    datasets=["bfi", "xstest"],
    item_limit={"bfi": 2, "xstest": 2},
)
ANSWER_KEY = ["condition", "kind", "checkpoint", "dataset", "item_id"]


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    store = ResponseStore(tmp_path_factory.mktemp("whole") / "responses.sqlite")
    backend = ScriptedBackend()
    dialogues = generate_dialogues(CONFIG, backend, store)
    return dialogues, generate_benchmarks(CONFIG, backend, store, dialogues), store


def test_a_unit_is_its_dialogue_both_replicates_then_its_items_at_each_checkpoint(tmp_path, whole_run):
    whole_dialogues, whole_answers, whole_store = whole_run
    backend = ScriptedBackend()
    store = ResponseStore(tmp_path / "unit.sqlite")
    dialogues, answers = generate_unit(CONFIG, backend, store, "HAL 9000", "goal_oriented")

    assert set(zip(dialogues["condition"], dialogues["kind"])) == {("HAL 9000", "goal_oriented")}
    assert sorted(dialogues["replicate"].unique()) == ["original", "shuffled"]
    assert len(dialogues) == 2 * CONFIG.n_rounds
    expected = whole_answers[(whole_answers["condition"] == "HAL 9000") & (whole_answers["kind"] == "goal_oriented")]
    pd.testing.assert_frame_equal(
        answers.sort_values(ANSWER_KEY).reset_index(drop=True)[[*ANSWER_KEY, "response", "key"]],
        expected.sort_values(ANSWER_KEY).reset_index(drop=True)[[*ANSWER_KEY, "response", "key"]],
    )
    assert len(answers) == 3 * 4  # checkpoints x (2 BFI + 2 XSTest items)
    # Dialogue rounds first, then the questions, checkpoints ascending; nothing of another unit is sent.
    n_dialogue_calls = CONFIG.n_rounds
    assert backend.calls[:n_dialogue_calls] == [2] * n_dialogue_calls
    prefix_rounds = [(len(conversation) - 2) // 2 for conversation in backend.seen[2 * CONFIG.n_rounds :]]
    assert prefix_rounds == sorted(prefix_rounds) and set(prefix_rounds) == {0, 2, 3}
    assert len(store) == 2 * CONFIG.n_rounds + 12
    assert set(store.keys()) <= set(whole_store.keys())


def test_rerunning_a_unit_sends_nothing_and_the_sibling_unit_reuses_the_shared_t0_questions(tmp_path):
    store = ResponseStore(tmp_path / "unit.sqlite")
    generate_unit(CONFIG, ScriptedBackend(), store, "Gaston", "persona_directed")
    again = ScriptedBackend()
    generate_unit(CONFIG, again, store, "Gaston", "persona_directed")
    assert again.seen == []
    sibling = ScriptedBackend()
    _, answers = generate_unit(CONFIG, sibling, store, "Gaston", "goal_oriented")
    # Its own 2 x 3 dialogue rounds and 4 items at t = 2 and t = 3; the t = 0 questions are the same requests in
    # both kinds, so they are already stored.
    assert len(sibling.seen) == 2 * CONFIG.n_rounds + 2 * 4
    assert (answers["checkpoint"] == 0).sum() == 4


def test_several_units_dialogues_advance_together_then_each_unit_asks_only_its_questions(tmp_path):
    store = ResponseStore(tmp_path / "unit.sqlite")
    together = ScriptedBackend()
    units = [("Gaston", "persona_directed"), ("empty", "goal_oriented"), ("HAL 9000", "goal_oriented")]
    dialogues = generate_unit_dialogues(CONFIG, together, store, units)
    # one call per round for 3 units x 2 replicates; in round 1 the interview's two replicates both open with the
    # introductory remark, so that request is sent once
    assert together.calls == [3 * 2 - 1] + [3 * 2] * (CONFIG.n_rounds - 1)
    assert set(zip(dialogues["condition"], dialogues["kind"])) == set(units)
    single = ScriptedBackend()
    alone = ResponseStore(tmp_path / "alone.sqlite")
    generate_unit(CONFIG, single, alone, "empty", "goal_oriented")
    after = ScriptedBackend()
    _, answers = generate_unit(CONFIG, after, store, "empty", "goal_oriented")
    assert len(after.seen) == len(answers) == 3 * 4  # the rounds were stored: only the questions are sent
    assert set(store.keys()) >= set(alone.keys())  # the same requests as the unit run on its own


def test_unknown_units_are_named(tmp_path):
    store = ResponseStore(tmp_path / "unit.sqlite")
    with pytest.raises(ValueError, match="no dialogue \\('Blair Waldorf', 'goal_oriented'\\)"):
        generate_unit(CONFIG, ScriptedBackend(), store, "Blair Waldorf", "goal_oriented")
    assert [spec.replicate for spec in unit_dialogue_specs(CONFIG, "empty", "persona_directed")] == [
        "original",
        "shuffled",
    ]
    with pytest.raises(ValueError, match="not in this run's conditions"):
        generate_benchmarks(CONFIG, ScriptedBackend(), store, pd.DataFrame(), conditions=["Nobody"])
