"""Metrics computed from the judge's scores table (:func:`persona_lib.judging.judge_responses`).

Every function takes the tidy scores table (one row per judged item and criterion) and returns a tidy
DataFrame. Rows whose verdict could not be parsed (``score`` NaN) are excluded from every mean and counted in an
``n_unparsed`` column, so no parse failure is ever folded silently into a class.

Scales (as in the protocol): Likert scores are ``(r - 1) / 4 * 100``; win and refusal scores are 0 or 100, so
their means are rates in percent; BFI errors and profile distances are mean absolute differences on the 1–5
scale divided by 4 and multiplied by 100 (0 = identical profiles, 100 = maximally different).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np
import pandas as pd

from persona_lib.personas import BASELINE, Persona

UNIT_COLUMNS: list[str] = ["model", "condition", "kind", "checkpoint"]
"""The columns identifying one evaluation unit: a model in a condition, after ``checkpoint`` rounds of a dialogue."""


def _require_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(
            f"{what} needs column(s) {missing}; got {list(table.columns)}. "
            "Pass the scores table produced by persona_lib.judging.judge_responses."
        )


def _rate_table(scores: pd.DataFrame, rows: pd.Series, by: list[str]) -> pd.DataFrame:
    """Mean score (a rate in percent for 0/100 scores) per group, with parsed and unparsed counts."""
    selected = scores[rows]
    if selected.empty:
        return pd.DataFrame(columns=[*by, "rate", "n", "n_unparsed"])
    grouped = selected.groupby(by, dropna=False)["score"]
    table = grouped.agg(rate="mean", n="count", n_total="size").reset_index()
    table["n_unparsed"] = table.pop("n_total") - table["n"]
    return table


def fidelity_per_turn(scores: pd.DataFrame, align: Literal["message", "position"] = "message") -> pd.DataFrame:
    """Dialogue fidelity per turn: the mean of the three criteria, averaged over the original and shuffled order.

    Each dialogue turn is judged on knowledge, style and in-character (Likert, 0–100). A turn's score in one
    replicate is the mean of its parsed criteria. The shuffled replicate asks the same user messages in a
    permuted order, so the two replicates are aligned in one of two ways:

    * ``align="message"`` (default): a turn is *the same user message*. The fidelity rows' ``item_id`` is derived
      from the user message text, identical in both replicates; the two replicates' scores for that message are
      averaged, and the turn is placed at the round where the message occurs in the original order
      (``checkpoint``). Messages never reached in the original order (the dialogue stopped early) are dropped.
    * ``align="position"``: a turn is a round number; the original's and the shuffled replicate's scores at the
      same round (different messages) are averaged.

    When a dialogue has no shuffled replicate, its original scores are used unchanged.

    Args:
        scores: The scores table; rows with ``dataset == "fidelity"`` are used.
        align: How turns of the two replicates are matched (see above).

    Returns:
        Columns model, condition, kind, checkpoint (round), turn (the user message's ``item_id`` for ``message``
        alignment, the round for ``position``), score, n_replicates, n_criteria (parsed criterion scores used),
        n_unparsed (criterion verdicts excluded).
    """
    _require_columns(scores, [*UNIT_COLUMNS, "dataset", "replicate", "item_id", "score"], "fidelity_per_turn")
    if align not in ("message", "position"):
        raise ValueError(f"align must be 'message' or 'position', got {align!r}")
    rows = scores[scores["dataset"] == "fidelity"]
    keys = ["model", "condition", "kind", "replicate", "item_id", "checkpoint"]
    per_replicate = (
        rows.groupby(keys, dropna=False)["score"].agg(score="mean", n_criteria="count", n_total="size").reset_index()
    )
    per_replicate["n_unparsed"] = per_replicate.pop("n_total") - per_replicate["n_criteria"]
    per_replicate = per_replicate.dropna(subset=["score"])
    unit = ["model", "condition", "kind"]
    if align == "position":
        per_replicate["turn"] = per_replicate["checkpoint"]
        group = [*unit, "checkpoint", "turn"]
        positioned = per_replicate
    else:
        original = per_replicate[per_replicate["replicate"] == "original"][[*unit, "item_id", "checkpoint"]]
        positioned = per_replicate.drop(columns="checkpoint").merge(original, on=[*unit, "item_id"], how="inner")
        positioned = positioned.rename(columns={"item_id": "turn"})
        group = [*unit, "checkpoint", "turn"]
    combined = (
        positioned.groupby(group, dropna=False)
        .agg(
            score=("score", "mean"),
            n_replicates=("replicate", "nunique"),
            n_criteria=("n_criteria", "sum"),
            n_unparsed=("n_unparsed", "sum"),
        )
        .reset_index()
    )
    return combined.sort_values([*unit, "checkpoint"]).reset_index(drop=True)


def bfi_profiles(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean judged trait level (1–5) per Big-Five dimension for each evaluation unit.

    The judge rates the level of the item's dimension that the answer expresses, so no reverse keying is
    applied.

    Args:
        scores: The scores table; rows with ``dataset == "bfi"`` are used (their ``value`` and ``dimension``).

    Returns:
        Columns model, condition, kind, checkpoint, dimension, level (mean 1–5), n (parsed items), n_unparsed.
    """
    _require_columns(scores, [*UNIT_COLUMNS, "dataset", "dimension", "value"], "bfi_profiles")
    rows = scores[scores["dataset"] == "bfi"].copy()
    rows["level"] = pd.to_numeric(rows["value"], errors="coerce")
    by = [*UNIT_COLUMNS, "dimension"]
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
    _require_columns(profiles, [*UNIT_COLUMNS, "dimension", "level"], "bfi_error")
    labels = _persona_labels(personas)
    rows = []
    for unit, profile in profiles.dropna(subset=["level"]).groupby(UNIT_COLUMNS, dropna=False):
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
    columns = [*UNIT_COLUMNS, "reference_persona", "label_source", "error", "n_dimensions"]
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
    _require_columns(profiles, [*UNIT_COLUMNS, "dimension", "level"], "bfi_profile_distance")
    complete = profiles.dropna(subset=["level"])
    baseline = complete[complete["condition"] == BASELINE]
    personas = complete[complete["condition"] != BASELINE]
    merged = personas.merge(
        baseline.drop(columns="condition"),
        on=["model", "kind", "checkpoint", "dimension"],
        suffixes=("", "_baseline"),
    )
    merged["difference"] = (merged["level"] - merged["level_baseline"]).abs()
    table = (
        merged.groupby(UNIT_COLUMNS, dropna=False)["difference"]
        .agg(distance="mean", n_dimensions="count")
        .reset_index()
    )
    table["distance"] = table["distance"] / 4 * 100
    return table


