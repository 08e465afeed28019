"""One scores table for a whole run: IFBench by rule, everything else by the LLM judge, and its unit-level metrics.

Lives beside (not inside) ``persona_lib.scoring`` and ``persona_lib.judging`` because it uses both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from persona_lib.backends import Backend
from persona_lib.config import RunConfig
from persona_lib.judging import SCORE_COLUMNS, judge_responses
from persona_lib.personas import BASELINE, Persona
from persona_lib.scoring import (
    IFBENCH_SCORER_VERSION,
    bfi_error,
    bfi_profiles,
    fidelity_per_turn,
    refusal_rates,
    score_ifbench_response,
    win_rates,
)
from persona_lib.store import ResponseStore

RULE_BASED = "rule-based"
"""``judge_model`` of rows scored by rule (IFBench)."""

_ANSWERED = ("stop", "length")


def ifbench_score_rows(benchmark_df: pd.DataFrame, model_name: str) -> pd.DataFrame:
    """Score the IFBench answers of a run into rows of the scores table.

    The row's ``value`` is the prompt-level strict verdict (every instruction followed), the book's headline
    variant; ``score`` is 100 or 0. A prompt whose checker cannot run here gets ``parse_status`` ``unscorable``
    with the reason and no score; an answer that was never produced (context overflow, backend error) gets
    ``no_response``. Neither is counted as a failure.

    Args:
        benchmark_df: Answers from :func:`persona_lib.generation.generate_benchmarks` (needs ``meta`` with the
            item's ``instruction_id_list`` and ``kwargs``).
        model_name: The model under test, for the ``model`` column.
    """
    answers = benchmark_df[benchmark_df["dataset"] == "ifbench"]
    rows = []
    for answer in answers.itertuples(index=False):
        row = {
            "model": model_name,
            "condition": answer.condition,
            "persona": None if answer.condition == BASELINE else answer.condition,
            "kind": answer.kind,
            "checkpoint": answer.checkpoint,
            "replicate": "original",
            "dataset": "ifbench",
            "metric": "ifbench",
            "item_id": answer.item_id,
            "raw_judgement": None,
            "value": np.nan,
            "score": np.nan,
            "scorer_version": IFBENCH_SCORER_VERSION,
            "judge_model": RULE_BASED,
            "parse_status": "ok",
            "parse_reason": None,
        }
        if answer.finish_reason not in _ANSWERED:
            row.update(parse_status="no_response", parse_reason=f"no answer: {answer.finish_reason} {answer.error}")
        else:
            record = {"key": answer.item_id, "prompt": answer.prompt, **answer.meta}
            result = score_ifbench_response(record, answer.response)
            if result.scorable:
                passed = bool(result.follow_all_instructions_strict)
                row.update(value=float(passed), score=100.0 * passed,
                           raw_judgement=f"strict={result.follow_instruction_list_strict} "
                                         f"loose={result.follow_instruction_list_loose}")
            else:
                row.update(parse_status="unscorable", parse_reason=result.error)
        rows.append(row)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def score_run(
    config: RunConfig,
    judge: Backend,
    store: ResponseStore,
    benchmark_df: pd.DataFrame,
    dialogue_df: pd.DataFrame | None,
    personas: Mapping[str, Persona] | Iterable[Persona],
) -> pd.DataFrame:
    """Score every dialogue turn and benchmark answer of a run into one tidy table.

    Args:
        config: The run configuration.
        judge: The judge backend (``create_backend(config.judge)``); its calls are cached in ``store``.
        store: The run's response store.
        benchmark_df: Benchmark answers from :func:`persona_lib.generation.generate_benchmarks`.
        dialogue_df: Dialogue turns from :func:`persona_lib.generation.generate_dialogues` (fidelity), or None.
        personas: The run's personas.

    Returns:
        The scores table (:data:`persona_lib.judging.SCORE_COLUMNS`): judged rows and IFBench rows.
    """
    judged = judge_responses(config, judge, store, benchmark_df, dialogue_df, personas)
    rules = ifbench_score_rows(benchmark_df, config.model.model)
    parts = [part for part in (judged, rules) if not part.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=SCORE_COLUMNS)


def protocol_units(scores: pd.DataFrame, personas: Mapping[str, Persona] | Iterable[Persona]) -> pd.DataFrame:
    """Every protocol metric at the unit level: one 0–100 score per model × condition × kind × checkpoint.

    Metric names follow :data:`persona_lib.plots.METRICS`: ``dialogue`` (fidelity per turn, ``checkpoint`` = round,
    personas only), ``bfi_error`` (labelled characters only; mean over label sources, and for the baseline over
    every labelled character), ``rolebench_specific`` / ``rolebench_general`` (win rates), ``ifbench`` (prompt-level
    strict accuracy), ``safety`` and ``excess_safety`` (refusal rates). Units without any scored item are left out.

    Args:
        scores: The scores table of :func:`score_run`.
        personas: The run's personas (for the BFI labels).

    Returns:
        Columns model, condition, kind, checkpoint, dataset, metric, score.
    """
    unit = ["model", "condition", "kind", "checkpoint"]
    parts = []
    fidelity = fidelity_per_turn(scores[scores["dataset"] == "fidelity"]) if (scores["dataset"] == "fidelity").any() \
        else pd.DataFrame()
    if not fidelity.empty:
        parts.append(fidelity.groupby(unit, as_index=False)["score"].mean().assign(dataset="fidelity",
                                                                                    metric="dialogue"))
    if (scores["dataset"] == "bfi").any():
        errors = bfi_error(bfi_profiles(scores[scores["dataset"] == "bfi"]), personas)
        if not errors.empty:
            parts.append(errors.groupby(unit, as_index=False)["error"].mean()
                         .rename(columns={"error": "score"}).assign(dataset="bfi", metric="bfi_error"))
    wins = win_rates(scores)
    if not wins.empty:
        parts.append(wins.rename(columns={"rate": "score"}).assign(metric=lambda t: t["dataset"]))
    refusals = refusal_rates(scores)
    if not refusals.empty:
        parts.append(refusals.drop(columns="metric").rename(columns={"rate": "score", "benchmark": "metric"})
                     .assign(dataset="xstest"))
    rules = scores[(scores["dataset"] == "ifbench") & scores["score"].notna()]
    if not rules.empty:
        parts.append(rules.groupby(unit, as_index=False)["score"].mean().assign(dataset="ifbench", metric="ifbench"))
    columns = [*unit, "dataset", "metric", "score"]
    units = pd.concat([part[columns] for part in parts], ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return units.dropna(subset=["score"]).reset_index(drop=True)
