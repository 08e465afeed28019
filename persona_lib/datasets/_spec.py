"""The records the registry is made of: items, metrics and dataset specifications.

A :class:`DatasetSpec` is everything the pipeline needs to know about one dataset, so that adding a benchmark is
one new module: where its items come from, how an item is asked, how an answer is scored (by rule or by the LLM
judge, with the judge prompts it renders), which metrics it reports and how item scores become unit scores, which
human labels validate its judge, and what the study's release calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

if TYPE_CHECKING:
    from persona_lib.judging import JudgeTask, JudgeTemplate
    from persona_lib.personas import Persona

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
"""The shipped datasets' judge prompts, one text file per template (this project's own wording)."""


@dataclass(frozen=True)
class BenchmarkItem:
    """One prompt of a dialogue-conditioned benchmark.

    Attributes:
        dataset: The dataset's name (a registered :class:`DatasetSpec`).
        item_id: Identifier unique within the dataset and stable across runs.
        prompt: The user message asked after the dialogue prefix.
        persona: The character a persona-specific item belongs to (RoleBench), else ``None``.
        reference: A reference answer for pairwise judging (RoleBench), else ``None``.
        meta: Dataset-specific fields (documented in each dataset module).
    """

    dataset: str
    item_id: str
    prompt: str
    persona: str | None = None
    reference: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class MetricSpec:
    """One reported metric: its id in the tables, and how it is labelled on an axis.

    Attributes:
        name: Id used in the unit tables, figures and config (e.g. ``excess_safety``).
        label: Human-readable name (e.g. ``"Excess safety"``).
        unit: Unit of the 0–100 score (``"%"`` for rates, ``"0–100"`` for rescaled ratings).
        higher_is_better: Direction of "better"; ``None`` for a descriptive metric with no better direction.
        description: One sentence for tables and captions (what a high value means).
    """

    name: str
    label: str
    unit: str
    higher_is_better: bool | None
    description: str = ""

    @property
    def direction(self) -> str:
        """``"higher is better"``, ``"lower is better"`` or ``"no better direction"``."""
        if self.higher_is_better is None:
            return "no better direction"
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def axis_label(self) -> str:
        """E.g. ``"IFBench accuracy (%) – higher is better"``; descriptive metrics get no direction."""
        if self.higher_is_better is None:
            return f"{self.label} ({self.unit})"
        return f"{self.label} ({self.unit}) \u2013 {self.direction}"


@dataclass(frozen=True)
class ScoringInputs:
    """What a dataset's scorer receives for one run.

    Attributes:
        answers: This dataset's benchmark answers (rows of :func:`persona_lib.generation.generate_benchmarks`:
            condition, kind, checkpoint, dataset, item_id, prompt as asked, response, finish_reason...).
        dialogues: The run's dialogue turns (:func:`persona_lib.generation.generate_dialogues`), or ``None``.
        items: Every item of the dataset (not only the asked subset), keyed by ``item_id``.
        personas: Every persona of the run, keyed by name.
        model: The model under test (the scores table's ``model`` column).
    """

    answers: pd.DataFrame
    dialogues: pd.DataFrame | None
    items: Mapping[str, BenchmarkItem]
    personas: Mapping[str, Persona]
    model: str


JudgeTaskBuilder = Callable[[ScoringInputs], "tuple[list[JudgeTask], list[dict[str, Any]]]"]
"""Builds a judged dataset's judge calls: the tasks, and the identity rows of answers with nothing to judge."""

RuleScorer = Callable[[ScoringInputs], pd.DataFrame]
"""Scores a rule-based dataset's answers into rows of the scores table."""

UnitAggregator = Callable[[pd.DataFrame, "Mapping[str, Persona]"], pd.DataFrame]
"""Turns a dataset's rows of the scores table into unit scores (one per unit and metric)."""

LabelKind = Literal["likert", "pairwise", "binary"]


@dataclass(frozen=True)
class ValidationSpec:
    """The study's human labels for a judged dataset (``data/released/sampled_*_ratings.csv``).

    Attributes:
        file: File name in ``data/released``.
        file_prefix: How the study's source files of this dataset are named (``<prefix>_<Character>...``),
            as found in the sample's ``role`` column.
        label_kind: ``likert`` (1–5), ``pairwise`` (``A``/``B``) or ``binary`` (``Yes``/``No``).
        read_fields: Reads the judged texts of one CSV record (a :class:`persona_lib._records.Record`) into
            :class:`persona_lib.datasets.ValidationSample` fields (``query``, ``response``, ``response_a``,
            ``response_b``, ``criterion``, ``dimension``).
        to_task: Turns a validation sample into the judge call this dataset would make for it.
    """

    file: str
    file_prefix: str
    label_kind: LabelKind
    read_fields: Callable[[Any], dict[str, Any]]
    to_task: Callable[[Any, Mapping[str, Persona]], JudgeTask]


def ask_as_written(item: BenchmarkItem, persona: Persona | None) -> str:
    """The default way an item is asked: its prompt, the same for every condition."""
    return item.prompt


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is, where it comes from, how it is asked and scored, and what it reports.

    Attributes:
        name: Dataset name used in configs and in the ``dataset`` column of every table.
        version: Bumped whenever items, prompts or scoring change; stored with every score.
        title: Display name (e.g. ``"XSTest"``).
        source: Origin and licence of the items.
        description: One paragraph for the book.
        metrics: The reported metrics, primary first (XSTest reports safety and excess safety).
        load: Reads the items from a file (``None``: the shipped file); ``None`` for datasets whose items are
            not asked at checkpoints (dialogue fidelity judges the dialogue turns themselves).
        judge_tasks: Builds the judge calls (judged datasets); exactly one of ``judge_tasks`` and
            ``rule_scores`` is set.
        rule_scores: Scores answers by rule (rule-based datasets).
        units: Turns the dataset's item scores into unit scores (columns model, condition, kind, checkpoint,
            dataset, metric, score, n_items, n_unscored).
        stratum: Maps an item to its stratum for seeded subsets (``item_limit``); ``None`` samples uniformly.
        per_character: Items belong to one character (RoleBench): a persona is asked its own character's items,
            the baseline every selected character's items.
        ask: The user message for an item in a condition (``persona`` ``None`` = the no-persona baseline).
        validation: The study's human labels for this dataset's judge, if any.
        user_file_hint: Set for datasets whose items are not shipped: where the user should put the file
            (``dataset_files`` in the run configuration must then name it).
        in_default_run: Scored when a configuration does not list its datasets (optional analyses set False).
        same_items_as: Another dataset whose items this one asks, with that dataset's item limit and file unless the
            configuration sets its own (the self-reference analyses reuse RoleBench's answers this way).
        judge_templates: The judge prompts the dataset renders (judged datasets), for readers and checks.
        release_folders: The dataset's folders under ``metrics/`` in the authors' release (one per judged criterion
            for dialogue fidelity; none for a dataset the study did not judge).
        release_prefix: The dataset's name in the release's answer files
            (``generations/<model>/<prefix>_<Persona>_<round>.json``); ``None`` when the study had none.
    """

    name: str
    version: int
    title: str
    source: str
    description: str
    metrics: tuple[MetricSpec, ...]
    load: Callable[[Path | None], list[BenchmarkItem]] | None
    units: UnitAggregator
    judge_tasks: JudgeTaskBuilder | None = None
    rule_scores: RuleScorer | None = None
    stratum: Callable[[BenchmarkItem], Hashable] | None = None
    per_character: bool = False
    ask: Callable[[BenchmarkItem, Persona | None], str] = ask_as_written
    validation: ValidationSpec | None = None
    user_file_hint: str | None = None
    in_default_run: bool = True
    same_items_as: str | None = None
    judge_templates: tuple[JudgeTemplate, ...] = ()
    release_folders: tuple[str, ...] = ()
    release_prefix: str | None = None

    def __post_init__(self) -> None:
        if (self.judge_tasks is None) == (self.rule_scores is None):
            raise ValueError(f"dataset {self.name!r}: set exactly one of judge_tasks and rule_scores")
        if not self.metrics:
            raise ValueError(f"dataset {self.name!r}: declare at least one metric")

    @property
    def judged(self) -> bool:
        """True when an LLM judge scores the answers; False for rule-based scoring."""
        return self.judge_tasks is not None

    @property
    def asked_at_checkpoints(self) -> bool:
        """True for benchmarks asked after each checkpoint's dialogue prefix (everything but dialogue fidelity)."""
        return self.load is not None
