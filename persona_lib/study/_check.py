"""``persona-eval check`` on a study configuration: every model's run checked before any engine starts.

Each model's run configuration (the protocol with that model and the study's judge,
:meth:`~persona_lib.study.StudyConfig.run_config`) goes through the run pre-flight
(:func:`~persona_lib.checks.check_config`), its engines checked against the GPUs the study gives them (``gpus``,
as Ray will place them) rather than those of the machine the check runs on. Problems are named by their place in
the study file (``models[3].model.extra.tensor_parallel_size``, ``judge.model.max_model_len``,
``protocol.generation.top_p``) and shown once even where several models share them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from persona_lib.checks import CheckReport, Problem, check_config
from persona_lib.config import ConfigError, ConfigFileError, apply_assignments, read_config_file
from persona_lib.study._config import StudyConfig, StudyModel, study_config_from_dict

STUDY_KEYS = frozenset({"models", "protocol"})
"""Top-level keys that make a configuration file a study's rather than a single run's."""


def is_study_values(values: Mapping[str, Any]) -> bool:
    """True when a configuration file's top-level fields describe a study (``models`` and ``protocol``)."""
    return bool(STUDY_KEYS & set(values))


def _study_field(field: str, index: int, entry: StudyModel) -> str:
    """Where a run-configuration field of model ``index`` sits in the study file."""
    section, _, rest = field.partition(".")
    if section == "model":
        return f"models[{index}].{field}"
    if section == "judge":
        return f"judge.model.{rest}" if rest else "judge.model"
    if section == "generation" and rest.split(".")[0] in entry.generation:
        return f"models[{index}].{field}"
    return f"protocol.{field}" if field else "protocol"


def _moved(problem: Problem, source: str, index: int, entry: StudyModel) -> Problem:
    """A run check's problem, its field named as in the study file (problems of other files stay as they are)."""
    if problem.where != source:
        return problem
    return Problem(source, _study_field(problem.field, index, entry), problem.what, problem.fix, problem.severity)


def _gpu_problems(gpus: int, config, field: str, source: str) -> list[Problem]:
    """A vLLM engine whose ``gpus`` differs from its tensor- x pipeline-parallel size, or an API model given GPUs."""
    tensor = int(config.extra.get("tensor_parallel_size", 1))
    pipeline = int(config.extra.get("pipeline_parallel_size", 1))
    if config.backend == "vllm" and gpus > tensor * pipeline:
        return [
            Problem(
                source,
                f"{field}.gpus",
                f"{gpus} GPUs reserved for an engine that uses {tensor * pipeline} (tensor_parallel_size {tensor}); "
                "Ray would hold the others idle",
                f"set gpus: {tensor * pipeline}, or raise tensor_parallel_size",
            )
        ]
    if config.backend == "openai" and gpus > 0:
        return [
            Problem(
                source,
                f"{field}.gpus",
                f"{gpus} GPU{'s' if gpus > 1 else ''} reserved for an API model, which runs on none",
                "set gpus: 0",
                "note",
            )
        ]
    return []


def check_study(config: StudyConfig, source: str, stages: Iterable[str] | None = None) -> CheckReport:
    """Check every model's run of a study without loading anything (see the module docstring).

    Args:
        config: The study configuration.
        source: The study file, named in the problems.
        stages: The stages to check for (default: all).

    Returns:
        One report for the whole study (``report.config`` is ``None``: a study has no single run configuration).
    """
    stages = list(stages) if stages is not None else None
    problems: list[Problem] = []
    seen: set[tuple[str, str, str]] = set()
    for index, entry in enumerate(config.models):
        gpus = {"model": entry.gpus, "judge": config.judge.gpus}
        report = check_config(config.run_config(entry.name), stages, source=source, engine_gpus=gpus)
        found = [_moved(problem, source, index, entry) for problem in report.problems]
        found += _gpu_problems(entry.gpus, entry.model, f"models[{index}]", source)
        for problem in found:
            key = (problem.where, problem.field, problem.what)
            if key not in seen:
                seen.add(key)
                problems.append(problem)
    for problem in _gpu_problems(config.judge.gpus, config.judge.model, "judge", source):
        problems.append(problem)
    summary = (
        f"study {config.name}: {len(config.models)} models ({', '.join(entry.name for entry in config.models)})",
        f"judge: {config.judge.model.backend} {config.judge.model.model} ({config.judge.gpus} GPU per engine)",
        f"study folder: {config.folder}",
    )
    return CheckReport(source, tuple(problems), summary)


def check_study_values(
    values: dict[str, Any],
    source: str | Path,
    stages: Iterable[str] | None = None,
    assignments: Mapping[str, Any] | None = None,
) -> CheckReport:
    """Check a study file's fields (read by :func:`persona_lib.config.read_config_file`) with ``--set`` applied.

    Args:
        values: The study file's top-level fields.
        source: The study file (its folder is where a relative ``protocol`` path starts).
        stages: The stages to check for (default: all).
        assignments: Dotted field paths and values replacing the file's (``--set judge.model.max_model_len=4096``).
    """
    source = str(source)
    try:
        apply_assignments(values, assignments, source)
        config = study_config_from_dict(values, source=source, base_dir=Path(source).parent)
    except (ConfigError, ConfigFileError) as err:
        return CheckReport(source, (Problem(source, "", str(err), "correct the fields named"),))
    return check_study(config, source, stages)


def check_study_file(
    path: str | Path, stages: Iterable[str] | None = None, assignments: Mapping[str, Any] | None = None
) -> CheckReport:
    """Read and check a study configuration file (see :func:`check_study_values`)."""
    try:
        values = read_config_file(path)
    except ConfigFileError as err:
        return CheckReport(str(path), (Problem(str(path), err.where, err.problem, err.fix),))
    return check_study_values(values, path, stages, assignments)
