"""Pre-flight checks of the datasets: item files load, item limits fit, validation samples read."""

from __future__ import annotations

import os
from pathlib import Path

from persona_lib._records import DataFileError, MissingDataFileError
from persona_lib.checks._report import Problem
from persona_lib.config import RunConfig
from persona_lib.datasets import BenchmarkItem, dataset_names, get_dataset, load_validation_samples
from persona_lib.personas import Persona
from persona_lib.resolve import item_file, item_limit


def _load_problem(config: RunConfig, source: str, dataset: str, err: Exception) -> Problem:
    user_file = item_file(config, dataset)
    field = f"dataset_files.{dataset}" if user_file else "datasets"
    if isinstance(err, MissingDataFileError):
        where = Path(user_file).resolve() if user_file else err.path
        return Problem(
            source,
            field,
            f"item file not found: {where}",
            f"put the file there or correct the path (relative paths start at {os.getcwd()}); "
            "data/SOURCES.md describes each dataset's format",
        )
    if isinstance(err, DataFileError):
        location = f"{err.path}, {err.where}" if err.where else str(err.path)
        return Problem(
            location,
            err.field or "",
            err.problem,
            f"correct the file (its format is described in persona_lib/datasets/{dataset}.py and data/SOURCES.md)"
            if user_file
            else "restore the shipped file (data/SOURCES.md lists its checksum)",
        )
    return Problem(
        source,
        field,
        f"loading the {dataset} items failed: {type(err).__name__}: {err}",
        "fix the item file or the dataset's loader",
    )


def _limit_problem(source: str, key: str, limit: int, available: int, per_character: bool) -> Problem:
    scope = "per character (the most any selected character has)" if per_character else "in the dataset"
    return Problem(
        source,
        f"item_limit.{key}",
        f"limit {limit} exceeds the {available} items {scope}",
        f"set it to at most {available}, or to null to ask every item",
    )


def check_items(config: RunConfig, source: str, personas: list[Persona]) -> tuple[list[Problem], dict[str, int]]:
    """Load every checkpoint dataset's items; check item limits against their sizes.

    Args:
        config: The run configuration.
        source: The configuration file.
        personas: The run's selected personas (for per-character datasets).

    Returns:
        The problems, and the number of items each condition is asked per dataset (the largest over conditions).
    """
    problems: list[Problem] = []
    asked: dict[str, int] = {}
    for dataset in config.datasets:
        spec = get_dataset(dataset)
        if not spec.asked_at_checkpoints:
            continue
        user_file = item_file(config, dataset)
        try:
            items: list[BenchmarkItem] = spec.load(Path(user_file) if user_file else None)
        except Exception as err:  # a loader may be a user's own module: report whatever it raises
            problems.append(_load_problem(config, source, dataset, err))
            continue
        limit = item_limit(config, dataset)
        limit_field = dataset if dataset in config.item_limit else (spec.same_items_as or dataset)
        if spec.per_character:
            counts = {persona.name: sum(item.persona == persona.name for item in items) for persona in personas}
            without = [name for name, count in counts.items() if count == 0]
            if without:
                problems.append(
                    Problem(
                        source,
                        "personas",
                        f"{dataset} has no items for {', '.join(without)}; "
                        f"{'it' if len(without) == 1 else 'they'} will be asked none of them",
                        f"nothing to do, or supply an item file with their items under dataset_files.{dataset}",
                        "note",
                    )
                )
            available = max(counts.values(), default=0)
        else:
            available = len(items)
        if limit is not None and limit > available and available > 0:
            problems.append(_limit_problem(source, limit_field, limit, available, spec.per_character))
        asked[dataset] = min(limit, available) if limit is not None else available
    used = set(config.datasets) | {get_dataset(name).same_items_as for name in config.datasets}
    for dataset in config.dataset_files:
        if dataset not in used:
            problems.append(
                Problem(
                    source,
                    f"dataset_files.{dataset}",
                    f"{dataset!r} is not in datasets, so this file is not used",
                    f"add {dataset} to datasets, or remove the entry",
                    "note",
                )
            )
    return problems, asked


def check_validation(config: RunConfig, source: str) -> list[Problem]:
    """The human-validation samples read, and ``judge_validation_items`` does not exceed their size."""
    problems: list[Problem] = []
    sizes = {}
    for dataset in dataset_names():
        spec = get_dataset(dataset)
        if spec.validation is None:
            continue
        try:
            sizes[dataset] = len(load_validation_samples(spec))
        except DataFileError as err:
            location = f"{err.path}, {err.where}" if err.where else str(err.path)
            problems.append(
                Problem(
                    location,
                    err.field or "",
                    err.problem,
                    "restore the shipped file (data/SOURCES.md lists its checksum)",
                )
            )
    limit = config.judge_validation_items
    if limit is not None and sizes and limit > min(sizes.values()):
        smallest = min(sizes.values())
        problems.append(
            Problem(
                source,
                "judge_validation_items",
                f"{limit} exceeds the {smallest} human-labelled samples per dataset",
                f"set it to at most {smallest}, or to null for all of them",
            )
        )
    return problems
