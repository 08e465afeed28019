"""Tests for persona_lib.config: defaults, checkpoints, validation errors and the shipped YAML configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from persona_lib.benchmarks import SPECS, load_items
from persona_lib.config import (
    ALL_DATASETS,
    BUNDLED_MODEL,
    ConfigError,
    RunConfig,
    config_from_dict,
    load_config,
)
from persona_lib.dialogues import DIALOGUE_KINDS, load_script
from persona_lib.personas import select_personas

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def test_defaults_follow_the_protocol():
    config = RunConfig()
    assert config.n_rounds == 102 and config.n_checkpoints == 10 and config.checkpoints is None
    assert config.personas == ["all"] and config.include_baseline and config.shuffled_replicate
    assert config.dialogue_kinds == list(DIALOGUE_KINDS)
    assert config.datasets == ["bfi", "rolebench_specific", "ifbench", "xstest"]
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
        ({"datasets": ["xs_test"]}, "datasets.0"),
        ({"dialogue_kinds": ["interview"]}, "dialogue_kinds.0"),
        ({"model": {"backend": "llamacpp"}}, "model.backend"),
        ({"generation": {"temperature": -1}}, "generation.temperature"),
        ({"judging": {"max_new_tokens": 0}}, "judging.max_new_tokens"),
        ({"checkpoints": [-1, 5]}, "checkpoints"),
        ({"item_limit": {"bfi": "six"}}, "item_limit.bfi"),
    ],
)
def test_bad_values_give_config_error_naming_the_field(values, field):
    with pytest.raises(ConfigError) as info:
        config_from_dict(values, source="test.yaml")
    message = str(info.value)
    assert message.startswith("invalid run configuration in test.yaml")
    assert f"  - {field}:" in message


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"n_rounds": 12, "checkpoints": [0, 20]}, "checkpoint 20 exceeds n_rounds=12"),
        ({"datasets": ["rolebench_general"]}, "needs general_instructions_file"),
        ({"model": {"backend": "openai", "model": "gpt"}}, "needs base_url"),
    ],
)
def test_inconsistent_values_give_config_error(values, fragment):
    with pytest.raises(ConfigError, match=fragment):
        config_from_dict(values)


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
    assert config.datasets == ["bfi", "rolebench_specific", "ifbench", "xstest"] and config.item_limit == {}
    assert config.model.backend == "vllm" and config.judge.backend == "vllm"
    assert config.judge.model == "AtlaAI/Selene-1-Mini-Llama-3.1-8B"
    assert config.generation.temperature == 0.0 and config.generation.max_new_tokens == 8192
    assert config.judging.max_new_tokens == 1024


def test_default_config_is_the_small_cpu_run():
    config = load_config(CONFIGS / "default.yaml")
    personas = select_personas(config.personas, config.custom_persona_files)
    assert [p.name for p in personas] == ["Gaston", "HAL 9000"]
    assert [p.has_bfi_labels for p in personas] == [True, False]
    assert config.model.backend == "transformers" and config.model.model == BUNDLED_MODEL
    assert config.judge.model == BUNDLED_MODEL
    assert config.n_rounds == 8 and config.resolved_checkpoints() == [0, 4, 8] and not config.shuffled_replicate
    assert config.generation.max_new_tokens == 48 and config.judging.max_new_tokens == 64
    assert set(config.item_limit) == set(config.datasets) <= set(ALL_DATASETS) and set(config.datasets) <= set(SPECS)
    for dataset in config.datasets:
        limit = config.item_limit[dataset]
        assert len(load_items(dataset, persona="Gaston", limit=limit, seed=config.seed)) == limit
    bfi_items = load_items("bfi", limit=config.item_limit["bfi"], seed=config.seed)
    assert len({item.meta["dimension"] for item in bfi_items}) == 5
    for kind in config.dialogue_kinds:
        assert len(load_script(kind, config.model.name_in_dialogue, n_rounds=config.n_rounds)) == 8
