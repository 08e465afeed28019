"""The pre-flight check: every problem at once, before any model loads; `persona-eval check` and the run's check."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from persona_lib.checks import CheckFailed, check_config, check_config_file
from persona_lib.checks import _models as model_checks
from persona_lib.cli import main
from persona_lib.config import ModelConfig, RunConfig
from persona_lib.paths import PROJECT_ROOT, data_dir
from persona_lib.pipeline import run_pipeline
from persona_lib.resolve import load_config
from persona_lib.store import RunLock
from persona_lib.store._lock import LockHolder, lock_path

CONFIGS = PROJECT_ROOT / "configs"
TEST_CONFIGS = PROJECT_ROOT / "tests" / "configs"


def _write(path: Path, values: dict) -> Path:
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def _scripted(tmp_path: Path, **changes) -> dict:
    values = yaml.safe_load((TEST_CONFIGS / "scripted.yaml").read_text())
    values["output_dir"] = str(tmp_path / "run")
    values.update(changes)
    return values


def _fields(report, severity: str = "error") -> set[str]:
    return {problem.field for problem in report.problems if problem.severity == severity}


@pytest.mark.parametrize(
    "config",
    [CONFIGS / "default.yaml", TEST_CONFIGS / "scripted.yaml", TEST_CONFIGS / "tiny.yaml"],
    ids=lambda path: path.name,
)
def test_shipped_cpu_configs_pass_the_check(config, tmp_path):
    report = check_config_file(config, overrides={"output_dir": str(tmp_path / "run")})
    assert report.ok, report.format()
    assert report.format().startswith(f"{config}: ok")
    assert any(line.startswith("checkpoints:") for line in report.summary)


def test_every_problem_of_a_configuration_is_reported_at_once(tmp_path):
    persona_file = tmp_path / "people.yaml"
    persona_file.write_text("- name: Ada\n  descripton: You are Ada.\n")
    path = _write(
        tmp_path / "bad.yaml",
        {
            "output_dir": str(tmp_path / "run"),
            "n_round": 4,
            "personas": ["Gastn", "empty"],
            "custom_persona_files": [str(persona_file)],
            "model": {"backend": "transformers", "model": "bundled:SmolLM3"},
            "judge": {
                "backend": "openai",
                "model": "gpt-4o",
                "base_url": "https://api.example.com/v1",
                "api_key_env": "sk-live-0123456789abcdef",
            },
            "datasets": ["fidelity", "bfi", "rolebench_general"],
            "dataset_files": {"rolebench_general": str(tmp_path / "missing.jsonl")},
            "item_limit": {"bfi": 100},
            "n_rounds": 4,
            "n_checkpoints": 9,
        },
    )
    report = check_config_file(path)
    assert not report.ok
    assert _fields(report) == {
        "n_round",
        "descripton",
        "personas[0]",
        "personas[1]",
        "item_limit.bfi",
        "n_checkpoints",
        "dataset_files.rolebench_general",
        "model.model",
        "judge.api_key_env",
    }
    by_field = {problem.field: problem for problem in report.errors}
    assert by_field["n_round"].fix.startswith("did you mean 'n_rounds'?")
    assert by_field["personas[0]"].fix.startswith("did you mean 'Gaston'?")
    assert "include_baseline: true" in by_field["personas[1]"].fix
    assert by_field["descripton"].where == f"{persona_file}, persona 1"
    assert by_field["item_limit.bfi"].what == "limit 100 exceeds the 44 items in the dataset"
    assert by_field["n_checkpoints"].fix == "set n_checkpoints to at most 5, or list checkpoints explicitly"
    assert "not bundled" in by_field["model.model"].what
    assert "looks like an API key" in by_field["judge.api_key_env"].what
    text = report.format()
    assert text.startswith(f"{path}: 9 problems found before anything was loaded or started:")
    assert "sk-live-0123456789abcdef" not in text  # the key that was written by mistake is not echoed


def test_unknown_persona_in_a_custom_file_clash_and_case(tmp_path):
    persona_file = tmp_path / "people.yaml"
    persona_file.write_text("- name: Ada\n  description: You are Ada.\n- name: Gaston\n  description: Another.\n")
    report = check_config(
        RunConfig(
            personas=["ada", "Ada", "hal 9000"],
            custom_persona_files=[str(persona_file)],
            output_dir=str(tmp_path / "run"),
        )
    )
    problems = {(problem.where, problem.field): problem for problem in report.errors}
    assert set(problems) == {
        (f"{persona_file}, persona 2", "name"),
        ("<configuration>", "personas[0]"),
        ("<configuration>", "personas[2]"),
    }
    assert problems[("<configuration>", "personas[0]")].fix.startswith("did you mean 'Ada'?")
    assert problems[("<configuration>", "personas[2]")].fix.startswith("did you mean 'HAL 9000'?")
    assert "already defined by data/roles.json" in problems[(f"{persona_file}, persona 2", "name")].what


def test_per_character_dataset_and_bfi_notes_do_not_stop_the_run(tmp_path):
    persona_file = tmp_path / "ada.yaml"
    persona_file.write_text("name: Ada\ndescription: You are Ada.\n")
    report = check_config(
        RunConfig(
            personas=["Ada", "HAL 9000"],
            custom_persona_files=[str(persona_file)],
            datasets=["bfi", "rolebench_specific"],
            output_dir=str(tmp_path / "run"),
        )
    )
    assert report.ok
    notes = [problem.what for problem in report.notes]
    assert "rolebench_specific has no items for Ada; it will be asked none of them" in notes
    assert any(note.startswith("BFI error is undefined for Ada, HAL 9000") for note in notes)


def test_limits_checkpoints_and_validation_items(tmp_path):
    config = RunConfig(
        personas=["Gaston"],
        datasets=["xstest", "rolebench_specific"],
        n_rounds=4,
        checkpoints=[0, 4],
        n_checkpoints=3,
        item_limit={"xstest": 450, "rolebench_specific": 51},
        judge_validation_items=60,
        output_dir=str(tmp_path / "run"),
    )
    report = check_config(config)
    assert _fields(report) == {"item_limit.rolebench_specific", "judge_validation_items"}
    assert _fields(report, "note") == {"n_checkpoints"}
    by_field = {problem.field: problem for problem in report.errors}
    assert by_field["item_limit.rolebench_specific"].what == (
        "limit 51 exceeds the 50 items per character (the most any selected character has)"
    )
    assert by_field["judge_validation_items"].fix == "set it to at most 50, or to null for all of them"
    assert "judge_validation_items" not in _fields(check_config(config, stages=["generate", "score"]))


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"model": "bundled:Other"}, "model.model", "the only bundled model is 'bundled:SmolLM2-135M-Instruct'"),
        ({"model": "./no/such/model-folder"}, "model.model", "model folder not found: ./no/such/model-folder"),
        ({"chat_template": "missing.jinja"}, "model.chat_template", "file not found: missing.jinja"),
    ],
)
def test_model_problems(change, field, fragment, tmp_path):
    report = check_config(RunConfig(model=ModelConfig(**change), output_dir=str(tmp_path / "run")))
    assert [(problem.field, fragment in problem.what) for problem in report.errors] == [(field, True)]


def test_model_folder_and_hub_ids(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    folder.mkdir()
    run = str(tmp_path / "run")
    [problem] = check_config(RunConfig(model=ModelConfig(model=str(folder)), output_dir=run)).errors
    assert problem.what.endswith("has no config.json: not a Hugging Face model folder")
    (folder / "config.json").write_text("{}")
    assert check_config(RunConfig(model=ModelConfig(model=str(folder)), output_dir=run)).ok

    monkeypatch.setattr(model_checks, "_hub_cached", lambda repo_id: False)
    hub = RunConfig(model=ModelConfig(backend="transformers", model="org/not-cached"), output_dir=run)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    [offline] = check_config(hub, stages=["generate"]).errors
    assert offline.field == "model.model" and "HF_HUB_OFFLINE is set" in offline.what
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    online = check_config(hub, stages=["generate"])
    assert online.ok
    [note] = [note for note in online.notes if note.field == "model.model"]
    assert "will download it from the hub" in note.what


def test_missing_backend_library_is_named_with_its_install_command(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "vllm" else real(name))
    config = RunConfig(model=ModelConfig(backend="vllm", model=str(tmp_path)), output_dir=str(tmp_path / "run"))
    problems = {problem.field: problem for problem in check_config(config, stages=["generate"]).errors}
    assert problems["model.backend"].what == "backend 'vllm' needs vllm, which is not installed in this environment"
    assert "pip install" in problems["model.backend"].fix


def test_openai_key_variable(tmp_path, monkeypatch):
    def judge_problems(**settings):
        judge = ModelConfig(backend="openai", model="m", **settings)
        report = check_config(RunConfig(judge=judge, output_dir=str(tmp_path / "run")), stages=["validate"])
        return [(problem.severity, problem.field) for problem in report.problems if problem.field.startswith("judge")]

    monkeypatch.delenv("PERSONA_TEST_KEY", raising=False)
    remote = {"base_url": "https://api.example.com/v1", "api_key_env": "PERSONA_TEST_KEY"}
    assert judge_problems(**remote) == [("error", "judge.api_key_env")]
    assert judge_problems(base_url="http://127.0.0.1:8000/v1", api_key_env="PERSONA_TEST_KEY") == [
        ("note", "judge.api_key_env")
    ]
    monkeypatch.setenv("PERSONA_TEST_KEY", "anything")
    assert judge_problems(**remote) == []
    assert judge_problems(base_url="https://x.org/v1", api_key_env="AIzaSyD-a-key") == [("error", "judge.api_key_env")]


def test_output_folder_that_is_a_file_or_read_only(tmp_path, tmpfs):
    file_path = tmp_path / "a-file"
    file_path.write_text("x")
    [problem] = check_config(RunConfig(output_dir=str(file_path))).errors
    assert (problem.field, problem.what) == ("output_dir", f"{file_path} exists and is not a folder")

    disk = tmpfs("1m")
    disk.remount("ro")
    for folder in (disk.path, disk.path / "not-yet"):
        [problem] = check_config(RunConfig(output_dir=str(folder))).errors
        assert problem.field == "output_dir" and "cannot be written" in problem.what


def test_low_disk_space_is_a_note(tmpfs):
    disk = tmpfs("1m")
    report = check_config(RunConfig(output_dir=str(disk.path / "run")))
    assert report.ok
    [note] = [problem for problem in report.notes if problem.field == "output_dir"]
    assert note.what.startswith("only 1 MB free")


def test_folder_in_use_stale_lock_and_damaged_store(tmp_path):
    folder = tmp_path / "run"
    config = RunConfig(output_dir=str(folder))
    with RunLock(folder):
        [problem] = check_config(config).errors
        assert problem.where == str(lock_path(folder))
        assert f"pid {os.getpid()}" in problem.what and "--force" in problem.fix
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    holder = LockHolder(
        int(dead.stdout), os.uname().nodename, "2026-01-01T00:00:00+00:00", "persona-eval run", None, "t"
    )
    lock_path(folder).write_text(json.dumps(holder.__dict__))
    report = check_config(config)
    assert report.ok and any("left behind by a run that is gone" in note.what for note in report.notes)
    lock_path(folder).unlink()

    store_path = folder / "responses.sqlite"
    store_path.write_bytes(b"definitely not a database" * 100)
    [problem] = check_config(config).errors
    assert problem.where == str(store_path)
    assert "not a SQLite database" in problem.what and "persona-eval salvage --run" in problem.fix


def test_licence_rule_names_the_uncovered_file_and_the_missing_licence(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(data_dir(), copy, ignore=shutil.ignore_patterns("user"))
    monkeypatch.setenv("PERSONA_LIB_DATA", str(copy))
    config = RunConfig(output_dir=str(tmp_path / "run"))
    assert check_config(config).ok
    (copy / "licenses" / "XSTest_CC-BY-4.0.txt").unlink()
    (copy / "xstest" / "extra_prompts.csv").write_text("id,prompt\n1,hi\n")
    problems = {problem.where: problem.what for problem in check_config(config).errors}
    assert set(problems) == {str(copy / "licenses/XSTest_CC-BY-4.0.txt"), str(copy / "xstest/extra_prompts.csv")}
    assert problems[str(copy / "licenses/XSTest_CC-BY-4.0.txt")].startswith(
        "licence text missing; it covers xstest/xstest_prompts.csv"
    )
    assert "no licence text" in problems[str(copy / "xstest/extra_prompts.csv")]


def test_a_broken_shipped_item_file_names_its_line(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(data_dir(), copy)
    monkeypatch.setenv("PERSONA_LIB_DATA", str(copy))
    path = copy / "ifbench" / "IFBench_test.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + [lines[3][:40]] + lines[4:]) + "\n")
    [problem] = check_config(RunConfig(output_dir=str(tmp_path / "run"), datasets=["ifbench"])).errors
    assert problem.where == f"{path}, line 4"
    assert "truncated" in problem.what


def test_check_command_exit_codes(tmp_path, capsys):
    good = _write(tmp_path / "good.yaml", _scripted(tmp_path))
    assert main(["check", "--config", str(good)]) == 0
    assert capsys.readouterr().out.startswith(f"{good}: ok")
    bad = _write(tmp_path / "bad.yaml", _scripted(tmp_path, personas=["Nobody"]))
    assert main(["check", "--config", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "personas[0]: unknown persona 'Nobody'" in out
    assert main(["check", "--config", str(tmp_path / "absent.yaml")]) == 2
    assert "configuration file not found" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text("personas: [Gaston\nn_rounds: 4\n")
    assert main(["check", "--config", str(broken)]) == 2
    assert "not valid YAML" in capsys.readouterr().out


def test_set_overrides_fields_on_the_command_line(tmp_path, capsys):
    good = _write(tmp_path / "good.yaml", _scripted(tmp_path))
    assert main(["check", "--config", str(good), "--set", "personas=[Nobody]"]) == 2
    assert "personas[0]: unknown persona 'Nobody'" in capsys.readouterr().out
    assert main(["check", "--config", str(good), "--set", "judging.mdoe=both"]) == 2
    assert "judging.mdoe" in capsys.readouterr().out
    assert main(["check", "--config", str(good), "--set", "model.display_name=Robo", "--set", "n_rounds=5"]) == 0
    assert main(["plan", "--config", str(good), "--set", "personas=[Nobody]", "--no-tokenizer"]) == 2
    assert "Nobody" in capsys.readouterr().err
    assert main(["check", "--config", str(good), "--set", "n_rounds"]) == 2
    assert "write KEY=VALUE" in capsys.readouterr().err


def test_run_pipeline_checks_before_it_creates_anything(tmp_path):
    config = load_config(TEST_CONFIGS / "scripted.yaml", output_dir=str(tmp_path / "run"))
    bad = config.model_copy(update={"personas": ["Gaston", "Nobody"]})
    with pytest.raises(CheckFailed) as caught:
        run_pipeline(bad)
    assert [problem.field for problem in caught.value.report.errors] == ["personas[1]"]
    assert not (tmp_path / "run").exists()


def test_unknown_persona_fails_in_seconds_without_loading_a_model(tmp_path):
    """The issue's case: the bundled-model default configuration with a misspelt persona (`persona-eval run`)."""
    values = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    values["personas"] = ["Gaston", "HAL 900"]
    config = _write(tmp_path / "typo.yaml", values)
    probe = (
        "import sys; from persona_lib.cli import main; rc = main(sys.argv[1:]); "
        "loaded = sorted(m for m in ('torch', 'transformers', 'papermill', 'vllm') if m in sys.modules); "
        "print('LOADED', loaded); sys.exit(rc)"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", probe, "run", "--config", str(config), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 2, result.stderr
    assert "personas[1]: unknown persona 'HAL 900'" in result.stderr
    assert "did you mean 'HAL 9000'?" in result.stderr
    assert "LOADED []" in result.stdout
    assert not (tmp_path / "run").exists()
    assert seconds < 5, f"took {seconds:.1f} s"


def test_judging_fields_and_comparison_judges_are_checked(tmp_path):
    path = _write(
        tmp_path / "judging.yaml",
        {
            "output_dir": str(tmp_path / "run"),
            "judging": {"mod": "distribution"},
            "comparison_judges": [{"backend": "transformers", "model": str(tmp_path / "no-such-model")}],
        },
    )
    report = check_config_file(path)
    by_field = {problem.field: problem for problem in report.errors}
    assert by_field["judging.mod"].fix.startswith("did you mean 'mode'?")

    config = RunConfig(
        output_dir=str(tmp_path / "run"), comparison_judges=[ModelConfig(model=str(tmp_path / "no-such-model"))]
    )
    fields = _fields(check_config(config, stages=["validate"]))
    assert "comparison_judges[0].model" in fields
    assert "comparison_judges[0].model" not in _fields(check_config(config, stages=["score"]))
