"""Before a long run on the CPU, ``persona-eval run`` shows its size and this machine's estimate and asks first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from persona_lib.config import ModelConfig
from persona_lib.paths import PROJECT_ROOT
from persona_lib.plan import (
    CONFIRM_ABOVE_REQUESTS,
    MeasuredRate,
    estimate_lines,
    known_rates,
    large_run_summary,
    rate_key,
    record_rate,
)
from persona_lib.resolve import load_config

BUNDLED = {"backend": "transformers", "model": "bundled:SmolLM2-135M-Instruct"}
#: A configuration that names only the models: everything else is the study's grid (8 personas, 102 rounds).
MINIMAL = f"model: {BUNDLED}\njudge: {BUNDLED}\n".replace("'", "")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PERSONA_LIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_minimal_configuration_is_refused_without_a_terminal_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(MINIMAL)
    result = subprocess.run(
        [sys.executable, "-m", "persona_lib.cli", "run", "--config", "mine.yaml"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "this run sends 339,186 requests" in result.stdout
    assert "no measured rate for bundled:SmolLM2-135M-Instruct (transformers) on this machine yet" in result.stdout
    assert "--yes" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.yaml"]  # no run folder, not even runs/mine


def test_small_runs_and_gpu_backends_start_without_asking(tmp_path: Path) -> None:
    assert large_run_summary(load_config(PROJECT_ROOT / "configs" / "default.yaml")) is None
    (tmp_path / "gpu.yaml").write_text(MINIMAL.replace("transformers", "vllm"))
    assert large_run_summary(load_config(tmp_path / "gpu.yaml")) is None
    assert CONFIRM_ABOVE_REQUESTS > 1_216  # the embedded default run's requests (persona-eval plan)
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert f"more than {CONFIRM_ABOVE_REQUESTS:,} requests" in readme


def test_a_run_folder_without_output_dir_is_named_after_the_file(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "mine.yaml").write_text(MINIMAL)
    monkeypatch.chdir(tmp_path)
    assert load_config("mine.yaml").output_dir == str(tmp_path / "runs" / "mine")


def test_a_measured_rate_turns_planned_tokens_into_hours(cache: Path) -> None:
    model = ModelConfig(**BUNDLED)
    assert estimate_lines({"generate": 7_200.0}, {"generate": model}) == [
        "generate: no measured rate for bundled:SmolLM2-135M-Instruct (transformers) on this machine yet"
    ]
    rate = MeasuredRate(rate_key(model), 40, 80_000, 3_600, 1_800.0, "2026-12-07T10:00:00+00:00", "runs/default")
    record_rate(rate)
    assert known_rates() == {rate.key: rate}
    (line,) = estimate_lines({"generate": 7_200.0}, {"generate": model})
    # 3,600 tokens in 1,800 s: 2 tokens/s, so 7,200 tokens take an hour.
    assert line.startswith("generate: about 1.0 h here (7,200 generated tokens at the 2.0 tokens/s")
    assert "in runs/default on 2026-12-07, at 22 prompt tokens per generated token" in line


@pytest.mark.slow
def test_a_run_records_the_rate_it_measured(tmp_path: Path, cache: Path) -> None:
    config = tmp_path / "scripted.yaml"
    scripted = "{backend: scripted, model: scripted}"
    config.write_text(
        f"model: {scripted}\njudge: {scripted}\npersonas: [Gaston]\nn_rounds: 2\ncheckpoints: [0, 2]\n"
        "shuffled_replicate: false\ndatasets: [ifbench]\nitem_limit: {ifbench: 2}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "persona_lib.cli", "run", "--config", str(config), "--stages", "generate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (rate,) = known_rates().values()
    assert rate.key == rate_key(ModelConfig(backend="scripted", model="scripted"))
    # Gaston and the baseline, both kinds: 2 rounds of dialogue each, then 2 prompts at 2 checkpoints; at t = 0 both
    # kinds send the same request, stored once.
    assert rate.requests == 2 * 2 * (2 + 2 * 2) - 2 * 2 and rate.seconds > 0
    assert rate.run == str(tmp_path / "runs" / "scripted")
