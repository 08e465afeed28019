"""The pipeline as a user runs it: the notebooks' one parameter, the whole pipeline on the scripted backend, and a
benchmark added as one module of a package of the user's own."""

from __future__ import annotations

import ast
import json
import re
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from persona_lib.datasets import _registry as registry
from persona_lib.datasets import dataset_names, get_dataset
from persona_lib.paths import PROJECT_ROOT
from persona_lib.pipeline import NOTEBOOK_DIR, STAGES, parse_stages, run_pipeline
from persona_lib.resolve import load_config
from persona_lib.run import Run
from persona_lib.study import load_study_config

SCRIPTED_CONFIG = PROJECT_ROOT / "tests" / "configs" / "scripted.yaml"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: The study notebook analyses a study folder (`persona-eval study analyse`), not a run: its `config` is a study's.
STUDY_NOTEBOOK = "study.ipynb"
PIPELINE_NOTEBOOKS = {notebook for stage in STAGES for notebook in stage.notebooks}


def _code_cells(path: Path) -> list[dict]:
    return [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_every_notebook_takes_one_config_parameter(notebook):
    cells = _code_cells(notebook)
    parameter_cells = [cell for cell in cells if "parameters" in cell["metadata"].get("tags", [])]
    assert len(parameter_cells) == 1
    tree = ast.parse("".join(parameter_cells[0]["source"]))
    assigned = [target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets]
    assert assigned == ["config"], f"{notebook.name}: the parameters cell must assign only `config`"
    if notebook.name == STUDY_NOTEBOOK:
        assert ast.literal_eval(tree.body[-1].value) == "configs/study-paper.yaml"
        load_study_config(PROJECT_ROOT / "configs" / "study-paper.yaml")
        return
    assert notebook.name in PIPELINE_NOTEBOOKS
    assert ast.literal_eval(tree.body[-1].value) == "configs/default.yaml"
    load_config(PROJECT_ROOT / "configs" / "default.yaml")  # the default it names exists and is valid


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_no_notebook_spells_a_run_file_name(notebook):
    code = "".join("".join(cell["source"]) for cell in _code_cells(notebook))
    for spelled in (".jsonl", "scores.csv", "units.csv", "output_dir", "responses.sqlite", "figures/", "tables/"):
        assert spelled not in code, f"{notebook.name} spells {spelled!r}; use persona_lib.run.Run"
    file_argument = re.search(r"""run\.\w+\(f?["'][^"']*\.\w+["']""", code)
    assert file_argument is None, f"{notebook.name}: {file_argument[0]!r} names a file; name the table instead"


def test_the_run_owns_where_a_named_table_goes(tmp_path):
    run = Run(tmp_path, load_config(SCRIPTED_CONFIG, output_dir=str(tmp_path)))
    assert run.judge_validation() is None  # before the validate stage
    table = pd.DataFrame({"dataset": ["xstest"], "kappa": [0.5]})
    assert run.write_table("curves", table) == tmp_path / "tables" / "curves.csv"
    assert run.write_judge_validation(table) == tmp_path / "tables" / "judge_validation.csv"
    assert run.judge_validation().equals(table) and run.table("curves").equals(table)
    for spelled in ("curves.csv", "tables/curves", ""):
        with pytest.raises(ValueError, match="without folder or suffix"):
            run.write_table(spelled, table)


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory) -> Run:
    folder = tmp_path_factory.mktemp("scripted_run")
    run_pipeline(load_config(SCRIPTED_CONFIG, output_dir=str(folder)))
    return Run.open(folder)


