"""Every stage runs with any one of the shipped datasets alone (the scripted backend: no model, placeholder answers),
and draws no empty figure for a dataset the run does not have."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from persona_lib.pipeline import STAGES

SCRIPTED = "{backend: scripted, model: scripted}"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dataset", "baseline"),
    [("fidelity", False), ("bfi", True), ("xstest", True), ("rolebench_specific", True), ("ifbench", True)],
)
def test_a_run_of_one_dataset_passes_every_stage(tmp_path: Path, dataset: str, baseline: bool) -> None:
    (tmp_path / "one.yaml").write_text(
        f"model: {SCRIPTED}\njudge: {SCRIPTED}\npersonas: [Gaston]\ninclude_baseline: {str(baseline).lower()}\n"
        "dialogue_kinds: [persona_directed]\nshuffled_replicate: false\nn_rounds: 3\ncheckpoints: [0, 3]\n"
        f"datasets: [{dataset}]\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "persona_lib.cli", "run", "--config", "one.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    notebooks = tmp_path / "runs" / "one" / "notebooks"
    assert {path.name for path in notebooks.glob("*.ipynb")} == {name for stage in STAGES for name in stage.notebooks}
    warnings = [
        f"{path.name}: {output.get('text', '')[:200]}"
        for path in notebooks.glob("*.ipynb")
        for cell in nbformat.read(path, as_version=4).cells
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr" and "Warning" in output.get("text", "")
    ]
    assert warnings == []


def test_check_rejects_a_run_of_no_dataset_before_any_model_loads(tmp_path: Path) -> None:
    from persona_lib.checks import check_config_file

    (tmp_path / "none.yaml").write_text(f"model: {SCRIPTED}\njudge: {SCRIPTED}\ndatasets: []\n")
    report = check_config_file(tmp_path / "none.yaml")
    assert not report.ok
    (problem,) = [problem for problem in report.problems if problem.field == "datasets"]
    assert "at least 1 item" in problem.what
