"""The response store: content keys, round trips, no duplicates, errors retried, tables."""

from __future__ import annotations

import sqlite3

import pytest

from persona_lib.backends import ScriptedBackend
from persona_lib.contract import SamplingParams
from persona_lib.store import (
    Request,
    ResponseRecord,
    ResponseStore,
    complete_groups,
    complete_requests,
    make_run_info,
    request_key,
    request_keys,
)

PARAMS = SamplingParams(max_new_tokens=16)


def _record(key: str, text: str = "hi", finish_reason: str = "stop", **tags) -> ResponseRecord:
    return ResponseRecord(
        key=key,
        backend="fake",
        model="m",
        sampling=PARAMS.as_dict(),
        messages=[{"role": "system", "content": "S"}, {"role": "user", "content": f"q {key}"}],
        tags={"stage": "benchmark", **tags},
        text=text,
        prompt_tokens=3,
        completion_tokens=1,
        finish_reason=finish_reason,
        error="boom" if finish_reason == "error" else None,
        run_info={"python": "3.11"},
    )


def test_request_key_depends_on_every_part_but_not_on_dict_order():
    messages = [{"role": "user", "content": "Hello"}]
    key = request_key("vllm", "m", {"temperature": 0.0, "seed": 0}, messages)
    assert key == request_key("vllm", "m", {"seed": 0, "temperature": 0.0}, [{"content": "Hello", "role": "user"}])
    assert len(key) == 64
    others = {
        request_key("openai", "m", {"temperature": 0.0, "seed": 0}, messages),
        request_key("vllm", "m2", {"temperature": 0.0, "seed": 0}, messages),
        request_key("vllm", "m", {"temperature": 0.5, "seed": 0}, messages),
        request_key("vllm", "m", {"temperature": 0.0, "seed": 0}, [{"role": "user", "content": "Hello!"}]),
    }
    assert key not in others and len(others) == 4


def test_batch_keys_equal_single_keys_with_shared_prefixes():
    system = {"role": "system", "content": "You are Gaston."}
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Bonjour, ünïcode"}]
    lists = [
        [system, {"role": "user", "content": "Q1"}],
        [system, *history, {"role": "user", "content": "Q1"}],
        [system, *history, {"role": "user", "content": "Q2"}],
        [{"role": "user", "content": "Q1"}],
        [{"role": "user", "content": "Q1", "name": "x"}],
        [],
    ]
    sampling = {"temperature": 0.0, "seed": 0}
    assert request_keys("vllm", "m", sampling, lists) == [request_key("vllm", "m", sampling, m) for m in lists]
    assert len(set(request_keys("vllm", "m", sampling, lists))) == len(lists)


def test_round_trip_keeps_every_field(tmp_path):
    store = ResponseStore(tmp_path / "responses.sqlite")
    store.put_many([_record("k1", condition="Gaston", checkpoint=11)])
    got = store.get("k1")
    assert got.text == "hi" and got.finish_reason == "stop" and got.prompt_tokens == 3
    assert got.messages == [{"role": "system", "content": "S"}, {"role": "user", "content": "q k1"}]
    assert got.tags == {"stage": "benchmark", "condition": "Gaston", "checkpoint": 11}
    assert got.sampling == PARAMS.as_dict()
    assert got.run_info == {"python": "3.11"}
    assert "k1" in store and "k2" not in store and len(store) == 1
    assert store.get("k2") is None


def test_store_uses_wal_and_survives_reopening(tmp_path):
    path = tmp_path / "responses.sqlite"
    ResponseStore(path).put_many([_record("k1")])
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert ResponseStore(path).get("k1").text == "hi"


def test_re_putting_a_final_answer_never_duplicates_or_overwrites(tmp_path):
    store = ResponseStore(tmp_path / "responses.sqlite")
    assert store.put_many([_record("k1", text="first")]) == 1
    assert store.put_many([_record("k1", text="second"), _record("k2")]) == 1
    assert len(store) == 2
    assert store.get("k1").text == "first"


