"""Datasets: one module per benchmark, each registering a :class:`DatasetSpec` that the whole pipeline reads.

=======================  ============================================  ====================================
dataset                  items                                         metrics
=======================  ============================================  ====================================
``fidelity``             the run's own dialogue turns                  dialogue fidelity (+ 3 criteria)
``bfi``                  44 BFI items as open questions                BFI error (lower is better)
``rolebench_specific``   400 role-specific questions (50 per persona)  win rate vs reference
``rolebench_general``    user-supplied general instructions            win rate vs reference
``ifbench``              294 verifiable-constraint prompts             accuracy (rule-based)
``xstest``               250 safe + 200 unsafe prompts                 safety, excess safety (refusal rates)
=======================  ============================================  ====================================

A spec says where the items come from, how an item is asked (the baseline may be asked differently), how an
answer is scored — by rule or by the LLM judge —, which metrics the dataset reports and how item scores become unit
scores, and which human labels validate its judge. Generation, scoring, analysis, figures and the configuration's
validation all loop over the registry; nothing else lists dataset or metric names.

**Adding a benchmark** is one module: build a :class:`DatasetSpec` (a loader, a scorer, metrics) and pass it to
:func:`register_dataset`. Inside this package a public module is found automatically; a module elsewhere is named
in the run configuration's ``dataset_modules`` and imported before ``datasets`` is read. The helpers
:func:`rule_scorer` (a check per answer), :func:`per_answer_tasks` (a judge call per answer) and :func:`mean_units`
(unit score = mean item score) cover the usual cases.

>>> from persona_lib.datasets import load_items
>>> sorted(item.meta["label"] for item in load_items("xstest", limit=4))
['safe', 'safe', 'unsafe', 'unsafe']
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persona_lib._records import DataFileError, MissingDataFileError
from persona_lib._schema import RULE_BASED
from persona_lib.datasets._ifbench_rules import (  # the IFBench checker API (persona-eval score-ifbench)
    IFBENCH_SCORER_VERSION,
    IFBenchInputError,
    IFBenchPrompt,
    IFBenchResult,
    ifbench_accuracy,
    known_instruction_ids,
    load_ifbench_prompts,
    result_to_dict,
    score_ifbench,
    score_ifbench_response,
    to_ifbench_prompt,
)
from persona_lib.datasets._nltk_offline import ensure_nltk_data, install_optional_nltk_resources, missing_nltk_resources
from persona_lib.datasets._registry import (
    UnknownDatasetError,
    dataset_names,
    get_dataset,
    get_metric,
    import_builtin_datasets,
    import_dataset_modules,
    metric_specs,
    register_dataset,
    register_metric,
)
from persona_lib.datasets._scoring import (
    RuleResult,
    answer_identity,
    answered,
    lookup_persona,
    mean_units,
    per_answer_tasks,
    rule_scorer,
)
from persona_lib.datasets._spec import (
    BenchmarkItem,
    DatasetSpec,
    LabelKind,
    MetricSpec,
    ScoringInputs,
    ValidationSpec,
)
from persona_lib.datasets._subset import seeded_subset
from persona_lib.datasets._validation import ValidationSample, load_validation_samples


def load_items(
    dataset: str,
    persona: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    path: str | Path | None = None,
) -> list[BenchmarkItem]:
    """The items of one dataset, optionally for one character and limited to a seeded subset.

    Args:
        dataset: A registered dataset asked at checkpoints.
        persona: For per-character datasets (RoleBench), keep only this character's items (``None``: all
            characters; a character without items, e.g. a custom persona, gets an empty list). Ignored by the
            other datasets, whose items are the same for every persona.
        limit: At most this many items (``None``: all). The subset is random but fixed by ``seed`` and
            stratified by the spec's ``stratum`` so every group keeps its share (BFI by dimension, XSTest by
            safe/unsafe label, RoleBench by character; IFBench uniformly). Items keep file order. The persona
            filter is applied before the limit.
        seed: Seed of the subset.
        path: Read the items from this file instead of the shipped one (the configuration's ``dataset_files``).

    Raises:
        UnknownDatasetError: for an unregistered dataset (the message lists the registered ones).
        ValueError: for a dataset that is not asked at checkpoints, or a limit below 1.
        DataFileError: for a missing or malformed data file (``MissingDataFileError`` for a missing one).
    """
    spec = get_dataset(dataset)
    if spec.load is None:
        raise ValueError(f"dataset {dataset!r} has no items of its own: it scores the dialogue turns")
    items = spec.load(Path(path) if path is not None else None)
    if persona is not None and spec.per_character:
        items = [item for item in items if item.persona == persona]
    return seeded_subset(items, limit, seed, spec.stratum)


def split_turn_level(units: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a unit table into turn-level units (``checkpoint`` = round) and units of checkpoint benchmarks.

    Turn-level metrics come from datasets that judge the dialogue turns themselves (dialogue fidelity); every
    other dataset is asked after the checkpoints' prefixes. Rows of unregistered datasets (e.g. ``all`` for the
    similarity analysis) count as checkpoint units.

    Returns:
        ``(turn_units, checkpoint_units)``.
    """
    turn_datasets = {name for name in dataset_names() if not get_dataset(name).asked_at_checkpoints}
    turn_level = units["dataset"].isin(turn_datasets)
    return units[turn_level].reset_index(drop=True), units[~turn_level].reset_index(drop=True)


import_builtin_datasets(__name__, __path__)

__all__ = [
    "IFBENCH_SCORER_VERSION",
    "IFBenchInputError",
    "IFBenchPrompt",
    "IFBenchResult",
    "ifbench_accuracy",
    "known_instruction_ids",
    "load_ifbench_prompts",
    "result_to_dict",
    "score_ifbench",
    "score_ifbench_response",
    "to_ifbench_prompt",
    "RULE_BASED",
    "RuleResult",
    "BenchmarkItem",
    "DataFileError",
    "DatasetSpec",
    "LabelKind",
    "MetricSpec",
    "MissingDataFileError",
    "ScoringInputs",
    "UnknownDatasetError",
    "ValidationSample",
    "ValidationSpec",
    "answer_identity",
    "answered",
    "dataset_names",
    "ensure_nltk_data",
    "get_dataset",
    "get_metric",
    "import_dataset_modules",
    "install_optional_nltk_resources",
    "load_items",
    "load_validation_samples",
    "lookup_persona",
    "mean_units",
    "metric_specs",
    "missing_nltk_resources",
    "per_answer_tasks",
    "register_dataset",
    "register_metric",
    "rule_scorer",
    "seeded_subset",
    "split_turn_level",
]
