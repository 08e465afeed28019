"""Pre-flight checks: everything that can be found wrong before a model loads, found in one pass.

``persona-eval check --config FILE`` runs them and reports every problem at once — the file, the field, what is
wrong and how to fix it — and ``persona-eval run`` runs them before any notebook starts
(:func:`require_runnable`). Nothing is loaded, downloaded or written (one empty file is created and removed to
prove the run folder is writable).

Checked: the configuration's fields (all invalid ones at once, with the closest valid name for a misspelt one);
persona names, custom persona files and their fields; dataset item files (the shipped ones and ``dataset_files``)
and the licence texts covering the shipped data (:mod:`persona_lib.checks._licences`); item limits against dataset
sizes; checkpoints against rounds; the human-validation samples and ``judge_validation_items``; the model and the
judge (backend library installed, ``bundled:`` name, local folder, hub id and cache, the API key variable, the
engine arguments and decoding settings against the backend's installed library: vLLM's EngineArgs and
SamplingParams); the run folder (writable, free space, not in use by another run, its response store sound).

>>> from persona_lib.checks import check_config
>>> from persona_lib.config import RunConfig
>>> report = check_config(RunConfig(personas=["Gastn"], output_dir="/tmp/persona-check-doctest"))
>>> [problem.field for problem in report.errors]
['personas[0]']
>>> report.errors[0].fix.split("?")[0]
"did you mean 'Gaston'"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from persona_lib.checks._config_file import read_values, validate_values
from persona_lib.checks._datasets import check_items, check_validation
from persona_lib.checks._licences import check_licences
from persona_lib.checks._models import check_model
from persona_lib.checks._output import check_output
from persona_lib.checks._personas import check_personas
from persona_lib.checks._report import CheckFailed, CheckReport, Problem
from persona_lib.config import RunConfig
from persona_lib.contract import SamplingParams
from persona_lib.datasets import get_dataset
from persona_lib.generation import sampling_params
from persona_lib.judging import VERDICT_LABELS, judge_modes, judge_sampling
from persona_lib.personas import BASELINE
from persona_lib.resolve import resolution_problems

ALL_STAGES: tuple[str, ...] = ("generate", "score", "validate", "analyse", "reproduce")


def _checkpoint_problems(config: RunConfig, source: str) -> list[Problem]:
    if config.checkpoints is not None:
        if "n_checkpoints" in config.model_fields_set:
            return [
                Problem(
                    source,
                    "n_checkpoints",
                    f"ignored: checkpoints {config.checkpoints} are listed explicitly",
                    "remove one of n_checkpoints and checkpoints",
                    "note",
                )
            ]
        return []
    distinct = config.n_rounds + 1
    if config.n_checkpoints > distinct:
        return [
            Problem(
                source,
                "n_checkpoints",
                f"{config.n_checkpoints} checkpoints asked, but rounds 0..."
                f"{config.n_rounds} give only {distinct} distinct ones",
                f"set n_checkpoints to at most {distinct}, or list checkpoints explicitly",
            )
        ]
    return []


def _judge_requests(config: RunConfig) -> list[tuple[str, SamplingParams]]:
    """The judge's decoding settings: its generated verdicts and, in the distribution modes, its label reads."""
    requests = [("judging", judge_sampling(config))]
    if "distribution" in judge_modes(config):
        requests.append(("judging", judge_sampling(config, distribution_of=next(iter(VERDICT_LABELS)))))
    return requests


def _judge_needed(config: RunConfig, stages: Iterable[str]) -> bool:
    stages = set(stages)
    judged = any(get_dataset(name).judged for name in config.datasets)
    return "validate" in stages or ("score" in stages and judged)


def _summary(config: RunConfig, personas: list, asked: dict[str, int], stages: list[str]) -> tuple[str, ...]:
    conditions = [persona.name for persona in personas] + ([BASELINE] if config.include_baseline else [])
    items = ", ".join(f"{name} ({asked[name]} items)" if name in asked else name for name in config.datasets)
    return (
        f"stages: {', '.join(stages)}",
        f"conditions: {', '.join(conditions)}; dialogues: {', '.join(config.dialogue_kinds)}, {config.n_rounds} "
        f"rounds{', with shuffled replicate' if config.shuffled_replicate else ''}",
        f"checkpoints: {config.resolved_checkpoints()}; datasets: {items}",
        f"model: {config.model.backend} {config.model.model}; judge: {config.judge.backend} {config.judge.model}",
        f"run folder: {config.output_dir}",
    )


