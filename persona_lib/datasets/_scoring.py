"""Building blocks the dataset modules share: score-row identities, per-answer judge tasks, mean unit scores."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from persona_lib._schema import RULE_BASED, SCORE_COLUMNS, UNIT_COLUMNS, UNIT_KEY
from persona_lib.datasets._registry import get_dataset
from persona_lib.datasets._spec import BenchmarkItem, RuleScorer, ScoringInputs
from persona_lib.judging import JudgeTask
from persona_lib.personas import BASELINE, Persona

ANSWERED = ("stop", "length")
"""Finish reasons of an answer that can be scored (``context_overflow`` and ``error`` produced none)."""


@dataclass(frozen=True)
class RuleResult:
    """The outcome of a rule-based check of one answer.

    Attributes:
        passed: Whether the answer passes; ``None`` when the check cannot be run on it (``unscorable``: never
            counted as a failure).
        detail: What the check found (the raw judgement), or why it could not run.
        further: More verdicts on the same answer, each a ``(metric, passed)`` row of the scores table; a metric
            may occur several times (e.g. one row per instruction, so that its unit mean is instruction-level
            accuracy).
    """

    passed: bool | None
    detail: str = ""
    further: tuple[tuple[str, bool], ...] = ()


def answered(answer: Mapping[str, Any], text_column: str = "response") -> bool:
    """True when the model under test produced an answer to score."""
    return answer.get("finish_reason", "stop") in ANSWERED and isinstance(answer.get(text_column), str)


def lookup_persona(personas: Mapping[str, Persona], name: str | None, where: str) -> Persona | None:
    """The persona called ``name`` (``None`` for the baseline).

    Raises:
        ValueError: naming the answer (``where``) when the persona is not among the run's personas.
    """
    if name is None or name == BASELINE:
        return None
    if name not in personas:
        raise ValueError(
            f"{where}: persona {name!r} is not among the run's personas ({sorted(personas)}); pass every persona "
            "of the run (persona_lib.personas.load_personas())"
        )
    return personas[name]


def answer_identity(answer: Mapping[str, Any], metric: str) -> dict[str, Any]:
    """The identity fields of the scores row for one benchmark answer (see ``persona_lib._schema``)."""
    return {
        "condition": answer["condition"],
        "persona": answer["condition"],
        "kind": answer["kind"],
        "checkpoint": int(answer["checkpoint"]),
        "replicate": answer.get("replicate") or "original",
        "dataset": answer["dataset"],
        "metric": metric,
        "item_id": str(answer["item_id"]),
        "dimension": None,
        "reference_position": None,
    }


def primary_metric(item: BenchmarkItem) -> str:
    """The scores table's default ``metric`` for an item: its dataset's first declared metric."""
    return get_dataset(item.dataset).metrics[0].name


def per_answer_tasks(
    inputs: ScoringInputs,
    make_task: Callable[[Mapping[str, Any], BenchmarkItem, dict[str, Any]], JudgeTask],
    item_metric: Callable[[BenchmarkItem], str] = primary_metric,
) -> tuple[list[JudgeTask], list[dict[str, Any]]]:
    """One judge task per answered benchmark answer; the identity rows of the unanswered ones.

    Args:
        inputs: The dataset's answers, items and the run's personas.
        make_task: Builds the task of one answer from the answer's row, its item and the row identity (which
            ``make_task`` may complete, e.g. with ``dimension`` or ``reference_position``).
        item_metric: The scores table's ``metric`` for an item (default: the dataset's first metric).

    Raises:
        ValueError: when an answer's item is not among the dataset's items.
    """
    tasks: list[JudgeTask] = []
    unanswered: list[dict[str, Any]] = []
    for answer in inputs.answers.to_dict("records"):
        item_id = str(answer["item_id"])
        if item_id not in inputs.items:
            raise ValueError(
                f"benchmark answer {answer['dataset']}/{item_id} (condition {answer['condition']!r}): item not "
                f"found among the loaded {answer['dataset']} items"
            )
        item = inputs.items[item_id]
        row = answer_identity(answer, item_metric(item))
        if answered(answer):
            tasks.append(make_task(answer, item, row))
        else:  # nothing to judge; the task is built on an empty answer only to complete the row's identity
            unanswered.append(make_task({**answer, "response": ""}, item, row).row)
    return tasks, unanswered


def rule_scorer(
    check: Callable[[BenchmarkItem, str], bool | RuleResult],
    *,
    version: int,
    item_metric: Callable[[BenchmarkItem], str] = primary_metric,
) -> RuleScorer:
    """A rule-based scorer (``DatasetSpec.rule_scores``) from a check of one answer.

    Each answered item gets ``value`` 1.0 / 0.0 and ``score`` 100 / 0; a check that returns a
    :class:`RuleResult` with ``passed=None`` marks the item ``unscorable`` with its reason, and an answer that was
    never produced (context overflow, backend error) is ``no_response``. Neither is counted as a failure. A
    result's ``further`` verdicts become rows of their own, with item ids ``<item_id>#<n>``.

    Args:
        check: ``check(item, response)`` → passed, or a :class:`RuleResult`.
        version: The scorer's version, stored with every row (bump it when the check changes).
        item_metric: The scores table's ``metric`` for an item (default: the dataset's first metric).
    """

    def score(inputs: ScoringInputs) -> pd.DataFrame:
        rows = []
        for answer in inputs.answers.to_dict("records"):
            item = inputs.items[str(answer["item_id"])]
            row: dict[str, Any] = {column: None for column in SCORE_COLUMNS}
            row.update(answer_identity(answer, item_metric(item)))
            row.update(
                model=inputs.model,
                value=np.nan,
                score=np.nan,
                scorer_version=version,
                judge_model=RULE_BASED,
                parse_status="ok",
            )
            if not answered(answer):
                reason = f"no answer: {answer.get('finish_reason')} {answer.get('error') or ''}".strip()
                rows.append({**row, "parse_status": "no_response", "parse_reason": reason})
                continue
            result = check(item, answer["response"])
            result = result if isinstance(result, RuleResult) else RuleResult(bool(result))
            if result.passed is None:
                rows.append({**row, "parse_status": "unscorable", "parse_reason": result.detail})
                continue
            verdicts = [(row["metric"], result.passed), *result.further]
            for number, (metric, passed) in enumerate(verdicts):
                rows.append(
                    {
                        **row,
                        "metric": metric,
                        "item_id": row["item_id"] + (f"#{number}" if number else ""),
                        "value": float(passed),
                        "score": 100.0 * passed,
                        "raw_judgement": result.detail,
                    }
                )
        return pd.DataFrame(rows, columns=SCORE_COLUMNS)

    return score


def mean_units(scores: pd.DataFrame, personas: Mapping[str, Persona]) -> pd.DataFrame:
    """Unit scores as the mean item score per unit and metric (rates in percent for 0/100 item scores).

    Items without a score (unparsed verdict, unscorable prompt, no answer) are left out of the mean and counted in
    ``n_unscored``; a unit without any scored item has a NaN score. A baseline judged against several characters'
    descriptions gets one row per character (``reference_persona``).

    Args:
        scores: One dataset's rows of the scores table.
        personas: The run's personas (unused; part of the aggregator signature).
    """
    if scores.empty:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    keyed = scores.assign(reference_persona=reference_personas(scores))
    grouped = keyed.groupby([*UNIT_KEY, "dataset", "metric", "reference_persona"], dropna=False, sort=True)["score"]
    units = grouped.agg(score="mean", n_items="count", n_total="size").reset_index()
    units["n_unscored"] = units.pop("n_total") - units["n_items"]
    return units[UNIT_COLUMNS]


def reference_personas(scores: pd.DataFrame) -> pd.Series:
    """The unit table's ``reference_persona`` of each row of the scores table: the character the item was judged
    against (its ``persona``), or ``None`` where that is the baseline itself."""
    persona = scores["persona"].astype(object)
    return persona.where(persona.notna() & (persona != BASELINE), None)


def items_by_id(items: Iterable[BenchmarkItem]) -> dict[str, BenchmarkItem]:
    """``item_id`` → item."""
    return {str(item.item_id): item for item in items}
