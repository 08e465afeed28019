"""BFI: the 44 Big Five Inventory items as open questions, answered in character and rated by a judge.

Items come from InCharacter's open-question rewrite of the BFI-44 (``data/bfi/bfi44_items.csv``, flattened from
InCharacter's ``BFI.json``); the item texts are (c) O. P. John and free for non-commercial research only.

Item fields: ``prompt`` is the open question (``question_en``, e.g. "Are you talkative?"); ``meta`` holds
``item`` (1-44), ``dimension`` (Extraversion, Agreeableness, Conscientiousness, Neuroticism, Openness),
``reverse_scored`` (True for minus-keyed items) and ``statement`` (the original BFI statement).

Scoring: the judge rates the level of the item's dimension the answer expresses (1–5; scores-table metric
``bfi_trait``); a unit's profile is the mean level per dimension (:func:`bfi_profiles`), and its BFI error the
mean absolute difference to the character's InCharacter labels, ÷ 4, × 100 (:func:`bfi_error`), against one label
source per run. ``bfi_distance`` is the same distance between a persona's profile and the baseline's
(:func:`bfi_profile_distance`), defined for every persona.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona_lib._records import DataFileError, Record, read_csv_records
from persona_lib._schema import UNIT_COLUMNS, UNIT_KEY
from persona_lib.datasets._registry import register_dataset
from persona_lib.datasets._scoring import lookup_persona, per_answer_tasks
from persona_lib.datasets._spec import (
    TEMPLATE_DIR,
    BenchmarkItem,
    DatasetSpec,
    MetricSpec,
    ScoringInputs,
    ValidationSpec,
)
from persona_lib.datasets._validation import ValidationSample, plain_texts, validation_identity
from persona_lib.judging import JudgeTask, JudgeTemplate, render_judge_prompt
from persona_lib.paths import data_dir
from persona_lib.personas import BASELINE, BFI_DIMENSIONS, Persona

N_ITEMS = 44
ITEM_METRIC = "bfi_trait"
"""The scores table's ``metric`` for a judged item: the trait level (1–5) the answer expresses."""


def default_path() -> Path:
    """The shipped item file."""
    return data_dir() / "bfi" / "bfi44_items.csv"


def load(path: str | Path | None = None) -> list[BenchmarkItem]:
    """The BFI-44 items in item order.

    Args:
        path: An item CSV with columns ``item, statement_en, question_en, dimension, reverse_scored``;
            defaults to the shipped file.

    Raises:
        DataFileError: for a malformed row (naming line and column), or a file without exactly 44 items.
    """
    path = Path(path) if path is not None else default_path()
    columns = ("item", "statement_en", "question_en", "dimension", "reverse_scored")
    items = []
    for record in read_csv_records(path, columns):
        number = record.integer("item")
        items.append(
            BenchmarkItem(
                dataset="bfi",
                item_id=str(number),
                prompt=record.text("question_en").strip(),
                meta={
                    "item": number,
                    "dimension": record.choice("dimension", BFI_DIMENSIONS),
                    "reverse_scored": record.flag01("reverse_scored"),
                    "statement": record.text("statement_en").strip(),
                },
            )
        )
    if len(items) != N_ITEMS or len({item.item_id for item in items}) != N_ITEMS:
        raise DataFileError(path, f"expected {N_ITEMS} distinct items, got {len(items)} rows")
    return items


@dataclass(frozen=True)
class BigFiveDimension:
    """A Big Five dimension as the BFI judge sees it: its six facets and its two poles.

    Attributes:
        facets: The dimension's six facets (NEO-PI-R).
        low_pole: One or two words for the low end (used in the scale: "strongly <low_pole>").
        low_description: The low end, facet by facet.
        high_pole: One or two words for the high end.
        high_description: The high end, facet by facet.
    """

    facets: tuple[str, ...]
    low_pole: str
    low_description: str
    high_pole: str
    high_description: str


