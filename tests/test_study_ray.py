"""A study on a real local Ray instance with two workers: three models (the bundled model via transformers and two
scripted ones), units spread over both workers, merged and analysed; and a worker killed with SIGKILL mid-unit
(while it advances two conditions' dialogues together), after which the study completes with no answer lost and
none duplicated."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import ray  # the `ray` extra; `make test` installs it
from study_workers import assert_no_request_answered_twice, stored_rows, worker_mid_unit

from persona_lib.backends import ScriptedBackend
from persona_lib.cli import main
from persona_lib.generation import generate_benchmarks, generate_dialogues
from persona_lib.personas import select_personas
from persona_lib.run import Run
from persona_lib.scoring import score_run
from persona_lib.store import ResponseStore
from persona_lib.study import Study, run_study, study_config_from_dict, study_status, study_units
from persona_lib.study._work import judged_only

pytestmark = [pytest.mark.ray, pytest.mark.slow]

PROTOCOL = {
    "personas": ["Gaston"],
    "include_baseline": True,
    "dialogue_kinds": ["persona_directed", "goal_oriented"],
    "n_rounds": 2,
    "shuffled_replicate": True,
    "checkpoints": [0, 2],
    "datasets": ["fidelity", "ifbench", "xstest"],
    "item_limit": {"ifbench": 2, "xstest": 2},
    "generation": {"max_new_tokens": 8},
    "judging": {"max_new_tokens": 16},
}
THREE_MODELS = study_config_from_dict(
    {
        "name": "ray-test",
        "protocol": {
            **PROTOCOL,
            "shuffled_replicate": False,
        },  # the replicate is the kill test's; this one loads a model
        "models": [
            {
                "name": "smollm2",
                "family": "smol",
                "size": 1,
                "model": {
                    "backend": "transformers",
                    "model": "bundled:SmolLM2-135M-Instruct",
                    "dtype": "float32",
                    "extra": {"num_threads": 1},
                },
            },
            {
                "name": "scripted-large",
                "family": "smol",
                "size": 2,
                "model": {"backend": "scripted", "model": "s-large"},
            },
            {
                "name": "scripted-other",
                "family": "other",
                "size": 1,
                "model": {"backend": "scripted", "model": "s-other"},
            },
        ],
        "judge": {"gpus": 0, "model": {"backend": "scripted", "model": "scripted-judge"}},
    }
)
SLOW_MODELS = study_config_from_dict(
    {
        "name": "kill-test",
        "protocol": {
            **PROTOCOL,
            "n_rounds": 4,
            "checkpoints": [0, 2, 4],
            "datasets": ["bfi", "xstest"],
            "item_limit": {"bfi": 2, "xstest": 2},
        },
        "models": [
            {
                "name": name,
                "family": "f",
                "size": size,
                "model": {"backend": "scripted", "model": f"slow-{name}", "extra": {"delay_per_batch": 0.25}},
            }
            for name, size in (("one", 1), ("two", 2))
        ],
        "judge": {"gpus": 0, "model": {"backend": "scripted", "model": "scripted-judge"}},
    }
)


@pytest.fixture(autouse=True)
def _local_ray(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a local test cluster: no token written to the home folder
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield
    assert not ray.is_initialized()  # run_study shut down the instance it started


def reference_texts(config, model: str, folder: Path) -> dict[str, str]:
    """Every answer and verdict a single in-process run of a scripted model stores, by key."""
    run_config = config.run_config(model)
    store = ResponseStore(folder / f"{model}.sqlite")
    backend = ScriptedBackend(model=run_config.model.model)
    dialogues = generate_dialogues(run_config, backend, store)
    answers = generate_benchmarks(run_config, backend, store, dialogues)
    judge = ScriptedBackend(model=config.judge.model.model)
    score_run(judged_only(run_config), judge, store, answers, dialogues, select_personas(run_config.personas))
    table = store.to_dataframe().drop_duplicates("key")
    return dict(zip(table["key"], table["text"]))


def stored_texts(store: ResponseStore) -> dict[str, str]:
    table = store.to_dataframe().drop_duplicates("key")
    return dict(zip(table["key"], table["text"]))


def test_three_models_on_two_ray_workers_are_generated_judged_merged_and_analysed(tmp_path):
    folder = tmp_path / "study"
    lines: list[str] = []
    outcome = run_study(THREE_MODELS, folder, workers=2, log=lines.append)

    assert outcome.failures == [], outcome.failures
    units = study_units(THREE_MODELS)
    for phase in ("generate", "judge"):
        assert sorted(r.unit for r in outcome.results if r.phase == phase) == sorted(units)
    generated = [r for r in outcome.results if r.phase == "generate"]
    # Units spread over both workers; every model loaded once, its units all on the worker holding it.
    assert {r.worker.rsplit("-", 1)[1] for r in generated} == {"w0", "w1"}
    assert len({r.pid for r in generated}) >= 2
    assert Counter(engine for phase, engine, _ in outcome.loads if phase == "generate") == {
        "smollm2": 1,
        "scripted-large": 1,
        "scripted-other": 1,
    }
    for model in ("smollm2", "scripted-large", "scripted-other"):
        assert len({(r.worker, r.pid) for r in generated if r.unit.model == model}) == 1
    assert {r.worker for r in outcome.results if r.phase == "judge"} <= {"w0", "w1"}
    assert_no_request_answered_twice(outcome.study.store_paths("generate"))

    # Merged: one run folder per model, the single-run layout, nothing missing, no conflict.
    merge = outcome.merge
    assert merge.conflicts.empty and (merge.missing.drop(columns="model") == 0).all().all()
    for model in ("scripted-large", "scripted-other"):
        run = Run.open(folder / "runs" / model)
        assert stored_texts(run.store) == reference_texts(THREE_MODELS, model, tmp_path)
    smol = Run.open(folder / "runs" / "smollm2")
    answers = smol.answers()
    assert len(answers) == 2 * 2 * 2 * 4  # conditions x kinds x checkpoints x items
    assert answers["finish_reason"].isin(["stop", "length"]).all() and answers["response"].str.len().gt(0).all()
    assert len(smol.dialogues()) == 2 * 2 * 2  # conditions x kinds x rounds
    assert {"dialogue", "ifbench", "safety", "excess_safety"} <= set(smol.units()["metric"])
    assert set(study_status(outcome.study)["state"]) == {"done"}

    # Analysed through the CLI (the study notebook), from the study folder alone.
    assert main(["study", "analyse", "--study", str(folder)]) == 0
    executed = folder / "notebooks" / "study.ipynb"
    assert "model(s) with scores" in executed.read_text()
    study = Study.open(folder)
    assert set(study.table("units")["model"]) == {"smollm2", "scripted-large", "scripted-other"}
    tables = study.table("tables_5_6")
    assert len(tables) == 11 and tables.loc[tables["dataset"] == "IFBench", "n"].notna().all()
    for name in ("tables_5_6_forest", "curves_ifbench_ifbench", "bars_length_cost", "grid_model_metric"):
        assert study.figure(name).with_suffix(".png").is_file(), name

    # Running the study again redoes nothing: no worker starts, no engine loads.
    again = run_study(THREE_MODELS, folder, workers=2, log=lambda line: None)
    assert again.results == [] and again.loads == [] and again.failures == []
    assert {phase: len(skipped) for phase, skipped in again.skipped.items()} == {"generate": 12, "judge": 12}


def test_a_worker_killed_mid_unit_is_restarted_and_the_study_loses_and_duplicates_nothing(tmp_path):
    folder = tmp_path / "study"
    outcomes = []
    thread = threading.Thread(
        target=lambda: outcomes.append(
            run_study(SLOW_MODELS, folder, workers=2, conditions_per_call=2, log=lambda line: None)
        )
    )
    thread.start()
    victim = None
    deadline = time.monotonic() + 240
    while victim is None and thread.is_alive() and time.monotonic() < deadline:
        found = worker_mid_unit(folder / "stores")
        if found and stored_rows(folder / "stores" / f"generate-{found[1]}.sqlite") >= 3:
            victim = found
        else:
            time.sleep(0.05)
    assert victim is not None, "no worker was caught in the middle of a unit"
    pid, worker = victim
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=600)
    assert not thread.is_alive()
    [outcome] = outcomes

    assert outcome.failures == []
    units = study_units(SLOW_MODELS)
    for phase in ("generate", "judge"):
        assert sorted(r.unit for r in outcome.results if r.phase == phase) == sorted(units)
    # The killed worker was restarted under the same name (same store) and finished the unit it was killed in.
    restarted = {r.pid for r in outcome.results if r.worker == worker} - {pid}
    assert restarted, f"no unit finished on {worker} after its process {pid} was killed"
    # 0 lost: every answer and verdict of a single run of each model, with the same text; 0 duplicated: no key was
    # answered by two workers, and each merged run holds each key once.
    assert outcome.merge.conflicts.empty and (outcome.merge.missing.drop(columns="model") == 0).all().all()
    assert_no_request_answered_twice(outcome.study.store_paths("generate"))
    assert_no_request_answered_twice(outcome.study.store_paths("judge"), by_model_under_test=True)
    for model in ("one", "two"):
        store = Run.open(folder / "runs" / model).store
        reference = reference_texts(SLOW_MODELS, model, tmp_path)
        assert stored_texts(store) == reference and len(store) == len(reference)
    assert set(study_status(outcome.study)["state"]) == {"done"}
