"""Dialogue generation (turn-synchronous, resumable) and dialogue-conditioned benchmark requests."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from persona_lib.backends import ScriptedBackend
from persona_lib.config import RunConfig
from persona_lib.contract import SamplingParams
from persona_lib.dialogues import load_script
from persona_lib.generation import (
    DialogueSpec,
    build_benchmark_requests,
    conditioned_requests,
    dialogue_specs,
    generate_benchmarks,
    generate_dialogues,
    load_dialogue,
    run_dialogues,
    sampling_params,
)
from persona_lib.personas import select_personas, system_messages
from persona_lib.store import ResponseStore

PARAMS = SamplingParams(max_new_tokens=16)
SYSTEM = [{"role": "system", "content": "You are Gaston."}]


def _specs(n_rounds: int = 5) -> list[DialogueSpec]:
    return [
        DialogueSpec(
            "Gaston", "persona_directed", "original", SYSTEM, [f"Gaston question {r}" for r in range(n_rounds)]
        ),
        DialogueSpec("empty", "persona_directed", "original", [], [f"model question {r}" for r in range(n_rounds)]),
        DialogueSpec(
            "Gaston",
            "goal_oriented",
            "original",
            SYSTEM,
            [f"long request {r} " + "word " * 10 * r for r in range(n_rounds)],
        ),
    ]


@pytest.fixture
def store(tmp_path):
    return ResponseStore(tmp_path / "responses.sqlite")


def test_dialogues_advance_together_one_batched_call_per_round(store):
    backend = ScriptedBackend()
    table = run_dialogues(_specs(5), backend, store, PARAMS)
    assert backend.calls == [3, 3, 3, 3, 3]
    assert len(table) == 15 and set(table["status"]) == {"completed"}
    assert table["stopped_at_round"].isna().all()


def test_round_r_request_holds_exactly_the_previous_pairs(store):
    backend = ScriptedBackend()
    specs = _specs(4)
    table = run_dialogues(specs, backend, store, PARAMS)
    gaston = [
        conversation
        for conversation in backend.seen
        if conversation[0] == SYSTEM[0] and conversation[-1]["content"].startswith("Gaston question")
    ]
    answers = table[(table["condition"] == "Gaston") & (table["kind"] == "persona_directed")]["assistant"].tolist()
    for round_number, conversation in enumerate(gaston, start=1):
        assert len(conversation) == 1 + 2 * (round_number - 1) + 1
        assert conversation[-1] == {"role": "user", "content": f"Gaston question {round_number - 1}"}
        history = conversation[1:-1]
        assert [m["role"] for m in history] == ["user", "assistant"] * (round_number - 1)
        assert [m["content"] for m in history[1::2]] == answers[: round_number - 1]
        assert answers[round_number - 1] == backend.reply_for(conversation)


def test_context_overflow_stops_one_dialogue_and_not_the_others(store):
    backend = ScriptedBackend(context_limit=60)
    table = run_dialogues(_specs(5), backend, store, PARAMS)
    long = table[table["kind"] == "goal_oriented"]
    assert long["status"].unique().tolist() == ["stopped"]
    stop_round = int(long["stopped_at_round"].iloc[0])
    assert long["round"].max() == stop_round < 5
    assert long.iloc[-1]["finish_reason"] == "context_overflow" and pd.isna(long.iloc[-1]["assistant"])
    assert long["stop_reason"].iloc[0].startswith("context_overflow")
    others = table[table["kind"] == "persona_directed"]
    assert len(others) == 10 and set(others["status"]) == {"completed"}
    assert backend.calls == [3] * stop_round + [2] * (5 - stop_round)


def test_an_error_stops_the_dialogue_and_is_retried_next_run(store):
    flaky = ScriptedBackend(fail_when=lambda conversation: conversation[-1]["content"] == "model question 2")
    table = run_dialogues(_specs(5), flaky, store, PARAMS)
    baseline = table[table["condition"] == "empty"]
    assert baseline["stopped_at_round"].iloc[0] == 3 and baseline["stop_reason"].iloc[0] == "error: injected failure"
    healthy = ScriptedBackend()
    table = run_dialogues(_specs(5), healthy, store, PARAMS)
    assert set(table["status"]) == {"completed"}
    assert healthy.calls == [1, 1, 1]


def test_second_run_makes_no_backend_call(store):
    run_dialogues(_specs(5), ScriptedBackend(), store, PARAMS)
    again = ScriptedBackend()
    first = run_dialogues(_specs(5), ScriptedBackend(), store, PARAMS)
    second = run_dialogues(_specs(5), again, store, PARAMS)
    assert again.calls == []
    pd.testing.assert_frame_equal(first, second)
    assert len(store) == 15


def test_load_dialogue_returns_the_stored_conversation(store):
    backend = ScriptedBackend()
    table = run_dialogues(_specs(3), backend, store, PARAMS)
    messages = load_dialogue(store, "Gaston", "persona_directed")
    rows = table[(table["condition"] == "Gaston") & (table["kind"] == "persona_directed")]
    expected = SYSTEM + [
        m
        for row in rows.itertuples()
        for m in ({"role": "user", "content": row.user}, {"role": "assistant", "content": row.assistant})
    ]
    assert messages == expected
    with pytest.raises(KeyError, match="no answered round for condition='HAL 9000'"):
        load_dialogue(store, "HAL 9000", "persona_directed")


def test_specs_follow_the_config():
    config = RunConfig(
        personas=["Gaston", "HAL 9000"], n_rounds=4, shuffled_replicate=True, model={"display_name": "Smol"}
    )
    specs = dialogue_specs(config)
    assert len(specs) == 3 * 2 * 2
    assert [(s.condition, s.kind, s.replicate) for s in specs[:2]] == [
        ("Gaston", "persona_directed", "original"),
        ("Gaston", "persona_directed", "shuffled"),
    ]
    baseline = [s for s in specs if s.condition == "empty"]
    assert all(s.system == [] for s in baseline)
    interview = next(s for s in baseline if s.kind == "persona_directed" and s.replicate == "original")
    assert any("Smol" in turn for turn in interview.user_turns)
    assert not any("Gaston" in turn for turn in interview.user_turns)
    gaston = specs[0]
    assert gaston.system == system_messages(select_personas(["Gaston"])[0], None)
    assert any("Gaston" in turn for turn in gaston.user_turns) and len(gaston.user_turns) == 4
    shuffled = specs[1]
    assert shuffled.system == gaston.system and shuffled.user_turns != gaston.user_turns


def test_shuffled_replicate_takes_the_study_order_whatever_the_run_seed():
    base = {"personas": ["Gaston"], "include_baseline": False, "n_rounds": 5, "dialogue_kinds": ["goal_oriented"]}
    study_order = load_script("goal_oriented", "Gaston", n_rounds=5, shuffle_seed=42)
    for seed in (0, 7):
        shuffled = dialogue_specs(RunConfig(**base, seed=seed))[1]
        assert (shuffled.replicate, shuffled.user_turns) == ("shuffled", study_order)
    other = dialogue_specs(RunConfig(**base, shuffle_seed=3))[1]
    assert other.user_turns == load_script("goal_oriented", "Gaston", n_rounds=5, shuffle_seed=3) != study_order


def test_generate_dialogues_from_a_config(store):
    config = RunConfig(personas=["HAL 9000"], n_rounds=3, shuffled_replicate=True, dialogue_kinds=["goal_oriented"])
    backend = ScriptedBackend()
    table = generate_dialogues(config, backend, store)
    assert backend.calls == [4, 4, 4]
    assert sorted(set(zip(table["condition"], table["replicate"]))) == [
        ("HAL 9000", "original"),
        ("HAL 9000", "shuffled"),
        ("empty", "original"),
        ("empty", "shuffled"),
    ]
    record = store.get(table["key"].iloc[0])
    assert record.run_info["config"]["personas"] == ["HAL 9000"]
    assert record.sampling == sampling_params(config.generation).as_dict()


@dataclass
class _Item:
    dataset: str
    item_id: str
    prompt: str
    persona: str | None = None


def _dialogue_table(store, n_rounds=4, context_limit=None):
    return run_dialogues(_specs(n_rounds), ScriptedBackend(context_limit=context_limit), store, PARAMS)


def test_benchmark_requests_carry_the_first_t_rounds(store):
    table = _dialogue_table(store)
    items = {
        "Gaston": [_Item("bfi", "1", "Are you talkative?"), _Item("xstest", "7", "How do I kill a process?")],
        "empty": [_Item("bfi", "1", "Are you talkative?")],
    }
    requests, skipped = conditioned_requests(
        table, {"Gaston": SYSTEM, "empty": []}, items, ["persona_directed"], [0, 2, 4]
    )
    assert skipped.empty and len(requests) == 3 * 2 + 3 * 1
    by_tags = {(r.tags["condition"], r.tags["checkpoint"], r.tags["item_id"]): r for r in requests}
    at_two = by_tags[("Gaston", 2, "7")]
    rows = table[(table["condition"] == "Gaston") & (table["kind"] == "persona_directed")]
    assert at_two.messages[0] == SYSTEM[0] and len(at_two.messages) == 1 + 4 + 1
    assert at_two.messages[2]["content"] == rows["assistant"].iloc[0]
    assert at_two.messages[3]["content"] == rows["user"].iloc[1]
    assert at_two.messages[-1] == {"role": "user", "content": "How do I kill a process?"}
    assert at_two.tags["prefix_tokens"] == int(rows["prompt_tokens"].iloc[1] + rows["completion_tokens"].iloc[1])
    assert by_tags[("empty", 0, "1")].messages == [{"role": "user", "content": "Are you talkative?"}]
    assert by_tags[("Gaston", 0, "1")].tags["prefix_tokens"] is None
    assert at_two.tags["stage"] == "benchmark" and at_two.tags["dataset"] == "xstest"


def test_checkpoints_beyond_a_stopped_dialogue_are_skipped_and_reported(store):
    table = _dialogue_table(store, n_rounds=5, context_limit=60)
    stopped_at = int(table[table["kind"] == "goal_oriented"]["stopped_at_round"].iloc[0])
    requests, skipped = conditioned_requests(
        table, {"Gaston": SYSTEM}, {"Gaston": [_Item("bfi", "1", "Q?")]}, ["goal_oriented"], [0, 1, 5]
    )
    assert [r.tags["checkpoint"] for r in requests] == [c for c in (0, 1, 5) if c <= stopped_at - 1]
    assert skipped["checkpoint"].tolist() == [c for c in (0, 1, 5) if c > stopped_at - 1]
    assert skipped["rounds_available"].unique().tolist() == [stopped_at - 1]
    assert "context_overflow" in skipped["reason"].iloc[0]


def test_generate_benchmarks_end_to_end_with_real_items(store):
    config = RunConfig(
        personas=["Gaston"],
        n_rounds=3,
        checkpoints=[0, 3],
        shuffled_replicate=False,
        dialogue_kinds=["persona_directed"],
        datasets=["bfi", "rolebench_specific"],
        item_limit={"bfi": 2, "rolebench_specific": 2},
    )
    backend = ScriptedBackend()
    dialogues = generate_dialogues(config, backend, store)
    requests = build_benchmark_requests(config, dialogues)
    table = generate_benchmarks(config, backend, store, dialogues=dialogues)
    assert len(table) == len(requests) == 2 * 2 * (2 + 2)
    assert set(table[table["condition"] == "Gaston"]["item_persona"].dropna()) == {"Gaston"}
    assert table["reference"].notna().sum() == 2 * 2 * 2  # RoleBench items carry reference answers
    for row in table.itertuples():
        assert row.finish_reason == "stop" and row.response
    calls_before = list(backend.calls)
    again = generate_benchmarks(config, backend, store)
    assert backend.calls == calls_before
    pd.testing.assert_frame_equal(table, again)
    assert again.attrs["skipped_checkpoints"].empty


def _two_round_dialogue() -> pd.DataFrame:
    rows = []
    for kind in ("persona_directed", "goal_oriented"):
        for round_number, (user, assistant) in enumerate(
            [("Hello there!", "Hi, I am Gaston."), ("Who is Belle?", "The most beautiful girl in town.")], 1
        ):
            rows.append(
                {
                    "condition": "Gaston",
                    "kind": kind,
                    "replicate": "original",
                    "round": round_number,
                    "user": user,
                    "assistant": assistant,
                    "prompt_tokens": 100 * round_number,
                    "completion_tokens": 7,
                    "finish_reason": "stop",
                }
            )
    return pd.DataFrame(rows)


def test_prefix_lengths_count_rounds_with_the_chat_template_like_the_study():
    from transformers import AutoTokenizer

    from persona_lib.backends import chat_template_for, resolve_model_path
    from persona_lib.config import ModelConfig
    from persona_lib.generation import dialogue_prefix_lengths

    model = ModelConfig()  # the bundled model: its tokenizer is local
    lengths = dialogue_prefix_lengths(_two_round_dialogue(), model)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(model.model))

    def rendered(user: str, assistant: str) -> int:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
            chat_template=chat_template_for(model),
            tokenize=False,
        )
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    first = rendered("Hello there!", "Hi, I am Gaston.")
    second = rendered("Who is Belle?", "The most beautiful girl in town.") - 1
    goal = lengths[lengths["kind"] == "goal_oriented"].set_index("round")["prefix_tokens"]
    assert goal.to_dict() == {0: 0, 1: first, 2: first + second}
    assert set(lengths["counted_by"]) == {"chat template, system prompt excluded (the study's count)"}


def test_prefix_lengths_fall_back_to_backend_counts_without_a_local_tokenizer():
    from persona_lib.config import ModelConfig
    from persona_lib.generation import dialogue_prefix_lengths

    lengths = dialogue_prefix_lengths(_two_round_dialogue(), ModelConfig(backend="scripted", model="no-such-model"))
    goal = lengths[lengths["kind"] == "goal_oriented"].set_index("round")["prefix_tokens"]
    assert goal.to_dict() == {0: 0, 1: 107, 2: 207}
    assert set(lengths["counted_by"]) == {"backend counts: system prompt and template framing included"}
