"""The study configuration (typed, clear errors), its units, the deterministic shards, and the CLI's sub-commands."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from persona_lib.cli import main
from persona_lib.config import ConfigError
from persona_lib.paths import PROJECT_ROOT
from persona_lib.released import MODEL_INFO
from persona_lib.study import (
    WorkUnit,
    claims,
    load_study_config,
    parse_shard,
    resolve_study_config,
    select_shard,
    shard_of,
    study_provenance_markdown,
    study_units,
)

PAPER = PROJECT_ROOT / "configs" / "study-paper.yaml"
SMALL = {
    "name": "small",
    "protocol": {"personas": ["Gaston"], "n_rounds": 2, "checkpoints": [0, 2], "datasets": ["ifbench"]},
    "models": [
        {"name": "a", "family": "f", "size": 1, "model": {"backend": "scripted", "model": "scripted-a"}},
        {"name": "b", "family": "f", "size": 2, "model": {"backend": "scripted", "model": "scripted-b"}},
    ],
    "judge": {"gpus": 0, "model": {"backend": "scripted", "model": "judge"}},
}


def _write(tmp_path, values, name="study.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    return path


def test_the_paper_study_has_the_seven_models_with_their_size_codes_and_one_judge():
    config = load_study_config(PAPER)
    table = config.models_table()
    assert list(table["model"]) == list(MODEL_INFO)
    for row in table.itertuples():
        info = MODEL_INFO[row.model]
        assert (row.family, row.size, row.display_name) == (info.family, info.size, info.display_name)
    assert config.entry("gemini-2.5-flash").model.backend == "openai"
    assert {m.model.backend for m in config.models if m.size < 3} == {"vllm"}
    assert config.judge.model.model == "AtlaAI/Selene-1-Mini-Llama-3.1-8B"
    # The protocol is configs/paper.yaml, given once; each model's run swaps in its model and the judge.
    run = config.run_config("Qwen3-4B-Instruct-2507")
    assert run.n_rounds == 102 and run.model.model == "Qwen/Qwen3-4B-Instruct-2507"
    assert run.judge == config.judge.model and run.output_dir == "studies/paper/runs/Qwen3-4B-Instruct-2507"
    assert config.run_config("Llama-3.1-Nemotron-Nano-8B-v1").model.reasoning_off_system == "detailed thinking: off"
    assert config.run_config("Llama-3_3-Nemotron-Super-49B-v1").model.reasoning_off_system == "detailed thinking: off"
    assert {m.model.reasoning_off_system for m in config.models if "Nemotron" not in m.name} == {None}
    # Engines and decoding as the study's: cascade attention off, Gemini at top_p 0.95 with withheld answers as "null".
    assert all(m.model.extra["disable_cascade_attn"] for m in config.models if m.model.backend == "vllm")
    assert config.judge.model.extra["disable_cascade_attn"]
    gemini = config.run_config("gemini-2.5-flash")
    assert gemini.generation.top_p == 0.95 and gemini.model.extra["blocked_text"] == "null"
    assert gemini.generation.temperature == 0.0 and run.generation.top_p == 1.0
    assert [m.model.name_in_dialogue for m in config.models] == list(MODEL_INFO)
    provenance = study_provenance_markdown(config)
    assert "| Gemma3-27B | gemma | 2 | `vllm` · google/gemma-3-27b-it |" in provenance
    assert "**Judge:** `vllm` · AtlaAI/Selene-1-Mini-Llama-3.1-8B" in provenance and "scripted" not in provenance
    units = study_units(config)
    assert len(units) == 7 * 9 * 2  # models x (8 personas + baseline) x kinds
    assert len(claims(units)) == 7 * 9 and all(len(claim) == 2 for claim in claims(units))


def test_errors_name_the_file_and_the_field(tmp_path):
    bad = {**SMALL, "models": [{**SMALL["models"][0], "size": 0}, SMALL["models"][1]]}
    path = _write(tmp_path, bad)
    with pytest.raises(ConfigError, match=r"study.yaml:\n  - models\.0\.size: Input should be greater than or equal"):
        load_study_config(path)
    twice = {**SMALL, "models": [SMALL["models"][0], {**SMALL["models"][1], "name": "a"}]}
    with pytest.raises(ConfigError, match=r"models: name \['a'\] is used by more than one entry"):
        load_study_config(_write(tmp_path, twice))
    with pytest.raises(ConfigError, match=r"protocol: Value error, .*nowhere.yaml: configuration file not found"):
        load_study_config(_write(tmp_path, {**SMALL, "protocol": "nowhere.yaml"}))
    with pytest.raises(ConfigError, match=r"protocol\.n_rounds: Input should be less than or equal to 102"):
        load_study_config(_write(tmp_path, {**SMALL, "protocol": {"n_rounds": 500}}))
    with pytest.raises(ConfigError, match=r"judges: Extra inputs are not permitted"):
        load_study_config(_write(tmp_path, {**SMALL, "judges": []}))
    sloppy = {**SMALL, "models": [{**SMALL["models"][0], "generation": {"top_q": 0.9}}, SMALL["models"][1]]}
    with pytest.raises(ConfigError, match=r"models\.0\.generation\.top_q: Extra inputs are not permitted"):
        load_study_config(_write(tmp_path, sloppy))
    with pytest.raises(ConfigError, match="study configuration file not found"):
        load_study_config(tmp_path / "missing.yaml")


def test_a_protocol_path_is_read_relative_to_the_study_file(tmp_path):
    (tmp_path / "protocols").mkdir()
    _write(tmp_path / "protocols", {"personas": ["HAL 9000"], "n_rounds": 3, "datasets": ["xstest"]}, "run.yaml")
    config = load_study_config(_write(tmp_path, {**SMALL, "protocol": "protocols/run.yaml"}))
    assert config.protocol.personas == ["HAL 9000"] and config.protocol.n_rounds == 3
    assert resolve_study_config(config.model_dump(mode="json")) == config
    assert [unit.condition for unit in study_units(config)][:2] == ["HAL 9000", "HAL 9000"]


def test_shards_partition_the_units_keep_claims_together_and_balance_the_paper_study():
    units = study_units(load_study_config(PAPER))
    n_shards = 4
    shards = [select_shard(units, index, n_shards) for index in range(n_shards)]
    assert sorted(unit for shard in shards for unit in shard) == sorted(units)
    for claim in claims(units):
        assert len({shard_of(unit, n_shards) for unit in claim}) == 1
    sizes = Counter(shard_of(unit, n_shards) for unit in units)
    assert min(sizes.values()) >= 126 / n_shards / 2  # no shard starves
    assert select_shard(units, 1, n_shards) == select_shard(list(units), 1, n_shards)  # deterministic
    assert shard_of(WorkUnit("m", "Gaston", "goal_oriented"), 7) == shard_of(
        WorkUnit("m", "Gaston", "persona_directed"), 7
    )
    assert parse_shard(" 3/8 ") == (3, 8)
    for text in ("8/8", "-1/4", "a/b", "3"):
        with pytest.raises(ValueError, match="--shard must be i/N"):
            parse_shard(text)


def test_cli_study_help_lists_its_sub_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["study", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("run", "merge", "analyse", "status"):
        assert f"    {command} " in text


def test_cli_study_errors_are_one_line(tmp_path, capsys):
    assert main(["study", "status", "--study", str(tmp_path)]) == 2
    assert "is not a study folder (no study.yaml)" in capsys.readouterr().err
    assert main(["study", "run", "--shard", "2/2", "--config", str(_write(tmp_path, SMALL))]) == 2
    assert "--shard must be i/N" in capsys.readouterr().err


def test_ray_actor_options_give_each_engine_its_gpus_and_forward_the_environment(tmp_path, monkeypatch):
    from persona_lib.study import Study
    from persona_lib.study._ray import actor_options

    monkeypatch.setenv("GEMINI_API_KEY", "secret-from-the-driver")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = load_study_config(PAPER)
    typed = config.model_copy(update={"judge": config.judge.model_copy(update={"accelerator_type": "L4"})})
    study = Study.create(typed, tmp_path / "paper")
    large = actor_options(study, "Llama-3_3-Nemotron-Super-49B-v1", retries=2, has_gpus=True)
    assert (large["num_gpus"], large["num_cpus"], large["max_restarts"], large["max_task_retries"]) == (4, 1, 2, 2)
    assert large["runtime_env"]["env_vars"]["GEMINI_API_KEY"] == "secret-from-the-driver"
    assert large["runtime_env"]["env_vars"]["HF_HUB_OFFLINE"] == "1"
    assert "num_gpus" not in actor_options(study, "gemini-2.5-flash", retries=2, has_gpus=True)
    assert "num_gpus" not in actor_options(study, "gemma-3-4b-it", retries=2, has_gpus=False)  # a CPU cluster
    judge = actor_options(study, "judge", retries=2, has_gpus=True)
    assert (judge["num_gpus"], judge["accelerator_type"]) == (1, "L4")


def test_check_on_a_study_file_checks_every_models_run_and_names_fields_as_in_the_file(tmp_path, capsys):
    values = {**SMALL, "output_dir": str(tmp_path / "study")}
    assert main(["check", "--config", str(_write(tmp_path, values))]) == 0
    assert "study small: 2 models (a, b)" in capsys.readouterr().out

    wrong = {
        **values,
        "protocol": {**SMALL["protocol"], "personas": ["Gastn"]},
        "models": [
            {**SMALL["models"][0], "model": {"backend": "scripted", "model": "a", "batch_invariant": True}},
            {**SMALL["models"][1], "generation": {"top_p": 0.95}},
        ],
    }
    assert main(["check", "--config", str(_write(tmp_path, wrong, "wrong.yaml"))]) == 2
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  [error]")]
    assert [line.split(" · ")[1].split(":")[0] for line in errors] == [
        "protocol.personas[0]",  # once, though both models' runs have it
        "models[0].model.batch_invariant",
    ]
    assert "backend 'scripted' has no batch-invariant mode" in errors[1]


def test_a_study_reserving_more_gpus_than_its_engine_uses_is_told_so(tmp_path):
    from persona_lib.study import check_study_file

    values = {
        **SMALL,
        "output_dir": str(tmp_path / "study"),
        "models": [{**SMALL["models"][0], "gpus": 2, "model": {"backend": "vllm", "model": "org/a"}}],
        "judge": {"gpus": 1, "model": {"backend": "openai", "model": "judge", "base_url": "http://127.0.0.1:1/v1"}},
    }
    report = check_study_file(_write(tmp_path, values))
    gpus = {problem.field: (problem.severity, problem.what) for problem in report.problems if "gpus" in problem.field}
    assert gpus == {
        "models[0].gpus": (
            "error",
            "2 GPUs reserved for an engine that uses 1 (tensor_parallel_size 1); Ray would hold the others idle",
        ),
        "judge.gpus": ("note", "1 GPU reserved for an API model, which runs on none"),
    }
