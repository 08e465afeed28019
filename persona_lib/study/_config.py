"""Typed study configuration: one protocol, the models under test (with family and size), one judge.

A study is described by one YAML file (``configs/study-*.yaml``) whose top-level keys are the fields of
:class:`StudyConfig`. The protocol is a run configuration (:class:`~persona_lib.config.RunConfig`) given once,
either inline or as the path of a run configuration file; each model's run is that protocol with the model's own
backend settings as ``model`` and the study's judge as ``judge`` (:meth:`StudyConfig.run_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from persona_lib.config import ConfigError, ModelConfig, RunConfig, SamplingConfig
from persona_lib.paths import PROJECT_ROOT
from persona_lib.resolve import load_config

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudyModel(_Strict):
    """One model under test.

    Attributes:
        name: The model's name in the study: its run folder (``runs/<name>``) and the ``model`` column of the
            study's tables (e.g. ``gemma-3-4b-it``, as in the authors' released results).
        family: Model family; the size regressions group by persona x family.
        size: The study's size code: 1 = the small model of its family, 2 = the large one, 3 = an API model.
        display_name: Short name in figures (default: ``name``).
        gpus: GPUs one engine of this model needs (its tensor-parallel group); 0 for an API model. On a cluster
            without GPUs every engine takes one CPU instead.
        accelerator_type: On Ray, the GPU type its engine must run on (e.g. ``A100``, as the nodes advertise it);
            ``None``: any.
        model: The backend settings (``persona_lib.config.ModelConfig``: backend, model, context, extra...).
        generation: Decoding fields of the protocol's ``generation`` this model runs with instead (e.g. the study
            called Gemini with ``top_p: 0.95``); empty: the protocol's decoding unchanged.
    """

    name: str = Field(pattern=_NAME_PATTERN)
    family: str = Field(min_length=1)
    size: int = Field(ge=1)
    display_name: str | None = None
    gpus: int = Field(default=1, ge=0)
    accelerator_type: str | None = None
    model: ModelConfig
    generation: dict[str, Any] = Field(default_factory=dict)

    @field_validator("generation")
    @classmethod
    def _decoding_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        SamplingConfig(**value)  # unknown fields and invalid values fail here, naming the field
        return value

    @property
    def label(self) -> str:
        """The name shown in figures."""
        return self.display_name or self.name


class StudyJudge(_Strict):
    """The judge of every model's answers.

    Attributes:
        gpus: GPUs one judge engine needs (0 for an API judge).
        accelerator_type: On Ray, the GPU type the judge must run on (the judge's pool may use other GPUs than the
            models'); ``None``: any.
        model: The backend settings of the judge.
    """

    gpus: int = Field(default=1, ge=0)
    accelerator_type: str | None = None
    model: ModelConfig


class StudyConfig(_Strict):
    """Everything that determines a study; stored in the study folder as ``study.yaml``.

    Attributes:
        name: Short study name.
        output_dir: The study folder (per-worker stores, per-model run folders, the analysis).
        protocol: The run configuration every model is run with (inline, or the path of a run configuration
            file, relative to the study file). Its ``model`` and ``judge`` are replaced by each entry of
            ``models`` and by ``judge``.
        models: The models under test, each with its backend settings, family and size code.
        judge: The one judge of the study.
    """

    name: str = Field(default="study", pattern=_NAME_PATTERN)
    output_dir: str | None = None
    protocol: RunConfig
    models: list[StudyModel] = Field(min_length=1)
    judge: StudyJudge

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_from_file(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, (str, Path)):
            # Relative to the study file first, then to the working directory, then to the project.
            base = Path((info.context or {}).get("base_dir", "."))
            value = Path(value)
            candidates = [value] if value.is_absolute() else [base / value, value, PROJECT_ROOT / value]
            path = next((candidate for candidate in candidates if candidate.is_file()), candidates[0])
            return load_config(path)
        return value

    @model_validator(mode="after")
    def _distinct_models(self) -> StudyConfig:
        names = [model.name for model in self.models]
        model_ids = [model.model.model for model in self.models]
        for what, values in (("name", names), ("model.model", model_ids)):
            repeated = sorted({value for value in values if values.count(value) > 1})
            if repeated:
                raise ValueError(
                    f"models: {what} {repeated} is used by more than one entry; every model under test needs its own "
                    f"{what} (stored answers are keyed by it)"
                )
        return self

    @property
    def folder(self) -> str:
        """The study folder: ``output_dir``, or ``studies/<name>``."""
        return self.output_dir or f"studies/{self.name}"

    def entry(self, name: str) -> StudyModel:
        """The model entry called ``name``.

        Raises:
            KeyError: naming the study's models.
        """
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(f"the study has no model {name!r}; its models are {[m.name for m in self.models]}")

    def run_config(self, name: str, output_dir: str | Path | None = None) -> RunConfig:
        """The run configuration of one model: the protocol with this model under test and the study's judge.

        Args:
            name: The model's ``name`` in the study.
            output_dir: The run folder recorded in the configuration (default ``<study folder>/runs/<name>``).
        """
        entry = self.entry(name)
        folder = output_dir if output_dir is not None else Path(self.folder) / "runs" / name
        generation = self.protocol.generation.model_copy(update=entry.generation)
        return self.protocol.model_copy(
            update={
                "name": name,
                "output_dir": str(folder),
                "model": entry.model,
                "judge": self.judge.model,
                "generation": generation,
            }
        )

    def models_table(self) -> pd.DataFrame:
        """The models as a table: ``model`` (the study name), ``family``, ``size``, ``display_name``, ``backend``,
        ``model_id`` (the backend's model), in configuration order."""
        return pd.DataFrame(
            [
                {
                    "model": m.name,
                    "family": m.family,
                    "size": m.size,
                    "display_name": m.label,
                    "backend": m.model.backend,
                    "model_id": m.model.model,
                }
                for m in self.models
            ]
        )

    def to_yaml(self) -> str:
        """The resolved study configuration as YAML (the protocol inline)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def study_config_from_dict(
    values: Mapping[str, Any], source: str = "<parameters>", base_dir: str | Path = "."
) -> StudyConfig:
    """Validate a mapping of top-level fields into a :class:`StudyConfig`.

    Args:
        values: Top-level fields, as in a study YAML file.
        source: Where the values came from, used in error messages.
        base_dir: Folder a protocol path is relative to (the study file's folder).

    Raises:
        ConfigError: naming the source, each offending field and what is wrong with it.
    """
    try:
        return StudyConfig.model_validate(dict(values), context={"base_dir": str(base_dir)})
    except ValidationError as err:
        problems = []
        for issue in err.errors():
            field = ".".join(str(part) for part in issue["loc"]) or "(top level)"
            shown = issue.get("input")
            shown = "" if isinstance(shown, (dict, list)) else f" (got {shown!r})"
            problems.append(f"  - {field}: {issue['msg']}{shown}")
        raise ConfigError(f"invalid study configuration in {source}:\n" + "\n".join(problems)) from None


def load_study_config(path: str | Path, **overrides: Any) -> StudyConfig:
    """Load a study configuration from YAML, applying top-level overrides (``None`` values are ignored).

    Raises:
        ConfigError: if the file is missing, is not a mapping, or has invalid fields (naming file and field).
    """
    path = Path(path)
    if not path.is_file() and not path.is_absolute() and (PROJECT_ROOT / path).is_file():
        path = PROJECT_ROOT / path
    if not path.is_file():
        raise ConfigError(f"study configuration file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must be a mapping of study fields, got {type(values).__name__}")
    values.update({key: value for key, value in overrides.items() if value is not None})
    return study_config_from_dict(values, source=str(path), base_dir=path.parent)


def resolve_study_config(config: str | Path | Mapping[str, Any] | StudyConfig) -> StudyConfig:
    """The study configuration a notebook's ``config`` parameter stands for: a YAML path, a mapping or a config."""
    if isinstance(config, StudyConfig):
        return config
    if isinstance(config, Mapping):
        return study_config_from_dict(config, source="the notebook's config parameter")
    return load_study_config(config)
