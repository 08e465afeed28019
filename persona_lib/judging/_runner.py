"""Running the LLM judge through the response store and turning its verdicts into rows of the scores table.

Every judge call is a single user message (a rendered template) sent through
:func:`persona_lib.store.complete_requests` with tags ``stage="judge"``, so judgements are cached by content,
resumable after a kill, and never made twice. What is judged, and how, is each dataset's business
(``persona_lib.datasets``); this module runs whatever :class:`JudgeTask` objects it is given.

``parse_status`` is ``ok``, ``unparsed`` (judge output without a valid result line), ``fallback`` (the study's
replacement of an unparsable verdict, only with ``judging.unparsed: study``), ``judge_error`` (the judge call
failed or overflowed) or ``no_response`` (the model under test produced no answer, so nothing was judged). Only ``ok``
and ``fallback`` rows have a score.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from persona_lib._schema import RULE_BASED, SCORE_COLUMNS
from persona_lib.backends._base import Backend, SamplingParams
from persona_lib.config import RunConfig
from persona_lib.judging._parsing import ParsedVerdict, parse_binary, parse_likert, parse_pairwise, study_fallback
from persona_lib.judging._templates import VerdictKind
from persona_lib.store import Request, ResponseStore, complete_requests, make_run_info

JUDGE_SCORER_VERSION = 2
"""Version of the judge templates, parsing and score mapping; bump it on any change that alters scores.

