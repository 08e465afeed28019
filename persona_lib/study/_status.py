"""What is done, per model and unit, read from the stores alone (no model, no run folder needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from persona_lib._schema import RULE_BASED
from persona_lib.generation import benchmark_items
from persona_lib.resolve import run_personas
from persona_lib.study._config import StudyConfig
from persona_lib.study._folder import Study
from persona_lib.study._replay import ReplayBackend, ReplayStore, quiet
from persona_lib.study._units import WorkUnit, study_units
from persona_lib.study._work import judge_unit_scores, not_stored, unit_tables

STATUS_COLUMNS = [
    "model",
    "condition",
    "kind",
    "rounds_done",
    "rounds_expected",
    "answers_done",
    "answers_expected",
    "judged_done",
    "judged_expected",
    "state",
]
"""One row per unit. ``state``: ``not started``, ``generating``, ``generated`` (answers complete, verdicts not),
``done``; a dialogue stopped for good (e.g. a context overflow) counts as complete up to where it stopped."""


def _expected_answers(config: StudyConfig, unit: WorkUnit) -> int:
    run_config = config.run_config(unit.model)
    items = benchmark_items(run_config, run_personas(run_config)).get(unit.condition, [])
    return len(items) * len(run_config.resolved_checkpoints())


def _expected_rounds(dialogues: pd.DataFrame, n_rounds: int) -> int:
    """``n_rounds`` per replicate, except a replicate stopped for good, which expects what it attempted."""
    expected = 0
    for _, rounds in dialogues.groupby("replicate"):
        stopped_for_good = (~rounds["finish_reason"].isin(["stop", "length"]) & ~not_stored(rounds, "error")).any()
        expected += len(rounds) if stopped_for_good else n_rounds
    return expected


def unit_status(config: StudyConfig, unit: WorkUnit, generated: ReplayStore, judged: ReplayStore) -> dict:
    """One unit's progress (a row of :data:`STATUS_COLUMNS`), replayed from the generation and judge stores."""
    dialogues, answers = unit_tables(config, unit, generated)
    replicates = 2 if config.protocol.shuffled_replicate else 1
    rounds_missing = not_stored(dialogues, "error")
    answers_missing = not_stored(answers, "error")
    row = {
        "model": unit.model,
        "condition": unit.condition,
        "kind": unit.kind,
        "rounds_done": int((~rounds_missing).sum()),
        "rounds_expected": _expected_rounds(dialogues, config.protocol.n_rounds)
        if len(dialogues)
        else replicates * config.protocol.n_rounds,
        "answers_done": int((~answers_missing).sum()) if len(answers) else 0,
    }
    generated_all = not rounds_missing.any() and not answers_missing.any()
    row["answers_expected"] = len(answers) if generated_all else _expected_answers(config, unit)
    row["judged_done"] = row["judged_expected"] = None
    if generated_all:
        scores = judge_unit_scores(config, unit, ReplayBackend(config.judge.model), judged, dialogues, answers)
        needs_judge = scores[(scores["judge_model"] != RULE_BASED) & (scores["parse_status"] != "no_response")]
        row["judged_expected"] = len(needs_judge)
        row["judged_done"] = int((~not_stored(needs_judge, "parse_reason")).sum())
    if generated_all:
        row["state"] = "done" if row["judged_done"] == row["judged_expected"] else "generated"
    else:
        row["state"] = "generating" if row["rounds_done"] else "not started"
    return row


def study_status(
    study: Study,
    units: Sequence[WorkUnit] | None = None,
    generation_stores: Sequence[str | Path] | None = None,
    judge_stores: Sequence[str | Path] | None = None,
) -> pd.DataFrame:
    """Every unit's progress, from the workers' stores (nothing is written, no model is loaded).

    Args:
        study: The study folder.
        units: The units to report (default: all of the study).
        generation_stores: The stores of answers (default: every ``stores/generate-*.sqlite``).
        judge_stores: The stores of verdicts (default: every ``stores/judge-*.sqlite``).

    Returns:
        Columns :data:`STATUS_COLUMNS`, one row per unit.
    """
    units = list(units) if units is not None else study_units(study.config)
    generated = ReplayStore(generation_stores if generation_stores is not None else study.store_paths("generate"))
    judged = ReplayStore(judge_stores if judge_stores is not None else study.store_paths("judge"))
    try:
        with quiet():
            rows = [unit_status(study.config, unit, generated, judged) for unit in units]
    finally:
        generated.close()
        judged.close()
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)


def status_summary(status: pd.DataFrame) -> pd.DataFrame:
    """Per model: units in each state and the answers and verdicts done out of those expected."""
    counts = pd.crosstab(status["model"], status["state"]).reindex(
        columns=["done", "generated", "generating", "not started"], fill_value=0
    )
    totals = status.groupby("model", sort=False)[
        ["rounds_done", "rounds_expected", "answers_done", "answers_expected", "judged_done", "judged_expected"]
    ].sum(min_count=1)
    order = list(dict.fromkeys(status["model"]))
    return counts.join(totals).reindex(order).reset_index().rename(columns={"index": "model"})