@pytest.mark.slow
def test_the_whole_pipeline_runs_on_the_scripted_backend(scripted_run):
    info = scripted_run.info()
    assert set(info["stage_seconds"]) == {stage.name for stage in STAGES}
    assert {path.name for path in scripted_run.notebooks_dir.glob("*.ipynb")} == PIPELINE_NOTEBOOKS
    config = scripted_run.config
    units = scripted_run.units()
    expected = {metric.name for name in config.datasets for metric in get_dataset(name).metrics}
    assert set(units["metric"]) == expected
    dialogues = scripted_run.dialogues()
    assert len(dialogues) == 3 * 2 * 2 * config.n_rounds  # conditions x kinds x replicates x rounds
    answers = scripted_run.answers()
    assert set(answers["checkpoint"]) == set(config.checkpoints)
    scores = scripted_run.scores()
    assert set(scores["parse_status"]) == {"ok"}
    # persona turns (2 personas) and the baseline's turns judged against each of the 2 personas, 3 criteria each
    assert (scores["dataset"] == "fidelity").sum() == 2 * (2 * 2 * 2 * config.n_rounds * 3)
    for metric in expected - {"dialogue", "knowledge", "style", "in_character"}:
        assert scripted_run.figure(f"curve_{metric}").with_suffix(".png").is_file(), metric
    for metric in ("dialogue", "knowledge", "style", "in_character"):
        assert scripted_run.figure(f"fidelity_{metric}").with_suffix(".png").is_file(), metric
    for contrast in ("kind", "length", "persona"):
        assert scripted_run.figure(f"difference_{contrast}").with_suffix(".png").is_file(), contrast
    assert scripted_run.figure("released_survival").with_suffix(".png").is_file()
    assert set(scripted_run.table("break_onsets")["metric"]) >= {"ifbench", "safety"}
    validation = scripted_run.judge_validation()
    assert set(validation["n"]) == {config.judge_validation_items}
    executed = json.loads((scripted_run.notebooks_dir / "dialogues.ipynb").read_text())
    injected = [cell for cell in executed["cells"] if "injected-parameters" in cell["metadata"].get("tags", [])]
    assert "config = {" in "".join(injected[0]["source"])


@pytest.mark.slow
def test_rerunning_a_stage_reuses_every_stored_answer(scripted_run):
    before = len(scripted_run.store)
    run_pipeline(scripted_run.config, parse_stages("generate,score"))
    assert len(Run.open(scripted_run.folder).store) == before


TOY_MODULE = '''
"""A benchmark of the user's own, in one module: a rule-scored quiz and a judged opinion question."""
import json
from pathlib import Path

from persona_lib.datasets import (
    BenchmarkItem, DatasetSpec, MetricSpec, mean_units, per_answer_tasks, register_dataset, rule_scorer,
)
from persona_lib.judging import JudgeTask

ITEMS = Path(__file__).with_name("quiz.jsonl")


def load(path=None):
    rows = [json.loads(line) for line in (path or ITEMS).read_text().splitlines()]
    return [BenchmarkItem(row["dataset"], row["id"], row["question"]) for row in rows if row["dataset"] == "toy_quiz"]


def load_opinions(path=None):
    rows = [json.loads(line) for line in (path or ITEMS).read_text().splitlines()]
    return [BenchmarkItem(row["dataset"], row["id"], row["question"]) for row in rows if row["dataset"] != "toy_quiz"]


def has_digit(item, response):
    return any(character.isdigit() for character in response)


def opinion_tasks(inputs):
    def make_task(answer, item, row):
        prompt = f"Does this answer give an opinion?\\n{answer['response']}\\nEnd with RESULT: <yes or no>"
        return JudgeTask(prompt=prompt, verdict="binary", row=row)

    return per_answer_tasks(inputs, make_task, lambda item: "toy_opinion_rate")


SPEC = register_dataset(DatasetSpec(
    name="toy_quiz", version=1, title="Toy quiz", source="written for the test", description="Digits in answers.",
    metrics=(MetricSpec("toy_digits", "Answers with a digit", "%", True),),
    load=load, rule_scores=rule_scorer(has_digit, version=1), units=mean_units,
))
OPINIONS = register_dataset(DatasetSpec(
    name="toy_opinion", version=1, title="Toy opinions", source="written for the test", description="Opinions.",
    metrics=(MetricSpec("toy_opinion_rate", "Answers giving an opinion", "%", True),),
    load=load_opinions, judge_tasks=opinion_tasks, units=mean_units,
))
'''