Changelog: 1 (2026-11) first templates; 2 (2026-12) the study's rubrics restated (knowledge = contradictions only,
refusal = explicit statements only, BFI poles by six facets, general-instruction ties count as A), the study's
``**Reasoning:**``/``**Result:**`` answer format, no assistant line for the baseline, the study's fallbacks on request.
"""

NO_RESPONSE_REASON = "the model under test gave no answer (context overflow or error); nothing to judge"

Fallback = Literal["none", "seeded_choice", "score_of"]


@dataclass(frozen=True)
class JudgeTask:
    """One judge call to make.

    Attributes:
        prompt: The rendered judge prompt (sent as the only, user, message).
        verdict: How to parse the output: ``likert`` (1–5), ``pairwise`` (A/B) or ``binary`` (yes/no).
        row: The identity fields of the resulting scores row (condition, persona, kind, checkpoint, replicate,
            dataset, metric, item_id, dimension); also stored as the request's tags.
        reference_position: For pairwise tasks, where the reference answer was placed (``A``/``B``); ``None``
            when there is no reference (validation samples), in which case no win score is derived.
        fallback: What the study did with an unparsable verdict of this kind of task, applied only when the
            configuration asks for the study's handling (``judging.unparsed: study``): ``seeded_choice`` (a seeded
            random ``A``/``B``), ``score_of`` (a looser "score of N" pattern) or ``none``.
        truncate_prompt: Whether ``judging.truncate_prompt_tokens`` applies (the study truncated the judge prompts
            of benchmark answers, not of dialogue turns).
    """

    prompt: str
    verdict: VerdictKind
    row: dict[str, Any] = field(default_factory=dict)
    reference_position: str | None = None
    fallback: Fallback = "none"
    truncate_prompt: bool = True


def judge_sampling(config: RunConfig, *, truncate_prompt: bool = True) -> SamplingParams:
    """The judge's decoding parameters from ``config.judging``.

    Args:
        config: The run configuration.
        truncate_prompt: Apply ``judging.truncate_prompt_tokens`` (when set).
    """
    judging = config.judging
    return SamplingParams(
        temperature=judging.temperature,
        top_p=judging.top_p,
        max_new_tokens=judging.max_new_tokens,
        seed=judging.seed,
        truncate_prompt_tokens=judging.truncate_prompt_tokens if truncate_prompt else None,
    )


def _fallback_seed(seed: int, key: str) -> int:
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:12], 16)


def likert_score(value: int) -> float:
    """A 1–5 rating on the 0–100 scale: ``(value - 1) / 4 * 100``."""
    return (value - 1) / 4 * 100


def _score(task: JudgeTask, verdict: ParsedVerdict) -> float:
    if verdict.value is None:
        return float("nan")
    if task.verdict == "likert":
        return likert_score(int(verdict.value))
    if task.verdict == "binary":
        return 100.0 if verdict.value else 0.0
    if task.reference_position is None:
        return float("nan")
    return 0.0 if verdict.value == task.reference_position else 100.0


def _parse(task: JudgeTask, text: str) -> ParsedVerdict:
    if task.verdict == "likert":
        return parse_likert(text)
    if task.verdict == "binary":
        return parse_binary(text)
    return parse_pairwise(text)


def run_judge_tasks(
    tasks: Sequence[JudgeTask],
    config: RunConfig,
    backend: Backend,
    store: ResponseStore,
    *,
    model_name: str,
    desc: str = "judge",
) -> pd.DataFrame:
    """Send judge tasks through the store (cached, resumable) and parse the verdicts into score rows.

    An unparsable verdict stays ``unparsed`` (no score) unless ``config.judging.unparsed`` is ``study``: then the
    task's :attr:`JudgeTask.fallback` is applied and the row is labelled ``fallback``, so it can be counted.

    Args:
        tasks: The judge calls to make.
        config: The run configuration (``judging`` sampling and verdict handling, ``judge`` batch size, ``seed``).
        backend: The judge backend.
        store: The run's :class:`persona_lib.store.ResponseStore`.
        model_name: The model under test (the scores table's ``model`` column).
        desc: Progress-bar label.

    Returns:
        One row per task, in task order, with the columns of :data:`SCORE_COLUMNS`.
    """
    run_info = {**make_run_info(backend, config), "judge_scorer_version": JUDGE_SCORER_VERSION}
    rows: list[dict[str, Any] | None] = [None] * len(tasks)
    for truncate in (True, False):
        chosen = [index for index, task in enumerate(tasks) if task.truncate_prompt == truncate]
        if not chosen:
            continue
        params = judge_sampling(config, truncate_prompt=truncate)
        requests = [
            Request(
                messages=[{"role": "user", "content": tasks[index].prompt}],
                tags={"stage": "judge", "model_under_test": model_name, **tasks[index].row},
            )
            for index in chosen
        ]
        results = complete_requests(
            store, backend, requests, params, run_info, batch_size=config.judge.batch_size, desc=desc
        )
        for index, request in zip(chosen, requests, strict=True):
            key = request.key(backend, params)
            rows[index] = _scored_row(tasks[index], results[key], key, config, model_name, backend.model)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _scored_row(
    task: JudgeTask, record: Any, key: str, config: RunConfig, model_name: str, judge_model: str
) -> dict[str, Any]:
    row = unscored_row(task.row, model_name, judge_model, "judge_error", "")
    row["judge_key"] = key
    if record.finish_reason not in ("stop", "length"):
        row["parse_reason"] = record.error or record.finish_reason
        return row
    verdict = _parse(task, record.text)
    if verdict.status == "unparsed" and config.judging.unparsed == "study":
        verdict = study_fallback(task.fallback, record.text, verdict, seed=_fallback_seed(config.seed, key))
    row.update(
        raw_judgement=record.text,
        value=verdict.value,
        score=_score(task, verdict),
        parse_status=verdict.status,
        parse_reason=verdict.reason,
    )
    return row


def unscored_row(
    identity: dict[str, Any], model_name: str, judge_model: str, status: str, reason: str
) -> dict[str, Any]:
    """A scores row without a score (``status`` ``judge_error`` until parsed, or ``no_response``).

    Args:
        identity: The row's identity fields (see :class:`JudgeTask`).
        model_name: The model under test.
        judge_model: The judge (or ``rule-based``).
        status: The ``parse_status``.
        reason: The ``parse_reason``.
    """
    row = {column: None for column in SCORE_COLUMNS}
    row.update(identity)
    row.update(
        model=model_name,
        score=float("nan"),
        scorer_version=JUDGE_SCORER_VERSION,
        judge_model=judge_model,
        parse_status=status,
        parse_reason=reason,
    )
    return row


def unparsed_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """Parse outcomes of the judge per dataset × model: how many verdicts were usable and how many were not.

    Args:
        scores: The scores table (rows scored by rule are left out).

    Returns:
        Columns dataset, model, judge_model, n (rows), n_ok, n_fallback, n_unparsed, n_judge_error,
        n_no_response, unparsed_share (n_unparsed / (n - n_no_response), in percent).
    """
    statuses = ["ok", "fallback", "unparsed", "judge_error", "no_response"]
    scores = scores[scores["judge_model"] != RULE_BASED]
    if scores.empty:
        return pd.DataFrame(columns=["dataset", "model", "judge_model", "n", *[f"n_{s}" for s in statuses]])
    counts = (
        pd.crosstab([scores["dataset"], scores["model"], scores["judge_model"]], scores["parse_status"])
        .reindex(columns=statuses, fill_value=0)
        .add_prefix("n_")
        .reset_index()
    )
    counts.columns.name = None
    counts.insert(3, "n", counts[[f"n_{s}" for s in statuses]].sum(axis=1))
    judged = counts["n"] - counts["n_no_response"]
    counts["unparsed_share"] = (100 * counts["n_unparsed"] / judged.where(judged > 0)).astype(float)
    return counts
