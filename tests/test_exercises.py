"""The teaching chapter's exercises, each through the route its text describes.

The Python routes run whenever the book is built (the chapter executes its solutions). Here: exercise 2's command-line
route, done literally in a scratch folder: the module the solution writes and the configuration the text gives,
saved side by side, then ``persona-eval run --config quiz.yaml`` from that folder.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from persona_lib.paths import PROJECT_ROOT

TEACHING = PROJECT_ROOT / "book" / "teaching.ipynb"


def _exercise_2() -> tuple[str, str]:
    """The configuration the exercise's text gives and the module its solution writes."""
    cells = nbformat.read(TEACHING, as_version=4).cells
    (start,) = [index for index, cell in enumerate(cells) if cell.source.startswith("## Exercise 2")]
    (config,) = re.findall(r"```yaml\n(.*?)```", cells[start].source, flags=re.DOTALL)
    (module,) = re.findall(r"write_text\('''(.*?)'''\)", cells[start + 1].source, flags=re.DOTALL)
    return config, module


def test_exercise_2_gives_a_configuration_of_the_quiz_alone() -> None:
    config, module = _exercise_2()
    values = yaml.safe_load(config)
    assert values["datasets"] == values["dataset_modules"] == ["count_quiz"]
    assert "output_dir" not in values and values["name"] == "quiz"
    assert 'name="count_quiz"' in module


@pytest.mark.slow
def test_exercise_2_runs_through_the_command_line_as_written(tmp_path: Path) -> None:
    config, module = _exercise_2()
    (tmp_path / "quiz.yaml").write_text(config)
    (tmp_path / "count_quiz.py").write_text(module)
    result = subprocess.run(
        [sys.executable, "-m", "persona_lib.cli", "run", "--config", "quiz.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "quiz"
    assert result.stdout.strip().endswith(f"run folder: {run}")
    # One run folder, under the folder the command ran from: store, tables, figures and notebooks together.
    assert {path.name for path in run.iterdir()} >= {"config.yaml", "run.json", "notebooks", "tables", "figures"}
    assert (run / "responses.sqlite").is_file() and not (PROJECT_ROOT / "runs" / "quiz").exists()
    units = pd.read_csv(run / "units.csv")
    assert set(units["metric"]) == {"count_accuracy"}
    # Gaston and the baseline, both dialogue kinds, checkpoints 0 and 2; each unit scores both questions, right or
    # wrong as the placeholder answers happen to name the number.
    assert len(units) == 2 * 2 * 2 and (units["n_items"] == 2).all()
    assert set(units["score"]) <= {0.0, 50.0, 100.0}
    assert "UserWarning" not in result.stderr  # no empty figure for a dataset the run does not have


def _exercise_8() -> tuple[str, str]:
    """The configuration and the command exercise 8's text gives."""
    cells = nbformat.read(TEACHING, as_version=4).cells
    (text,) = [cell.source for cell in cells if cell.source.startswith("## Exercise 8")]
    (config,) = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    (command,) = re.findall(r"```bash\n(.*?)\n```", text, flags=re.DOTALL)
    return config, command


@pytest.mark.slow
def test_exercise_8_runs_a_persona_of_ones_own_through_the_command_line_as_written(tmp_path: Path) -> None:
    config, command = _exercise_8()
    (tmp_path / "drift.yaml").write_text(config)
    (tmp_path / "my_persona.yaml").write_text(
        "name: Captain Nemo\n"
        "description: >-\n"
        "  You are Captain Nemo, the bitter and brilliant commander of the submarine Nautilus. You speak of the sea\n"
        "  as your only home and answer every question with a remark about the deep.\n"
    )
    arguments = command.split()
    assert arguments[0] == "persona-eval"
    result = subprocess.run(
        [sys.executable, "-m", "persona_lib.cli", *arguments[1:]], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "drift"
    dialogue = pd.read_json(run / "dialogues.jsonl", lines=True)
    assert set(dialogue["condition"]) == {"Captain Nemo"} and dialogue["round"].max() == 8
    units = pd.read_csv(run / "units.csv")
    fidelity = units[units["metric"] == "dialogue"]
    # One score per judged turn of the one dialogue, on 0-100 (the judge read by its label distribution).
    assert len(fidelity) == dialogue["round"].nunique() and fidelity["score"].between(0, 100).all()
    assert {"in_character", "knowledge", "style"} <= set(units["metric"])
