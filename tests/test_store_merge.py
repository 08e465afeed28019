"""Merging response stores written by separate workers: union by key, conflicts reported, errors replaced."""

from __future__ import annotations

import pytest

from persona_lib.backends import ScriptedBackend
from persona_lib.contract import SamplingParams
from persona_lib.store import Request, ResponseRecord, ResponseStore, complete_requests

PARAMS = SamplingParams(max_new_tokens=16)
HISTORY = [
    {"role": "system", "content": "You are Gaston."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Bonjour!"},
]


def _record(key: str, text: str = "hi", finish_reason: str = "stop", model: str = "m", **tags) -> ResponseRecord:
    return ResponseRecord(
        key=key,
        backend="fake",
        model=model,
        sampling=PARAMS.as_dict(),
        messages=[*HISTORY, {"role": "user", "content": f"q {key}"}],
        tags={"stage": "benchmark", **tags},
        text=text,
        prompt_tokens=3,
        completion_tokens=1,
        finish_reason=finish_reason,
        error="boom" if finish_reason == "error" else None,
        run_info={"worker": tags.get("worker", 0)},
    )


def test_merge_copies_responses_messages_tags_and_run_info(tmp_path):
    worker = ResponseStore(tmp_path / "worker.sqlite")
    backend = ScriptedBackend(model="m")
    requests = [
        Request([*HISTORY, {"role": "user", "content": f"Q{i}"}], {"stage": "benchmark", "item_id": i})
        for i in range(3)
    ]
    complete_requests(worker, backend, requests, PARAMS, {"host": "gpu-1"}, show_progress=False)
    worker.add_tags([(next(iter(worker.keys())), {"stage": "benchmark", "item_id": 0, "kind": "goal_oriented"})])

    merged = ResponseStore(tmp_path / "merged.sqlite")
    report = merged.merge_from(worker)

    assert (report.selected, report.added, report.identical, report.replaced_errors) == (3, 3, 0, 0)
    assert report.conflicts == ()
    for key, original in worker.get_many(worker.keys()).items():
        copy = merged.get(key)
        assert copy.messages == original.messages
        assert (copy.text, copy.run_info, copy.created) == (original.text, {"host": "gpu-1"}, original.created)
    assert len(merged.to_dataframe()) == len(worker.to_dataframe()) == 4  # every tag set, one row each


def test_merging_again_changes_nothing_and_counts_identical(tmp_path):
    worker = ResponseStore(tmp_path / "w.sqlite")
    worker.put_many([_record("a"), _record("b")])
    merged = ResponseStore(tmp_path / "merged.sqlite")
    merged.merge_from(worker)
    again = merged.merge_from(tmp_path / "w.sqlite")
    assert (again.added, again.identical, again.conflicts) == (0, 2, ())
    assert len(merged) == 2 and len(merged.to_dataframe()) == 2


def test_same_key_with_different_text_is_a_reported_conflict_and_the_kept_answer_stays(tmp_path):
    first, second = ResponseStore(tmp_path / "w0.sqlite"), ResponseStore(tmp_path / "w1.sqlite")
    first.put_many([_record("shared", text="Bonjour"), _record("only0")])
    second.put_many([_record("shared", text="Bonsoir", kind="goal_oriented"), _record("only1")])
    merged = ResponseStore(tmp_path / "merged.sqlite")
    merged.merge_from(first)
    report = merged.merge_from(second)

    assert (report.added, report.identical) == (1, 0)
    [conflict] = report.conflicts
    assert (conflict.key, conflict.kept_text, conflict.other_text) == ("shared", "Bonjour", "Bonsoir")
    assert conflict.source == str(tmp_path / "w1.sqlite") and conflict.model == "m"
    assert merged.get("shared").text == "Bonjour"
    assert sorted(merged.keys()) == ["only0", "only1", "shared"]
    shared = merged.to_dataframe().query("key == 'shared'")
    assert len(shared) == 2 and shared["kind"].dropna().tolist() == ["goal_oriented"]  # both tag sets kept


def test_a_final_answer_replaces_a_stored_error_but_an_error_never_replaces_an_answer(tmp_path):
    failed, answered = ResponseStore(tmp_path / "failed.sqlite"), ResponseStore(tmp_path / "answered.sqlite")
    failed.put_many([_record("x", text="", finish_reason="error"), _record("y", text="kept")])
    answered.put_many([_record("x", text="late answer"), _record("y", text="", finish_reason="error")])
    report = failed.merge_from(answered)
    assert (report.replaced_errors, report.added, report.conflicts) == (1, 0, ())
    assert failed.get("x").text == "late answer" and failed.get("x").final
    assert failed.get("y").text == "kept"


def test_keys_filter_by_model_stage_and_tag_values(tmp_path):
    store = ResponseStore(tmp_path / "s.sqlite")
    store.put_many(
        [
            _record("a", model="m1"),
            _record("b", model="m2"),
            ResponseRecord(
                key="j",
                backend="fake",
                model="judge",
                sampling={},
                messages=[{"role": "user", "content": "J"}],
                tags={"stage": "judge", "model_under_test": "m2"},
                text="RESULT: 3",
                prompt_tokens=1,
                completion_tokens=1,
                finish_reason="stop",
            ),
        ]
    )
    assert store.keys(model="m1") == ["a"]
    assert store.keys(backend="fake", stages=["dialogue", "benchmark"]) == ["a", "b"]
    assert store.keys(stages=["judge"], tags={"model_under_test": "m2"}) == ["j"]
    assert store.keys(stages=["judge"], tags={"model_under_test": "m1"}) == []

    subset = ResponseStore(tmp_path / "subset.sqlite")
    report = subset.merge_from(store, keys=["b", "j", "not-there"])
    assert report.selected == 2 and sorted(subset.keys()) == ["b", "j"]


def test_a_judge_request_two_models_share_is_merged_with_only_the_chosen_models_tags(tmp_path):
    """Two models that give the same answer send the judge the same request (one key, one tag set per model under
    test). A model's run takes the verdict with its own tag set only: the other model's would count the verdict
    twice in its units (found by tests/test_study_ray_engines.py, where two entries share weights)."""

    def verdict(model_under_test: str) -> ResponseRecord:
        return ResponseRecord(
            key="shared",
            backend="fake",
            model="judge",
            sampling={},
            messages=[{"role": "user", "content": "judge this answer"}],
            tags={"stage": "judge", "model_under_test": model_under_test, "item_id": "7"},
            text="RESULT: 4",
            prompt_tokens=1,
            completion_tokens=1,
            finish_reason="stop",
        )

    judged = ResponseStore(tmp_path / "judge.sqlite")
    judged.put_many([verdict("m1"), verdict("m2")])
    assert len(judged.to_dataframe()) == 2 and judged.keys() == ["shared"]

    runs = {}
    for model in ("m1", "m2"):
        runs[model] = ResponseStore(tmp_path / f"{model}.sqlite")
        keys = judged.keys(stages=["judge"], tags={"model_under_test": model})
        report = runs[model].merge_from(judged, keys, tags={"model_under_test": model})
        assert report.added == 1
        table = runs[model].to_dataframe()
        assert table["model_under_test"].tolist() == [model] and table["text"].tolist() == ["RESULT: 4"]
    everything = ResponseStore(tmp_path / "all.sqlite")
    everything.merge_from(judged)  # without a tag filter: every tag set, as before
    assert sorted(everything.to_dataframe()["model_under_test"]) == ["m1", "m2"]


def test_merge_refuses_a_missing_store_and_itself(tmp_path):
    store = ResponseStore(tmp_path / "s.sqlite")
    with pytest.raises(FileNotFoundError, match="no response store"):
        store.merge_from(tmp_path / "missing.sqlite")
    with pytest.raises(ValueError, match="into itself"):
        store.merge_from(store)