BIG_FIVE: dict[str, BigFiveDimension] = {
    "Extraversion": BigFiveDimension(
        ("warmth", "gregariousness", "assertiveness", "activity", "excitement seeking", "positive emotions"),
        "introverted",
        "reserved and distant, prefers solitude or a few people, leaves the lead to others, keeps a slow pace, "
        "avoids thrills, rarely shows exuberance",
        "extroverted",
        "warm and friendly, seeks company, takes charge, lives at a brisk pace, looks for excitement, often cheerful "
        "and enthusiastic",
    ),
    "Agreeableness": BigFiveDimension(
        ("trust", "straightforwardness", "altruism", "compliance", "modesty", "tender-mindedness"),
        "egocentric",
        "suspicious of others' motives, willing to manipulate, puts own interests first, quick to fight, boastful, "
        "hard-headed and unsentimental",
        "agreeable",
        "trusting, frank and sincere, generous and helpful, yields rather than fights, humble, moved by others' needs",
    ),
    "Conscientiousness": BigFiveDimension(
        ("competence", "order", "dutifulness", "achievement striving", "self-discipline", "deliberation"),
        "unstructured",
        "doubts own ability, untidy and unsystematic, casual about obligations, unambitious, easily distracted, acts "
        "on impulse",
        "organized",
        "capable, orderly and methodical, dependable, ambitious and hard-working, persistent, thinks before acting",
    ),
    "Neuroticism": BigFiveDimension(
        ("anxiety", "angry hostility", "depression", "self-consciousness", "impulsiveness", "vulnerability"),
        "calm",
        "relaxed, slow to anger, contented, at ease with others, in control of urges, copes well with stress",
        "limbic (easily upset)",
        "worried and tense, quick to anger, prone to sadness, easily embarrassed, gives in to urges, overwhelmed by "
        "stress",
    ),
    "Openness": BigFiveDimension(
        ("fantasy", "aesthetics", "feelings", "actions", "ideas", "values"),
        "non-curious",
        "down-to-earth, indifferent to art, pays little heed to feelings, prefers the familiar, uninterested in "
        "abstract ideas, holds to tradition and authority",
        "inquisitive",
        "imaginative, moved by art and beauty, attentive to feelings, eager for new experiences, intellectually "
        "curious, questions received values",
    ),
}
"""How the BFI judge is told what each dimension means. The study described each dimension by its six facets and
contrasted high with low scorers; its scale runs from "strongly <low pole>" to "strongly <high pole>" with the pole
terms of the SLOAN Big-Five typology, which are used here too (the protocol chapter maps every anchor)."""

TEMPLATE = JudgeTemplate.from_file(
    TEMPLATE_DIR / "bfi_trait.txt",
    "likert",
    ("query", "response", "dimension", "facets", "low_pole", "high_pole", "low_description", "high_description"),
)
"""The BFI judge's prompt: the trait level a reply expresses on one dimension, between its two poles."""


def _render(character: Persona | None, query: str, response: str, dimension: str) -> str:
    """The BFI judge prompt for one answer (the dimension described by :data:`BIG_FIVE`).

    Raises:
        ValueError: for an unknown Big Five dimension.
    """
    if dimension not in BIG_FIVE:
        raise ValueError(f"unknown Big Five dimension {dimension!r}; expected one of {list(BIG_FIVE)}")
    poles = BIG_FIVE[dimension]
    return render_judge_prompt(
        TEMPLATE,
        character_name=character.name if character else None,
        character_description=character.description if character else None,
        query=query,
        response=response,
        dimension=dimension,
        facets=", ".join(poles.facets),
        low_pole=poles.low_pole,
        high_pole=poles.high_pole,
        low_description=poles.low_description,
        high_description=poles.high_description,
    )


def _judge_tasks(inputs: ScoringInputs) -> tuple[list[JudgeTask], list[dict[str, Any]]]:
    def make_task(answer: Mapping[str, Any], item: BenchmarkItem, row: dict[str, Any]) -> JudgeTask:
        where = f"benchmark answer bfi/{item.item_id} (condition {answer['condition']!r})"
        character = lookup_persona(inputs.personas, answer["condition"], where)
        row["dimension"] = item.meta["dimension"]
        prompt = _render(character, answer["prompt"], answer["response"], item.meta["dimension"])
        return JudgeTask(prompt=prompt, verdict="likert", row=row)

    return per_answer_tasks(inputs, make_task, lambda item: ITEM_METRIC)


