"""``persona-eval check`` against the installed vLLM: engine arguments, decoding settings, context, GPUs.

Run in the vllm environment (``make test`` does): nothing is loaded, only vLLM's ``EngineArgs`` and
``SamplingParams`` are imported. The two real configurations are checked through the command line, as a user
checks them before the first GPU hour.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from persona_lib.backends import SamplingParams
from persona_lib.backends._vllm_preflight import check_vllm_settings, model_context_limit
from persona_lib.checks import check_config_file
from persona_lib.config import ModelConfig
from persona_lib.paths import PROJECT_ROOT
from persona_lib.study import check_study_file

pytestmark = pytest.mark.vllm

PAPER = PROJECT_ROOT / "configs" / "paper.yaml"
STUDY = PROJECT_ROOT / "configs" / "study-paper.yaml"
BUNDLED = "bundled:SmolLM2-135M-Instruct"
MODEL_NOT_HERE = "is neither a local folder nor in the Hugging Face cache"


def _cli_check(config, *sets: str) -> subprocess.CompletedProcess:
    arguments = [sys.executable, "-m", "persona_lib.cli", "check", "--config", str(config)]
    for assignment in sets:
        arguments += ["--set", assignment]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GEMINI_API_KEY": "placeholder-for-the-check"}
    return subprocess.run(arguments, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=300)


def _errors(report) -> dict[str, str]:
    return {problem.field: problem.what for problem in report.errors}


@pytest.mark.parametrize("config", [PAPER, STUDY], ids=["paper", "study-paper"])
def test_the_real_configurations_pass_every_engine_and_sampling_check(config):
    result = _cli_check(config)
    lines = [line for line in result.stdout.splitlines() if line.startswith("  [error]")]
    # On this machine the only errors are the models' weights, which are not here (no hub): every engine argument
    # and decoding setting of the file is one the installed vLLM accepts.
    assert result.returncode == 2 and lines, result.stdout
    assert all(MODEL_NOT_HERE in line for line in lines), "\n".join(lines)
    expected = 2 if config == PAPER else 7  # paper: model and judge; study: six vLLM models and the judge
    assert len(lines) == expected, result.stdout


def test_an_unknown_engine_argument_is_one_error_naming_the_field_and_the_closest_name():
    report = check_config_file(PAPER, assignments={"model.extra.disable_cascade_atn": True})
    problems = [p for p in report.errors if p.field == "model.extra.disable_cascade_atn"]
    assert len(problems) == 1
    assert "not an engine argument of the installed vLLM" in problems[0].what
    assert problems[0].fix.startswith("did you mean 'disable_cascade_attn'?")


def test_engine_arguments_the_backend_sets_point_to_their_own_field():
    report = check_config_file(PAPER, assignments={"judge.extra.max_model_len": 4096})
    assert report.errors and _errors(report)["judge.extra.max_model_len"] == "is set by the vllm backend itself"
    assert next(p.fix for p in report.errors if p.field == "judge.extra.max_model_len") == (
        "set judge.max_model_len instead"
    )


def test_a_context_above_the_models_is_refused_with_its_limit():
    assert model_context_limit(BUNDLED) == 8192  # config.json of the converted bundled model
    report = check_config_file(PAPER, assignments={"model.model": BUNDLED, "model.max_model_len": 200_000})
    assert _errors(report)["model.max_model_len"].startswith("200,000 is above the model's 8,192")
    fits = check_config_file(PAPER, assignments={"model.model": BUNDLED, "model.max_model_len": 8192})
    assert "model.max_model_len" not in _errors(fits)


def test_a_tensor_parallel_size_beyond_the_gpus_is_one_clear_error():
    report = check_config_file(PAPER, assignments={"model.extra.tensor_parallel_size": 4})
    problems = [p for p in report.errors if p.field == "model.extra.tensor_parallel_size"]
    assert len(problems) == 1
    assert problems[0].what == (
        "tensor_parallel_size 4 needs 4 GPUs; this machine has 0 visible (torch.cuda.device_count())"
    )
    assert "CUDA_VISIBLE_DEVICES" in problems[0].fix


def test_a_study_checks_engines_against_the_gpus_it_gives_them():
    # configs/study-paper.yaml gives gemma-3-27b-it (models[1]) two GPUs for tensor_parallel_size 2: no error here,
    # on a machine without any, because Ray places the engine. A judge with tensor_parallel_size 2 on gpus: 1 is.
    report = check_study_file(STUDY, assignments={"judge.model.extra.tensor_parallel_size": 2})
    errors = _errors(report)
    assert not any(field.startswith("models[1].model.extra") for field in errors)
    assert errors["judge.model.extra.tensor_parallel_size"] == (
        "tensor_parallel_size 2 needs 2 GPUs; its engine is given 1 (the study's gpus)"
    )


def test_prompt_cuts_and_budgets_that_leave_no_room_are_errors():
    report = check_config_file(
        PAPER, assignments={"judging.truncate_prompt_tokens": 40_000, "generation.max_new_tokens": 128_000}
    )
    errors = _errors(report)
    assert errors["judging.truncate_prompt_tokens"] == (
        "prompts cut to their last 40,000 tokens still do not fit judge.max_model_len 32,768"
    )
    assert errors["generation.max_new_tokens"] == "128,000 leaves no room for a prompt in model.max_model_len 128,000"


def test_decoding_settings_go_through_vllms_own_validation():
    # The configuration's own types already refuse these values; the backend check is what a settings object
    # built elsewhere (or a future vLLM's stricter rule) meets.
    problems = check_vllm_settings(
        ModelConfig(backend="vllm", model=BUNDLED), "model", [("generation", SamplingParams(top_p=0.0))]
    )
    assert [(p.field, p.severity) for p in problems] == [("generation.top_p", "error")]
    assert "top_p must be in (0, 1], got 0.0" in problems[0].what


def test_batch_invariance_says_where_it_cannot_apply():
    report = check_config_file(PAPER, assignments={"model.batch_invariant": True})
    (note,) = [p for p in report.notes if p.field == "model.batch_invariant"]
    assert note.what.startswith("cannot apply on this machine: vLLM's batch-invariant kernels need an NVIDIA GPU")
    assert "model.batch_invariant" not in _errors(report)


def test_each_answers_provenance_records_whether_the_mode_was_on(bundled_dir):
    from persona_lib.backends import create_backend

    off = create_backend(ModelConfig(backend="vllm", model=BUNDLED))
    on = create_backend(ModelConfig(backend="vllm", model=BUNDLED, batch_invariant=True))
    assert (off.version_info()["batch_invariant"], on.version_info()["batch_invariant"]) == ("off", "on")
