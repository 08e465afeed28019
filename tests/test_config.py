"""Tests for persona_lib.config: defaults, checkpoints, validation errors and the shipped YAML configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from persona_lib.config import (
    BUNDLED_MODEL,
    NEMOTRON_REASONING_OFF,
    ConfigError,
    RunConfig,
    config_from_dict,
    parse_assignments,
)
from persona_lib.datasets import get_dataset, load_items
from persona_lib.dialogues import DIALOGUE_KINDS, load_script
from persona_lib.personas import select_personas
from persona_lib.resolve import load_config, resolve_config, resolve_run_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def test_defaults_follow_the_protocol():
    config = RunConfig()
    assert config.n_rounds == 102 and config.n_checkpoints == 10 and config.checkpoints is None
    assert config.personas == ["all"] and config.include_baseline and config.shuffled_replicate
    assert config.dialogue_kinds == list(DIALOGUE_KINDS)
    assert config.datasets is None  # the default set, filled in by resolving
    assert sorted(resolve_run_config(config).datasets) == ["bfi", "fidelity", "ifbench", "rolebench_specific", "xstest"]
    assert config.dataset_files == {} and config.dataset_modules == []
    assert config.generation.temperature == 0.0 and config.generation.max_new_tokens == 8192
    assert config.judging.max_new_tokens == 512
    assert config.model.backend == "transformers" and config.model.model == BUNDLED_MODEL
    assert config.model.name_in_dialogue == "SmolLM2-135M-Instruct"
    assert config.item_limit == {} and config.seed == 0


def test_resolved_checkpoints_for_102_rounds_and_10_checkpoints():
    config = RunConfig(n_rounds=102, n_checkpoints=10)
    assert config.resolved_checkpoints() == [0, 11, 22, 34, 45, 56, 68, 79, 90, 102]
    assert config.resolved_checkpoints() == [int(t) for t in np.linspace(0, 102, 10)]
    assert RunConfig(n_rounds=12, checkpoints=[12, 0, 6, 6]).resolved_checkpoints() == [0, 6, 12]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"n_rounds": 0}, "n_rounds"),
        ({"n_rounds": 103}, "n_rounds"),
        ({"n_round": 12}, "n_round"),
        ({"datasets": ["xs_test"]}, "datasets"),
        ({"item_limit": {"xs_test": 3}}, "item_limit.xs_test"),
        ({"dataset_files": {"xs_test": "x.csv"}}, "dataset_files.xs_test"),
        ({"item_limit": {"bfi": 0}}, "item_limit"),
        ({"dataset_modules": ["no_such_module_here"]}, "(top level)"),
        ({"dialogue_kinds": ["interview"]}, "dialogue_kinds.0"),
        ({"model": {"backend": "llamacpp"}}, "model.backend"),
        ({"generation": {"temperature": -1}}, "generation.temperature"),
        ({"judging": {"max_new_tokens": 0}}, "judging.max_new_tokens"),
        ({"checkpoints": [-1, 5]}, "checkpoints"),
        ({"n_checkpoints": 16_557_719_746}, "n_checkpoints"),  # found by Hypothesis: linspace of 16e9 points
        ({"item_limit": {"bfi": "six"}}, "item_limit.bfi"),
    ],
)
def test_bad_values_give_config_error_naming_the_field(values, field):
    with pytest.raises(ConfigError) as info:
        _resolved(values)
    message = str(info.value)
    assert message.startswith("invalid run configuration in test.yaml")
    assert f"  - {field}:" in message


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"n_rounds": 12, "checkpoints": [0, 20]}, "checkpoint 20 exceeds n_rounds=12"),
        ({"datasets": ["rolebench_general"]}, r"ships no items.*dataset_files: \{rolebench_general:"),
        ({"datasets": ["ifbench"], "item_limit": {"bfi": 3}}, r"item_limit: names dataset\(s\) \['bfi'\]"),
        ({"model": {"backend": "openai", "model": "gpt"}}, "needs base_url"),
    ],
)
def test_inconsistent_values_give_config_error(values, fragment):
    with pytest.raises(ConfigError, match=fragment):
        _resolved(values)


def _resolved(values):
    """Shape first (RunConfig), then the registries (the resolve step), as load_config does."""
    return resolve_run_config(config_from_dict(values, source="test.yaml"), source="test.yaml")


def test_resolving_is_idempotent_and_the_configuration_imports_no_registry():
    resolved = resolve_run_config(RunConfig())
    assert resolve_run_config(resolved) is resolved
    assert RunConfig(datasets=["ifbench"]).datasets == ["ifbench"]  # names are not looked up by the shape
    assert RunConfig(model={"backend": "anything"}).model.backend == "anything"


def test_load_config_file_errors_and_overrides(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "missing.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(listing)
    path = tmp_path / "run.yaml"
    path.write_text("n_rounds: 20\nn_checkpoints: 3\n")
    config = load_config(path, n_rounds=10, seed=None)
    assert config.n_rounds == 10 and config.seed == 0
    assert config.resolved_checkpoints() == [0, 5, 10]
    saved = tmp_path / "saved.yaml"
    saved.write_text(config.to_yaml())
    assert load_config(saved) == config


def test_paper_config_is_the_full_protocol():
    config = load_config(CONFIGS / "paper.yaml")
    assert config.personas == ["all"] and config.include_baseline
    assert len(select_personas(config.personas, config.custom_persona_files)) == 8
    assert config.dialogue_kinds == list(DIALOGUE_KINDS) and config.n_rounds == 102 and config.shuffled_replicate
    assert config.resolved_checkpoints() == [0, 11, 22, 34, 45, 56, 68, 79, 90, 102]
    assert config.datasets == ["fidelity", "bfi", "rolebench_specific", "ifbench", "xstest"]
    assert config.item_limit == {} and config.judge_validation_items is None
    assert config.model.backend == "vllm" and config.judge.backend == "vllm"
    assert config.judge.model == "AtlaAI/Selene-1-Mini-Llama-3.1-8B"
    assert config.generation.temperature == 0.0 and config.generation.max_new_tokens == 8192
    assert config.judging.max_new_tokens == 8192 and config.judging.truncate_prompt_tokens == 8192
    assert config.judging.unparsed == "study" and config.bfi_label_source == "annotation"
    # Engine settings as the study's: its context, cascade attention off for model and judge.
    assert config.model.max_model_len == 128000
    assert config.model.extra["disable_cascade_attn"] and config.judge.extra["disable_cascade_attn"]
    assert config.shuffle_seed == 42 and config.seed == 0
    # No other model's name is pinned: the baseline is addressed by the id's last part, as in the study.
    assert config.model.display_name is None and config.model.name_in_dialogue == "Qwen3-4B-Instruct-2507"
    assert config.model.reasoning_off_system is None


def test_set_replaces_fields_by_dotted_path_and_a_nemotron_id_brings_the_study_switch():
    nemotron = load_config(CONFIGS / "paper.yaml", {"model.model": "nvidia/Llama-3.1-Nemotron-Nano-8B-v1"})
    assert nemotron.model.name_in_dialogue == "Llama-3.1-Nemotron-Nano-8B-v1"
    assert nemotron.model.reasoning_off_system == NEMOTRON_REASONING_OFF == "detailed thinking: off"
    assert nemotron.model.extra == {"disable_cascade_attn": True}  # the rest of the section is kept
    switched_off = load_config(
        CONFIGS / "paper.yaml",
        {"model.model": "nvidia/Llama-3.1-Nemotron-Nano-8B-v1", "model.reasoning_off_system": None},
    )
    assert switched_off.model.reasoning_off_system is None
    assert parse_assignments(["judging.mode=both", "seed=3", "model.extra.tensor_parallel_size=2", "x.y=null"]) == {
        "judging.mode": "both",
        "seed": 3,
        "model.extra.tensor_parallel_size": 2,
        "x.y": None,
    }
    with pytest.raises(ConfigError, match="write KEY=VALUE"):
        parse_assignments(["model.model"])
    with pytest.raises(ConfigError, match="cannot set seed.x .*seed is 0, not a mapping"):
        load_config(CONFIGS / "paper.yaml", {"seed.x": 1})
    with pytest.raises(ConfigError, match="judging.mdoe"):
        load_config(CONFIGS / "paper.yaml", {"judging.mdoe": "both"})


def test_default_config_is_the_small_cpu_run():
    config = load_config(CONFIGS / "default.yaml")
    personas = select_personas(config.personas, config.custom_persona_files)
    assert [p.name for p in personas] == ["Gaston", "HAL 9000"]
    assert [p.has_bfi_labels for p in personas] == [True, False]
    assert config.model.backend == "transformers" and config.model.model == BUNDLED_MODEL
    assert config.judge.model == BUNDLED_MODEL
    assert config.n_rounds == 12 and config.resolved_checkpoints() == [0, 6, 12] and not config.shuffled_replicate
    assert config.generation.max_new_tokens == 48 and config.judging.max_new_tokens == 64
    asked = [name for name in config.datasets if get_dataset(name).asked_at_checkpoints]
    assert set(config.item_limit) == set(asked) and "fidelity" in config.datasets
    for dataset in asked:
        limit = config.item_limit[dataset]
        assert len(load_items(dataset, persona="Gaston", limit=limit, seed=config.seed)) == limit
    bfi_items = load_items("bfi", limit=config.item_limit["bfi"], seed=config.seed)
    assert len({item.meta["dimension"] for item in bfi_items}) == 5
    for kind in config.dialogue_kinds:
        assert len(load_script(kind, config.model.name_in_dialogue, n_rounds=config.n_rounds)) == 12


def test_unknown_dataset_error_lists_the_registered_ones():
    with pytest.raises(ConfigError) as info:
        _resolved({"datasets": ["xs_test"]})
    message = str(info.value)
    assert "unknown dataset 'xs_test'" in message
    for name in ("fidelity", "bfi", "rolebench_specific", "rolebench_general", "ifbench", "xstest"):
        assert name in message
    assert "register_dataset" in message and "dataset_modules" in message


def test_resolve_config_accepts_a_path_a_mapping_or_a_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path falls back to the project root
    from_path = resolve_config("configs/default.yaml")
    assert from_path == load_config(CONFIGS / "default.yaml")
    assert resolve_config(from_path.model_dump(mode="json")) == from_path
    assert resolve_config(from_path) is from_path
    with pytest.raises(ConfigError, match="n_rounds"):
        resolve_config({"n_rounds": -1})
