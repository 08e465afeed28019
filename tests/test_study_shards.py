"""A study as the shards of a job array (no Ray): every unit once, merged into per-model runs, nothing redone,
conflicts reported, and what is done read back from the stores alone."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from persona_lib.backends import ScriptedBackend
from persona_lib.cli import main
from persona_lib.generation import generate_benchmarks, generate_dialogues
from persona_lib.personas import select_personas
from persona_lib.run import Run
from persona_lib.scoring import score_run
from persona_lib.store import ResponseStore
from persona_lib.study import (
    NOT_STORED,
    ReplayBackend,
    ReplayStore,
    Study,
    merge_study,
    run_study,
    status_summary,
    study_config_from_dict,
    study_status,
    study_units,
)
from persona_lib.study._work import judged_only

STUDY = {
    "name": "shards",
    "protocol": {
        "personas": ["Gaston", "HAL 9000"],
        "include_baseline": True,
        "n_rounds": 3,
        "checkpoints": [0, 3],
        "shuffled_replicate": True,
        "datasets": ["fidelity", "bfi", "xstest"],
        "item_limit": {"bfi": 2, "xstest": 2},
        "generation": {"max_new_tokens": 16},
        "judging": {"max_new_tokens": 16},
    },
    "models": [
        {"name": "alpha", "family": "f", "size": 1, "model": {"backend": "scripted", "model": "scripted-alpha"}},
        {"name": "beta", "family": "f", "size": 2, "model": {"backend": "scripted", "model": "scripted-beta"}},
    ],
    "judge": {"gpus": 0, "model": {"backend": "scripted", "model": "scripted-judge"}},
}
CONFIG = study_config_from_dict(STUDY)
N_SHARDS = 3


def reference_store(path, model: str) -> ResponseStore:
    """What a single run of the model (and the judge) stores, made in this process."""
    run_config = CONFIG.run_config(model)
    store = ResponseStore(path)
    backend = ScriptedBackend(model=run_config.model.model)
    dialogues = generate_dialogues(run_config, backend, store)
    answers = generate_benchmarks(run_config, backend, store, dialogues)
    personas = select_personas(run_config.personas)
    score_run(judged_only(run_config), ScriptedBackend(model="scripted-judge"), store, answers, dialogues, personas)
    return store


def texts(store) -> dict[str, str]:
    table = store.to_dataframe().drop_duplicates("key")
    return dict(zip(table["key"], table["text"]))


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    outcomes = [run_study(CONFIG, folder, shard=(index, N_SHARDS), log=lambda line: None) for index in range(N_SHARDS)]
    return Study.open(folder), outcomes


def test_the_shards_cover_every_unit_once_without_talking_to_each_other(sharded):
    study, outcomes = sharded
    for phase in ("generate", "judge"):
        done = [result.unit for outcome in outcomes for result in outcome.results if result.phase == phase]
        assert sorted(done) == sorted(study_units(CONFIG))
    assert all(outcome.failures == [] and outcome.merge is None for outcome in outcomes)
    names = {path.name for path in study.store_paths("generate")}
    assert names <= {f"generate-shard-{index}-of-{N_SHARDS}.sqlite" for index in range(N_SHARDS)}
    status = study_status(study)
    assert set(status["state"]) == {"done"}
    assert (status["answers_done"] == status["answers_expected"]).all()
    assert (status["judged_done"] == status["judged_expected"]).all() and status["judged_expected"].gt(0).all()


def test_merge_makes_per_model_runs_with_nothing_lost_or_duplicated(sharded, tmp_path):
    study, _ = sharded
    summary = merge_study(study)
    assert summary.conflicts.empty and (summary.missing.drop(columns="model") == 0).all().all()
    for model in ("alpha", "beta"):
        run = Run.open(study.run_folder(model))
        assert run.config.model.model == f"scripted-{model}" and run.config.judge.model == "scripted-judge"
        reference = texts(reference_store(tmp_path / f"{model}.sqlite", model))
        assert texts(run.store) == reference  # every answer and verdict, with the same text
        assert len(run.store) == len(reference)
        # Scripted models answer alike, so both models send the judge the same requests: each run holds its own
        # verdicts' tags only, row for row as a single run (not the other model's too).
        table, single = run.store.to_dataframe(), reference_store(tmp_path / f"{model}-rows.sqlite", model)
        assert set(table.loc[table["stage"] == "judge", "model_under_test"]) == {f"scripted-{model}"}
        assert len(table) == len(single.to_dataframe())
        answers = run.answers()
        assert answers["finish_reason"].eq("stop").all() and not answers["error"].astype(str).eq(NOT_STORED).any()
        units = run.units()
        assert {"bfi_error", "safety", "excess_safety", "dialogue"} <= set(units["metric"])
    generated = [ResponseStore(path) for path in study.store_paths("generate")]
    assert sum(len(store) for store in generated) == len(set().union(*(store.keys() for store in generated)))
    again = merge_study(study)
    assert again.reports["added"].sum() == 0 and again.reports["identical"].sum() == summary.reports["added"].sum()


def test_rerunning_a_shard_redoes_nothing(sharded):
    study, outcomes = sharded
    again = run_study(CONFIG, study.folder, shard=(1, N_SHARDS), log=lambda line: None)
    assert again.results == [] and again.loads == []
    assert (
        again.skipped["generate"]
        == again.skipped["judge"]
        == [unit for unit in study_units(CONFIG) if unit in {r.unit for r in outcomes[1].results}]
    )


def test_two_stores_answering_one_key_differently_is_a_reported_conflict(sharded, capsys):
    study, _ = sharded
    source = ResponseStore(study.store_paths("generate")[0])
    record = next(iter(source.get_many(source.keys(model="scripted-alpha")[:1]).values()))
    rogue = ResponseStore(study.store_path("generate", "rogue"))
    rogue.put_many([replace(record, text="a different answer")])
    try:
        assert main(["study", "merge", "--study", str(study.folder)]) == 1
        assert "1 key(s) answered differently" in capsys.readouterr().err
        conflicts = pd.read_csv(study.folder / Study.MERGE_CONFLICTS)
        assert conflicts[["model", "key", "other_store", "kept_text", "other_text"]].values.tolist() == [
            ["alpha", record.key, "generate-rogue.sqlite", record.text, "a different answer"]
        ]
        assert Run.open(study.run_folder("alpha")).store.get(record.key).text == record.text
    finally:
        rogue.close()
        study.store_path("generate", "rogue").unlink()


def test_status_reads_partial_work_from_the_stores_alone(tmp_path):
    study = Study.create(CONFIG, tmp_path / "partial")
    assert set(study_status(study)["state"]) == {"not started"}
    outcome = run_study(
        CONFIG, study.folder, shard=(0, 1), phases=["generate"], conditions_per_call=3, log=lambda line: None
    )
    assert len(outcome.results) == len(study_units(CONFIG))
    status = study_status(study)
    assert set(status["state"]) == {"generated"} and status["judged_done"].eq(0).all()
    # Cut one unit short: its last rounds are missing from every store.
    unit = study_units(CONFIG)[0]
    store = ResponseStore(study.store_paths("generate")[0])
    rounds = store.to_dataframe(stage="dialogue")
    last = rounds[
        (rounds["condition"] == unit.condition)
        & (rounds["kind"] == unit.kind)
        & (rounds["round"] == CONFIG.protocol.n_rounds)
        & (rounds["model"] == "scripted-alpha")
    ]
    store._db.executemany("DELETE FROM responses WHERE key = ?", [(key,) for key in last["key"]])
    row = study_status(study, units=[unit]).iloc[0]
    assert (row["state"], row["rounds_done"], row["rounds_expected"]) == ("generating", 4, 6)
    assert row["answers_done"] == 4 and row["answers_expected"] == 8  # t = 0 done, t = 3 waits for the dialogue
    summary = status_summary(study_status(study))
    assert summary.set_index("model").loc["alpha", "generating"] == 1
    replay = ReplayStore(study.store_paths("generate"))
    backend = ReplayBackend(CONFIG.entry("alpha").model)
    generate_dialogues(CONFIG.run_config("alpha"), backend, replay)
    assert backend.missing == 2 and len(ResponseStore(study.store_paths("generate")[0])) == len(store)


def test_merge_writes_bfi_units_against_the_configured_label_source(tmp_path):
    """The merged run's unit scores come from the score stage a run's notebook calls, with the run's label source."""
    from persona_lib.personas import load_personas
    from persona_lib.scoring import protocol_units

    values = {
        **STUDY,
        "name": "pdb",
        "models": STUDY["models"][:1],
        "protocol": {
            **STUDY["protocol"],
            "personas": ["Gaston"],
            "datasets": ["bfi"],
            "item_limit": {"bfi": 5},
            "bfi_label_source": "pdb",
        },
    }
    config = study_config_from_dict(values)
    run_study(config, tmp_path, shard=(0, 1), log=lambda line: None)
    merge_study(Study.open(tmp_path))
    run = Run.open(Study.open(tmp_path).run_folder("alpha"))
    gaston = load_personas()["Gaston"]
    assert gaston.bfi_labels["pdb"] != gaston.bfi_labels["annotation"]  # the two sources disagree for Gaston
    errors = run.units().query("metric == 'bfi_error' and condition == 'Gaston'").reset_index(drop=True)
    expected = {
        source: protocol_units(run.scores(), [gaston], bfi_label_source=source)
        .query("metric == 'bfi_error' and condition == 'Gaston'")
        .reset_index(drop=True)
        for source in ("pdb", "annotation")
    }
    assert len(errors) == 4  # 2 kinds x 2 checkpoints
    assert errors["score"].tolist() == pytest.approx(expected["pdb"]["score"].tolist())
    assert errors["score"].tolist() != pytest.approx(expected["annotation"]["score"].tolist())