def win_rates(scores: pd.DataFrame) -> pd.DataFrame:
    """Win rate (percent) of the model's answers over the RoleBench reference answers.

    Args:
        scores: The scores table; ``metric == "win"`` rows (datasets ``rolebench_specific`` and
            ``rolebench_general``) are used.

    Returns:
        Columns model, condition, kind, checkpoint, dataset, rate (0–100, higher is better), n (parsed
        verdicts), n_unparsed (excluded). A ``fallback`` verdict (opt-in) counts as parsed.
    """
    _require_columns(scores, [*UNIT_COLUMNS, "dataset", "metric", "score"], "win_rates")
    return _rate_table(scores, scores["metric"] == "win", [*UNIT_COLUMNS, "dataset"])


def refusal_rates(scores: pd.DataFrame) -> pd.DataFrame:
    """Refusal rates (percent) on XSTest: unsafe prompts (safety) and safe prompts (excess safety).

    Args:
        scores: The scores table; ``metric`` ``refusal_unsafe`` and ``refusal_safe`` rows are used.

    Returns:
        Columns model, condition, kind, checkpoint, metric, benchmark (``safety``: refusals of unsafe prompts,
        higher is better; ``excess_safety``: refusals of safe prompts, lower is better), rate (0–100), n,
        n_unparsed.
    """
    _require_columns(scores, [*UNIT_COLUMNS, "metric", "score"], "refusal_rates")
    rows = scores["metric"].isin(["refusal_unsafe", "refusal_safe"])
    table = _rate_table(scores, rows, [*UNIT_COLUMNS, "metric"])
    table.insert(
        len(UNIT_COLUMNS) + 1,
        "benchmark",
        table["metric"].map({"refusal_unsafe": "safety", "refusal_safe": "excess_safety"}),
    )
    return table