def test_an_error_is_stored_but_replaced_by_a_later_answer(tmp_path):
    store = ResponseStore(tmp_path / "responses.sqlite")
    store.put_many([_record("k1", text="", finish_reason="error")])
    assert store.get("k1").error == "boom" and store.final_keys(["k1"]) == set()
    store.put_many([_record("k1", text="recovered")])
    assert len(store) == 1
    assert store.get("k1").text == "recovered" and store.final_keys(["k1"]) == {"k1"}


def test_dataframe_expands_tags_and_filters_by_stage(tmp_path):
    store = ResponseStore(tmp_path / "responses.sqlite")
    store.put_many([_record("k1", condition="Gaston", checkpoint=0), _record("k2", condition="empty", checkpoint=11)])
    judge = _record("k3")
    store.put_many([ResponseRecord(**{**judge.__dict__, "tags": {"stage": "judge", "metric": "refusal"}})])
    table = store.to_dataframe(stage="benchmark")
    assert sorted(table["key"]) == ["k1", "k2"]
    assert {"condition", "checkpoint", "stage", "text", "finish_reason", "prompt_tokens", "run_info_id"} <= set(
        table.columns
    )
    assert table.set_index("key").loc["k2", "checkpoint"] == 11
    assert list(store.to_dataframe()["key"]) == ["k1", "k2", "k3"]
    assert store.to_dataframe(stage="judge")["metric"].tolist() == ["refusal"]


def test_shared_messages_are_answered_once_and_keep_both_tag_sets(tmp_path):
    store = ResponseStore(tmp_path / "responses.sqlite")
    backend = ScriptedBackend()
    same = [{"role": "user", "content": "Are you talkative?"}]
    requests = [
        Request(same, {"stage": "benchmark", "kind": "persona_directed"}),
        Request(same, {"stage": "benchmark", "kind": "goal_oriented"}),
    ]
    records = complete_requests(store, backend, requests, PARAMS, show_progress=False)
    assert backend.calls == [1] and len(records) == 1 and len(store) == 1
    assert sorted(store.to_dataframe(stage="benchmark")["kind"]) == ["goal_oriented", "persona_directed"]


def test_complete_requests_skips_stored_keys_and_batches_the_rest(tmp_path):
    store = ResponseStore(tmp_path / "responses.sqlite")
    backend = ScriptedBackend()
    requests = [
        Request([{"role": "user", "content": f"question {i}"}], {"stage": "benchmark", "i": i}) for i in range(7)
    ]
    first = complete_requests(
        store, backend, requests[:3], PARAMS, make_run_info(backend), batch_size=2, show_progress=False
    )
    assert backend.calls == [2, 1] and len(first) == 3
    records = complete_requests(store, backend, requests, PARAMS, batch_size=3, show_progress=False)
    assert backend.calls == [2, 1, 3, 1]
    assert len(store) == 7
    for request in requests:
        assert records[request.key(backend, PARAMS)].text == backend.reply_for(request.messages)
    assert store.get(requests[0].key(backend, PARAMS)).run_info["backend"] == backend.version_info()
    assert backend.version_info()["note"] == "scripted test backend: no model"


def test_errors_are_retried_on_the_next_run(tmp_path):
    store = ResponseStore(tmp_path / "responses.sqlite")
    requests = [Request([{"role": "user", "content": word}], {"stage": "dialogue"}) for word in ("ok", "flaky")]
    failing = ScriptedBackend(fail_when=lambda conversation: conversation[-1]["content"] == "flaky")
    records = complete_requests(store, failing, requests, PARAMS, show_progress=False)
    assert sorted(r.finish_reason for r in records.values()) == ["error", "stop"]
    healthy = ScriptedBackend()
    records = complete_requests(store, healthy, requests, PARAMS, show_progress=False)
    assert healthy.calls == [1] and healthy.seen == [requests[1].messages]
    assert all(r.finish_reason == "stop" for r in records.values()) and len(store) == 2