def check_config(
    config: RunConfig,
    stages: Iterable[str] | None = None,
    source: str = "<configuration>",
    skip_fields: Iterable[str] = (),
    engine_gpus: Mapping[str, int] | None = None,
) -> CheckReport:
    """Check a validated configuration for everything that would stop its run, without loading a model.

    Args:
        config: The run configuration.
        stages: The stages that will run (default: all); the model is checked for ``generate``, the judge for
            ``score`` (if a dataset is judged) and ``validate``.
        source: The configuration file, named in the problems.
        skip_fields: Top-level fields already reported invalid (their checks are skipped).
        engine_gpus: GPUs a scheduler gives the engines of ``model`` and ``judge`` (a study on Ray); an engine
            left out is checked against the GPUs visible on this machine.

    Returns:
        The report (``report.ok`` is False when something would stop the run).
    """
    stages = list(stages) if stages is not None else list(ALL_STAGES)
    skip = set(skip_fields)
    gpus = dict(engine_gpus or {})
    try:
        config, unresolved = resolution_problems(config)
    except ValueError as err:  # one of the run's own dataset or backend modules does not import
        return CheckReport(
            source,
            (
                Problem(
                    source,
                    "dataset_modules / backend_modules",
                    str(err),
                    "correct the module name or make it importable",
                ),
            ),
        )
    problems = [Problem(source, problem.field, problem.what, problem.fix) for problem in unresolved]
    skip |= {problem.field.split(".")[0].split("[")[0] for problem in unresolved}
    persona_problems, personas = check_personas(config, source)
    problems += persona_problems
    asked: dict[str, int] = {}
    if not skip & {"datasets", "dataset_files", "item_limit"}:
        item_problems, asked = check_items(config, source, personas)
        problems += item_problems
    problems += _checkpoint_problems(config, source)
    problems += check_licences(config.dataset_files, source)
    if "validate" in stages:
        problems += check_validation(config, source)
        for index, judge in enumerate(config.comparison_judges):
            problems += check_model(judge, f"comparison_judges[{index}]", source, _judge_requests(config))
    if "generate" in stages and "model" not in skip:
        requests = [("generation", sampling_params(config.generation))]
        problems += check_model(config.model, "model", source, requests, gpus.get("model"))
    if "judge" not in skip and ("datasets" in skip or _judge_needed(config, stages)):
        problems += check_model(config.judge, "judge", source, _judge_requests(config), gpus.get("judge"))
    if "output_dir" not in skip:
        problems += check_output(config, source)
    if "reproduce" in stages and config.authors_repo:
        problems += _release_problems(config.authors_repo, source)
    runnable = not any(problem.severity == "error" for problem in problems) and not skip_fields
    return CheckReport(source, tuple(problems), _summary(config, personas, asked, stages), config if runnable else None)


def _release_problems(authors_repo: str, source: str) -> list[Problem]:
    """``authors_repo`` must be a clone holding the release's judge outputs (the reproduce stage reads them)."""
    from persona_lib.authors_release import CloneError, check_clone

    try:
        check_clone(authors_repo)
    except CloneError as err:
        fix = "run `make release` (or `persona-eval fetch-release`) and pass the folder it prints, or set null"
        return [Problem(source, "authors_repo", str(err), fix)]
    return []


def check_config_file(
    path: str | Path,
    stages: Iterable[str] | None = None,
    overrides: dict[str, Any] | None = None,
    assignments: dict[str, Any] | None = None,
) -> CheckReport:
    """Read a YAML configuration and check it: every problem of the file and of the run it describes, at once.

    Args:
        path: The YAML configuration.
        stages: The stages that will run (default: all).
        overrides: Top-level fields replacing the file's (e.g. ``{"output_dir": ...}`` from ``--out``).
        assignments: Dotted field paths and values replacing the file's (``--set model.model=...``).
    """
    values, problems = read_values(path, overrides, assignments)
    if values is None:
        return CheckReport(str(path), tuple(problems))
    config, problems, invalid = validate_values(values, str(path))
    if config is None:
        return CheckReport(str(path), tuple(problems))
    report = check_config(config, stages, source=str(path), skip_fields=invalid)
    return CheckReport(str(path), tuple(problems) + report.problems, report.summary, report.config)


def require_runnable(
    config: RunConfig, stages: Iterable[str] | None = None, source: str = "<configuration>"
) -> CheckReport:
    """Check a configuration and raise if anything would stop its run (what ``persona-eval run`` does first).

    Returns:
        The report (it may hold notes).

    Raises:
        CheckFailed: listing every problem, when there is at least one error.
    """
    report = check_config(config, stages, source)
    if not report.ok:
        raise CheckFailed(report)
    return report


__all__ = [
    "ALL_STAGES",
    "CheckFailed",
    "CheckReport",
    "Problem",
    "check_config",
    "check_config_file",
    "require_runnable",
    "validate_values",
]