def bfi_profiles(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean judged trait level (1–5) per Big-Five dimension for each evaluation unit.

    The judge rates the level of the item's dimension that the answer expresses, so no reverse keying is
    applied. The level is read from the row's score (``1 + score / 25``): the parsed rating when the judge
    generated one, the expected rating when its label distribution was read.

    Args:
        scores: The scores table; rows with ``dataset == "bfi"`` are used (their ``score`` and ``dimension``).

    Returns:
        Columns model, condition, kind, checkpoint, dimension, level (mean 1–5), n (parsed items), n_unparsed.
    """
    missing = [column for column in [*UNIT_KEY, "dataset", "dimension", "score"] if column not in scores]
    if missing:
        raise ValueError(f"bfi_profiles needs column(s) {missing}; pass the scores table of score_run")
    rows = scores[scores["dataset"] == "bfi"].copy()
    rows["level"] = 1 + pd.to_numeric(rows["score"], errors="coerce") / 25
    by = [*UNIT_KEY, "dimension"]
    if rows.empty:
        return pd.DataFrame(columns=[*by, "level", "n", "n_unparsed"])
    table = rows.groupby(by, dropna=False)["level"].agg(level="mean", n="count", n_total="size").reset_index()
    table["n_unparsed"] = table.pop("n_total") - table["n"]
    return table


def _persona_labels(personas: Mapping[str, Persona] | Iterable[Persona]) -> dict[str, dict[str, dict[str, float]]]:
    values = personas.values() if isinstance(personas, Mapping) else personas
    return {persona.name: persona.bfi_labels for persona in values if persona.bfi_labels}


def bfi_error(profiles: pd.DataFrame, personas: Mapping[str, Persona] | Iterable[Persona]) -> pd.DataFrame:
    """BFI error: mean absolute difference between a judged profile and a character's labels, ÷ 4 × 100.

    Defined only for labelled characters (InCharacter labels exist for 4 of the study's 8 characters), once per
    label source (``annotation``, ``pdb``). A persona's profile is compared with its own character's labels;
    the baseline's (``empty``) profile is compared with every labelled character's labels, one row each.
    Dimensions without any parsed item are left out of the mean (``n_dimensions`` says how many were used).

    Args:
        profiles: Output of :func:`bfi_profiles`.
        personas: The personas (name → Persona, or an iterable), providing ``bfi_labels``.

    Returns:
        Columns model, condition, kind, checkpoint, reference_persona (whose labels), label_source, error
        (0–100, lower is better), n_dimensions.
    """
    missing = [column for column in [*UNIT_KEY, "dimension", "level"] if column not in profiles]
    if missing:
        raise ValueError(f"bfi_error needs column(s) {missing}; pass the output of bfi_profiles")
    labels = _persona_labels(personas)
    rows = []
    for unit, profile in profiles.dropna(subset=["level"]).groupby(UNIT_KEY, dropna=False):
        levels = dict(zip(profile["dimension"], profile["level"], strict=True))
        condition = unit[1]
        references = list(labels) if condition == BASELINE else [condition] if condition in labels else []
        for reference in references:
            for source, truth in labels[reference].items():
                shared = [dimension for dimension in truth if dimension in levels]
                if not shared:
                    continue
                error = float(np.mean([abs(levels[d] - truth[d]) for d in shared])) / 4 * 100
                rows.append((*unit, reference, source, error, len(shared)))
    columns = [*UNIT_KEY, "reference_persona", "label_source", "error", "n_dimensions"]
    return pd.DataFrame(rows, columns=columns)


def bfi_profile_distance(profiles: pd.DataFrame) -> pd.DataFrame:
    """Distance between each persona's judged profile and the baseline's at the same model, kind and checkpoint.

    The distance is the mean absolute difference of the 1–5 trait levels over the dimensions both profiles
    have, ÷ 4 × 100 (0 = the persona answers like the baseline, 100 = maximally different). It needs no labels,
    so it is defined for every persona.

    Args:
        profiles: Output of :func:`bfi_profiles` (must include the baseline's units).

    Returns:
        Columns model, condition, kind, checkpoint, distance, n_dimensions.
    """
    complete = profiles.dropna(subset=["level"])
    baseline = complete[complete["condition"] == BASELINE]
    persona_rows = complete[complete["condition"] != BASELINE]
    merged = persona_rows.merge(
        baseline.drop(columns="condition"),
        on=["model", "kind", "checkpoint", "dimension"],
        suffixes=("", "_baseline"),
    )
    merged["difference"] = (merged["level"] - merged["level_baseline"]).abs()
    grouped = merged.groupby(UNIT_KEY, dropna=False)["difference"]
    table = grouped.agg(distance="mean", n_dimensions="count").reset_index()
    table["distance"] = table["distance"] / 4 * 100
    return table


def errors_by_label_source(scores: pd.DataFrame, personas: Mapping[str, Persona] | Iterable[Persona]) -> pd.DataFrame:
    """BFI error per unit and label source, side by side (a baseline averaged over the labelled characters).

    A run computes its BFI error against one label source (``bfi_label_source``); this table shows every source,
    so a reader can see how much the choice matters. The sources are never averaged.

    Returns:
        Columns model, condition, kind, checkpoint and one column per label source.
    """
    errors = bfi_error(bfi_profiles(scores), personas)
    if errors.empty:
        return pd.DataFrame(columns=UNIT_KEY)
    table = errors.pivot_table(index=UNIT_KEY, columns="label_source", values="error", aggfunc="mean")
    return table.reset_index().rename_axis(columns=None)


def _units(scores: pd.DataFrame, personas: Mapping[str, Persona]) -> pd.DataFrame:
    """BFI error per unit and labelled character, against the one label source the personas carry.

    Raises:
        ValueError: when a persona carries labels from more than one source (restrict them first with
            :func:`persona_lib.personas.with_label_source`; errors from two sources are never averaged).
    """
    several = {p.name: sorted(p.bfi_labels) for p in personas.values() if p.bfi_labels and len(p.bfi_labels) > 1}
    if several:
        raise ValueError(
            f"BFI error needs one label source per run, but personas carry several: {several}; restrict them with "
            "persona_lib.personas.with_label_source (the configuration's bfi_label_source)"
        )
    profiles = bfi_profiles(scores)
    counts = profiles.groupby(UNIT_KEY, as_index=False).agg(n_items=("n", "sum"), n_unscored=("n_unparsed", "sum"))
    errors = bfi_error(profiles, personas).rename(columns={"error": "score"}).assign(metric="bfi_error")
    distances = bfi_profile_distance(profiles).rename(columns={"distance": "score"})
    distances = distances.assign(metric="bfi_distance", reference_persona=distances["condition"])
    parts = [part for part in (errors, distances) if not part.empty]
    if not parts:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    units = pd.concat(parts, ignore_index=True).merge(counts, on=UNIT_KEY, how="left")
    return units.assign(dataset="bfi")[UNIT_COLUMNS]


@cache
def _question_dimensions() -> dict[str, str]:
    return {item.prompt.strip(): item.meta["dimension"] for item in load()}


def _read_validation_fields(record: Record) -> dict[str, Any]:
    fields = plain_texts(record, "likert")
    dimension = _question_dimensions().get(fields["query"].strip())
    if dimension is None:
        raise record.error("input", "not one of the BFI items' open questions (data/bfi/bfi44_items.csv)")
    return {**fields, "dimension": dimension}


def _validation_task(sample: ValidationSample, personas: Mapping[str, Persona]) -> JudgeTask:
    prompt = _render(personas[sample.persona], sample.query, sample.response or "", str(sample.dimension))
    return JudgeTask(prompt=prompt, verdict="likert", row=validation_identity(sample, ITEM_METRIC))


SPEC = register_dataset(
    DatasetSpec(
        name="bfi",
        version=1,
        title="BFI",
        source="InCharacter (Wang et al., ACL 2024) open-question BFI-44; items (c) O. P. John, non-commercial "
        "research",
        description="The 44 BFI items asked as open questions; a judge rates how strongly each answer expresses "
        "the item's Big-Five trait, and the per-dimension profile is compared with InCharacter's ground truth. "
        "Defined only for labelled characters (Gaston, Michael Scott, Blair Waldorf, Lestat de Lioncourt).",
        metrics=(
            MetricSpec(
                "bfi_error",
                "BFI error",
                "0\u2013100",
                False,
                "distance of the judged Big-Five profile from the character's labels",
            ),
            MetricSpec(
                "bfi_distance",
                "Distance from the baseline's Big-Five profile",
                "0\u2013100",
                None,
                "how far a persona's judged profile is from the no-persona baseline's (0 = the same)",
            ),
        ),
        load=load,
        judge_tasks=_judge_tasks,
        units=_units,
        stratum=lambda item: item.meta["dimension"],
        validation=ValidationSpec(
            file="sampled_bfi_ratings.csv",
            file_prefix="bfi",
            label_kind="likert",
            read_fields=_read_validation_fields,
            to_task=_validation_task,
        ),
        judge_templates=(TEMPLATE,),
        release_folders=("bfi",),
        release_prefix="bfi",
    )
)