@pytest.mark.slow
def test_a_benchmark_added_as_one_module_runs_through_the_pipeline(tmp_path, monkeypatch):
    package = tmp_path / "plugins" / "toybench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "quiz.py").write_text(textwrap.dedent(TOY_MODULE))
    questions = [
        ("toy_quiz", "q1", "How many legs has a spider?"),
        ("toy_quiz", "q2", "Name a colour."),
        ("toy_quiz", "q3", "What year is it?"),
        ("toy_opinion", "o1", "Is tea better than coffee?"),
    ]
    (package / "quiz.jsonl").write_text(
        "".join(json.dumps({"dataset": d, "id": i, "question": q}) + "\n" for d, i, q in questions)
    )
    monkeypatch.setattr(registry, "_DATASETS", dict(registry._DATASETS))  # the toy specs vanish after the test
    monkeypatch.delitem(sys.modules, "toybench.quiz", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "plugins"))  # the notebook kernels import it too
    config = load_config(
        SCRIPTED_CONFIG,
        output_dir=str(tmp_path / "run"),
        dataset_modules=["toybench.quiz"],
        datasets=["toy_quiz", "toy_opinion", "ifbench"],
        item_limit={"ifbench": 2},
    )
    assert {"toy_quiz", "toy_opinion"} <= set(dataset_names())
    run = Run(run_pipeline(config, parse_stages("generate,score,analyse")), config)

    answers = run.answers()
    quiz = answers[answers["dataset"] == "toy_quiz"]
    assert len(quiz) == 3 * 2 * len(config.checkpoints) * 3  # conditions x kinds x checkpoints x items
    units = run.units()
    digits = units[units["metric"] == "toy_digits"].set_index(["condition", "kind", "checkpoint"])["score"]
    expected = (
        quiz.assign(score=quiz["response"].map(lambda text: 100.0 * any(c.isdigit() for c in text)))
        .groupby(["condition", "kind", "checkpoint"])["score"]
        .mean()
    )
    pd.testing.assert_series_equal(digits.sort_index(), expected.sort_index(), check_names=False)
    opinions = run.scores()
    opinions = opinions[opinions["dataset"] == "toy_opinion"]
    assert len(opinions) == 3 * 2 * len(config.checkpoints) and set(opinions["parse_status"]) == {"ok"}
    assert set(units["metric"]) == {"toy_digits", "toy_opinion_rate", *(m.name for m in get_dataset("ifbench").metrics)}
    assert run.figure("curve_toy_digits").with_suffix(".png").is_file()
    assert run.figure("curve_toy_opinion_rate").with_suffix(".png").is_file()


@pytest.mark.slow
def test_the_console_shows_progress_while_a_stage_runs(tmp_path):
    import subprocess

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "persona_lib.cli",
            "run",
            "--config",
            str(SCRIPTED_CONFIG),
            "--stages",
            "generate",
            "--out",
            str(tmp_path / "run"),
            "--set",
            "personas=[HAL 9000]",
            "--set",
            "model.display_name=Robo",
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert resolved["personas"] == ["HAL 9000"] and resolved["model"]["display_name"] == "Robo"  # --set reached the run
    assert "[1/1] generate" in result.stdout
    for bar in ("dialogues (rounds)", "benchmarks"):
        assert bar in result.stderr and "100%" in result.stderr.split(bar, 1)[1], bar
    assert "generate" in json.loads((tmp_path / "run" / "run.json").read_text())["stage_seconds"]


def test_persona_eval_run_reads_its_configuration_file_once(tmp_path, monkeypatch):
    """The check validates and resolves the file; the run executes what the check built (no second parse)."""
    import pathlib

    from persona_lib import pipeline
    from persona_lib.cli import main

    path = tmp_path / "run.yaml"
    path.write_text(SCRIPTED_CONFIG.read_text() + f"\noutput_dir: {tmp_path / 'run'}\n")
    reads = []
    real_read_text = pathlib.Path.read_text

    def counting_read_text(self, *args, **kwargs):
        if self.resolve() == path.resolve():
            reads.append(self)
        return real_read_text(self, *args, **kwargs)

    executed = []
    monkeypatch.setattr(pathlib.Path, "read_text", counting_read_text)
    monkeypatch.setattr(pipeline, "_execute", lambda config, stages, kernel: executed.append(config) or tmp_path)
    assert main(["run", "--config", str(path), "--stages", "generate", "--set", "seed=3"]) == 0
    assert len(reads) == 1
    [config] = executed
    assert config.seed == 3 and config.datasets == load_config(path).datasets  # resolved, --set applied
