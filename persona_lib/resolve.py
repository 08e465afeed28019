"""From a configuration to the run it describes: one step, above the registries, used by every entry point.

:mod:`persona_lib.config` checks a configuration's shape. Resolving it (:func:`resolve_run_config`) does what needs
the registries: it imports the run's own ``dataset_modules`` and ``backend_modules``, fills in the default datasets,
and checks that every dataset and backend name is registered, that a dataset which ships no items has a file, and
that item limits name datasets of the run; it makes every path absolute (:func:`absolute_paths`, the one rule for
relative paths: they start at the folder the command runs from). :func:`load_config` (a YAML file),
:func:`resolve_config` (a notebook's ``config`` parameter) and :class:`persona_lib.run.Run` all resolve, so the
pipeline, the checks, the plan, the notebooks and the study read one resolved configuration. Resolving a resolved
configuration returns it unchanged.

The run's conditions are listed here too, once (:func:`run_conditions`): the selected personas, then the
no-persona baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from persona_lib.backends import UnknownBackendError, get_backend, import_backend_modules
from persona_lib.config import (
    ConfigError,
    ModelConfig,
    RunConfig,
    apply_assignments,
    config_from_dict,
    read_config_file,
)
from persona_lib.datasets import UnknownDatasetError, dataset_names, get_dataset, import_dataset_modules
from persona_lib.paths import PROJECT_ROOT
from persona_lib.personas import BASELINE, Persona, select_personas


class Condition(NamedTuple):
    """One condition of a run: a persona, or the no-persona baseline (``persona`` None, ``name`` ``empty``)."""

    name: str
    persona: Persona | None


class ResolutionProblem(NamedTuple):
    """A name the registries do not know, or a dataset setting that cannot work: field, what, how to fix it."""

    field: str
    what: str
    fix: str


def default_datasets() -> list[str]:
    """Every registered dataset that needs no file from the user and belongs to a default run."""
    specs = [get_dataset(name) for name in dataset_names()]
    return [spec.name for spec in specs if spec.user_file_hint is None and spec.in_default_run]


def item_file(config: RunConfig, dataset: str) -> str | None:
    """The item file configured for ``dataset``, or for the dataset whose items it asks (``None``: the shipped one)."""
    base = get_dataset(dataset).same_items_as
    return config.dataset_files.get(dataset, config.dataset_files.get(base) if base else None)


def item_limit(config: RunConfig, dataset: str) -> int | None:
    """The item limit of ``dataset``, or of the dataset whose items it asks (``None``: every item)."""
    base = get_dataset(dataset).same_items_as
    return config.item_limit.get(dataset, config.item_limit.get(base) if base else None)


def _model_problems(model: ModelConfig, field: str) -> list[ResolutionProblem]:
    try:
        spec = get_backend(model.backend)
    except UnknownBackendError as err:
        what, fix = str(err).split("; ", 1)
        return [ResolutionProblem(f"{field}.backend", what, fix)]
    if spec.needs_base_url and not model.base_url:
        return [
            ResolutionProblem(
                f"{field}.base_url",
                f"backend {model.backend!r} needs base_url",
                "set the endpoint, e.g. base_url: http://127.0.0.1:8000/v1",
            )
        ]
    return []


def _dataset_problems(config: RunConfig, datasets: list[str]) -> list[ResolutionProblem]:
    problems = []
    for field, names in (
        ("datasets", datasets),
        ("dataset_files", config.dataset_files),
        ("item_limit", config.item_limit),
    ):
        for name in names:
            try:
                get_dataset(name)
            except UnknownDatasetError as err:
                what, fix = str(err).split("; ", 1)
                problems.append(ResolutionProblem(f"{field}.{name}" if field != "datasets" else field, what, fix))
    if problems:
        return problems
    for name in datasets:
        hint = get_dataset(name).user_file_hint
        if hint and item_file(config, name) is None:
            problems.append(
                ResolutionProblem(
                    f"dataset_files.{name}",
                    f"dataset {name!r} ships no items",
                    f"put them in a file (e.g. {hint}) and name it under dataset_files: {{{name}: {hint}}} "
                    "(see data/SOURCES.md)",
                )
            )
    unused = sorted(set(config.item_limit) - set(datasets))
    if unused:
        problems.append(
            ResolutionProblem(
                "item_limit",
                f"names dataset(s) {unused} that are not in datasets {datasets}",
                "add them to datasets, or remove their limits",
            )
        )
    return problems


def resolution_problems(config: RunConfig) -> tuple[RunConfig, list[ResolutionProblem]]:
    """Resolve ``config``, collecting every problem instead of stopping at the first (what ``check`` reports).

    Returns:
        The resolved configuration (its ``datasets`` filled in even when there are problems) and the problems.

    Raises:
        ValueError: when one of the run's own modules cannot be imported.
    """
    import_dataset_modules(config.dataset_modules)
    import_backend_modules(config.backend_modules)
    datasets = list(config.datasets) if config.datasets is not None else default_datasets()
    problems = _dataset_problems(config, datasets)
    for field, model in (
        ("model", config.model),
        ("judge", config.judge),
        *((f"comparison_judges[{i}]", judge) for i, judge in enumerate(config.comparison_judges)),
    ):
        problems += _model_problems(model, field)
    update = {"datasets": datasets, **absolute_paths(config)}
    changed = {key: value for key, value in update.items() if getattr(config, key) != value}
    return (config.model_copy(update=changed) if changed else config), problems


def absolute_paths(config: RunConfig, base: str | Path | None = None) -> dict[str, Any]:
    """The configuration's file and folder fields made absolute: the one rule for relative paths.

    A relative path starts at ``base`` (default: the folder the command runs from). ``output_dir`` defaults to
    ``runs/<name>``, a folder of the run's own.

    Returns:
        ``output_dir``, ``custom_persona_files``, ``dataset_files`` and ``authors_repo``, absolute.
    """
    base = Path.cwd() if base is None else Path(base)

    def absolute(path: str) -> str:
        return str((base / Path(path).expanduser()).absolute())

    return {
        "output_dir": absolute(config.output_dir or f"runs/{config.name}"),
        "custom_persona_files": [absolute(path) for path in config.custom_persona_files],
        "dataset_files": {name: absolute(path) for name, path in config.dataset_files.items()},
        "authors_repo": absolute(config.authors_repo) if config.authors_repo else None,
    }


def resolve_run_config(config: RunConfig, source: str = "<configuration>") -> RunConfig:
    """The configuration a run executes: its modules imported, default datasets filled in, every name checked.

    Args:
        config: A configuration of valid shape.
        source: Where it came from, named in the error.

    Raises:
        ConfigError: naming the source, each offending field and how to fix it.
    """
    try:
        resolved, problems = resolution_problems(config)
    except ValueError as err:
        raise ConfigError(f"invalid run configuration in {source}:\n  - (top level): {err}") from None
    if problems:
        lines = [f"  - {problem.field}: {problem.what}; {problem.fix}" for problem in problems]
        raise ConfigError(f"invalid run configuration in {source}:\n" + "\n".join(lines))
    return resolved


def load_config(path: str | Path, assignments: Mapping[str, Any] | None = None, **overrides: Any) -> RunConfig:
    """Read, validate and resolve a YAML run configuration (the file is read once).

    Args:
        path: A YAML file whose top-level keys are :class:`~persona_lib.config.RunConfig` fields.
        assignments: Dotted field paths and values replacing the file's (``--set``;
            :func:`persona_lib.config.apply_assignments`).
        **overrides: Top-level fields replacing the file's values (``None`` values are ignored).

    Raises:
        ConfigError: if the file is missing or unreadable, or a field is invalid (naming the file and the field).
    """
    values = read_config_file(path)
    values.setdefault("name", Path(path).stem)  # a run of its own, named after its file
    apply_assignments(values, assignments, str(path))
    values.update({key: value for key, value in overrides.items() if value is not None})
    return resolve_run_config(config_from_dict(values, source=str(path)), source=str(path))


def resolve_config(config: str | Path | Mapping[str, Any] | RunConfig) -> RunConfig:
    """The resolved run configuration a notebook's single ``config`` parameter stands for.

    ``persona-eval run`` passes the resolved configuration as a mapping; a reader re-running a chapter by hand
    passes the path of a YAML file (the notebooks' default is ``configs/default.yaml``, relative to the project).

    Args:
        config: A YAML path (absolute, or relative to the working directory or the project root), a mapping of
            :class:`~persona_lib.config.RunConfig` fields, or a configuration.

    Raises:
        ConfigError: for a missing file or invalid fields.
    """
    if isinstance(config, RunConfig):
        return resolve_run_config(config)
    if isinstance(config, Mapping):
        source = "the notebook's config parameter"
        return resolve_run_config(config_from_dict(dict(config), source=source), source=source)
    path = Path(config)
    if not path.is_file() and not path.is_absolute() and (PROJECT_ROOT / path).is_file():
        path = PROJECT_ROOT / path
    return load_config(path)


def run_personas(config: RunConfig) -> list[Persona]:
    """The personas a run selects, in order (``personas`` from ``data/roles.json`` and ``custom_persona_files``)."""
    return select_personas(config.personas, custom_files=config.custom_persona_files)


def run_conditions(config: RunConfig, personas: list[Persona] | None = None) -> list[Condition]:
    """Every condition of a run: its personas in order, then the no-persona baseline if ``include_baseline``.

    Args:
        config: The run configuration.
        personas: The run's personas, when already selected (default: :func:`run_personas`).
    """
    chosen = run_personas(config) if personas is None else personas
    conditions = [Condition(persona.name, persona) for persona in chosen]
    if config.include_baseline:
        conditions.append(Condition(BASELINE, None))
    return conditions