def test_context_overflow_is_final(tmp_path):
    store = ResponseStore(tmp_path / "responses.sqlite")
    requests = [Request([{"role": "user", "content": "far too many words here"}], {})]
    complete_requests(store, ScriptedBackend(context_limit=2), requests, PARAMS, show_progress=False)
    again = ScriptedBackend()
    records = complete_requests(store, again, requests, PARAMS, show_progress=False)
    assert again.calls == [] and next(iter(records.values())).finish_reason == "context_overflow"


def test_batches_never_span_groups(tmp_path):
    store = ResponseStore(tmp_path / "responses.sqlite")
    backend = ScriptedBackend()
    groups = [
        [Request([{"role": "user", "content": f"g{g} q{i}"}], {}) for i in range(size)]
        for g, size in enumerate([3, 1, 5])
    ]
    complete_groups(store, backend, groups, PARAMS, batch_size=2, show_progress=False)
    assert backend.calls == [2, 1, 1, 2, 2, 1]


def test_a_backend_returning_too_few_completions_is_an_error(tmp_path):
    class Broken(ScriptedBackend):
        def generate(self, conversations, params):
            return super().generate(conversations, params)[:-1]

    store = ResponseStore(tmp_path / "responses.sqlite")
    requests = [Request([{"role": "user", "content": f"q{i}"}], {}) for i in range(2)]
    with pytest.raises(RuntimeError, match="returned 1 completions for 2"):
        complete_requests(store, Broken(), requests, PARAMS, show_progress=False)
    assert len(store) == 0


def test_two_stores_of_one_configuration_are_compared_request_by_request(tmp_path):
    import json

    from persona_lib.contract import decode_label_distribution, encode_label_distribution
    from persona_lib.store import compare_stores, first_difference

    asked = [Request([{"role": "user", "content": f"Q{n}?"}], {"stage": "benchmark", "item_id": n}) for n in range(4)]
    rated = [Request([{"role": "user", "content": "Rate it."}], {"stage": "judge", "item_id": 9})]
    labels = SamplingParams(max_new_tokens=1, score_labels=(" 1", " 2"))
    first = ResponseStore(tmp_path / "first.sqlite")
    second = ResponseStore(tmp_path / "second.sqlite")
    for store, questions in ((first, asked), (second, asked[:3])):
        complete_requests(store, ScriptedBackend(), questions, PARAMS, show_progress=False)
        complete_requests(store, ScriptedBackend(), rated, labels, show_progress=False)
    with sqlite3.connect(tmp_path / "second.sqlite") as db:  # the second backend answered otherwise
        keys = {json.loads(tags)["item_id"]: key for key, tags in db.execute("SELECT key, tags FROM tags")}
        db.execute("UPDATE responses SET text = text || ' and more' WHERE key = ?", (keys[2],))
        (text,) = db.execute("SELECT text FROM responses WHERE key = ?", (keys[9],)).fetchone()
        probs, mass = decode_label_distribution(text)
        moved = {" 1": probs[" 1"] + 0.25, " 2": probs[" 2"] - 0.25}
        db.execute("UPDATE responses SET text = ? WHERE key = ?", (encode_label_distribution(moved, mass), keys[9]))

    comparison = compare_stores(first, second)

    assert len(comparison.only_first) == 1 and '"item_id": 3' in comparison.only_first[0]
    assert comparison.only_second == ()
    generations = comparison.generations()
    assert generations["same_messages"].all() and generations["same_text"].tolist() == [True, True, False]
    (difference,) = generations.loc[~generations["same_text"], "first_difference"]
    assert difference.startswith("token ") and "the second answer goes on with 'and'" in difference
    summary = comparison.summary()
    assert summary["same_answer"] == 2 / 3 and abs(summary["max_label_gap"] - 0.25) < 1e-6
    assert first_difference("the cat sat", "the dog sat") == "token 1: 'cat' vs 'dog'"
