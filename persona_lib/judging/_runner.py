"""Running the LLM judge through the response store and turning its verdicts into rows of the scores table.

Every judge call is a single user message (a rendered template) sent through
:func:`persona_lib.store.complete_requests` with tags ``stage="judge"``, so judgements are cached by content,
resumable after a kill, and never made twice. What is judged, and how, is each dataset's business
(``persona_lib.datasets``); this module runs whatever :class:`JudgeTask` objects it is given.

How a judgement becomes a verdict and a score, in each mode and order: :mod:`persona_lib.judging._verdicts`.

``parse_status`` is ``ok``, ``unparsed`` (judge output without a valid result line), ``fallback`` (the study's
replacement of an unparsable verdict, only with ``judging.unparsed: study``), ``judge_error`` (the judge call
failed or overflowed) or ``no_response`` (the model under test produced no answer, so nothing was judged). Only ``ok``
and ``fallback`` rows have a score.

Which reader: ``judging.unparsed: drop`` (the default) reads the LAST result line strictly
(:func:`persona_lib.judging.parse_likert` and its siblings); ``study`` reads as the study did, the FIRST matching
``**Result:**`` marker, then the task's fallback (:func:`persona_lib.judging.parse_study_verdict`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from persona_lib._schema import RULE_BASED, SCORE_COLUMNS
from persona_lib.config import RunConfig
from persona_lib.contract import Backend, SamplingParams, decode_label_distribution
from persona_lib.judging._parsing import (
    ParsedVerdict,
    parse_binary,
    parse_likert,
    parse_pairwise,
    parse_study_verdict,
)
from persona_lib.judging._templates import VerdictKind
from persona_lib.judging._verdicts import (
    RESULT_PREFIX,
    VERDICT_LABELS,
    Verdict,
    both_orders_distribution,
    both_orders_generated,
    distribution_verdict,
    generated_verdict,
)
from persona_lib.store import Request, ResponseStore, complete_requests, make_run_info

JUDGE_SCORER_VERSION = 4
"""Version of the judge templates, parsing and score mapping; bump it on any change that alters scores.

Changelog: 1 (2026-11) first templates; 2 (2026-12) the study's rubrics restated (knowledge = contradictions only,
refusal = explicit statements only, BFI poles by six facets, general-instruction ties count as A), the study's
``**Reasoning:**``/``**Result:**`` answer format, no assistant line for the baseline, the study's fallbacks on request;
3 (2026-12) distribution judging and pairwise comparisons in both orders (ties when the orders disagree); 4 (2026-12)
``judging.unparsed: study`` reads verdicts with the study's own reader (first matching ``**Result:**`` marker).
"""

NO_RESPONSE_REASON = "the model under test gave no answer (context overflow or error); nothing to judge"

Fallback = Literal["none", "seeded_choice", "score_of"]
JudgeMode = Literal["generate", "distribution"]
_ORIGINAL, _SWAPPED = "original", "swapped"


@dataclass(frozen=True)
class JudgeTask:
    """One item to judge.

    Attributes:
        prompt: The rendered judge prompt (sent as the only, user, message).
        verdict: How to read the judgement: ``likert`` (1–5), ``pairwise`` (A/B) or ``binary`` (yes/no).
        row: The identity fields of the resulting scores row (condition, persona, kind, checkpoint, replicate,
            dataset, metric, item_id, dimension); also stored as the request's tags.
        reference_position: For pairwise tasks, where the reference answer was placed (``A``/``B``); ``None``
            when there is no reference (validation samples), in which case no win score is derived.
        fallback: What the study did with an unparsable verdict of this kind of task, applied only when the
            configuration asks for the study's handling (``judging.unparsed: study``): ``seeded_choice`` (a seeded
            random ``A``/``B``), ``score_of`` (a looser "score of N" pattern) or ``none``.
        truncate_prompt: Whether ``judging.truncate_prompt_tokens`` applies (the study truncated the judge prompts
            of benchmark answers, not of dialogue turns).
        swapped_prompt: For pairwise tasks, the same comparison with the two answers exchanged (judged too when
            ``judging.pairwise_orders`` is 2).
    """

    prompt: str
    verdict: VerdictKind
    row: dict[str, Any] = field(default_factory=dict)
    reference_position: str | None = None
    fallback: Fallback = "none"
    truncate_prompt: bool = True
    swapped_prompt: str | None = None


def judge_modes(config: RunConfig) -> tuple[JudgeMode, ...]:
    """The judging modes a configuration asks for; the first gives the scores table's ``score``."""
    return ("generate", "distribution") if config.judging.mode == "both" else (config.judging.mode,)


def judge_sampling(
    config: RunConfig, *, truncate_prompt: bool = True, distribution_of: VerdictKind | None = None
) -> SamplingParams:
    """The judge's request parameters from ``config.judging``.

    Args:
        config: The run configuration.
        truncate_prompt: Apply ``judging.truncate_prompt_tokens`` (when set).
        distribution_of: Read the label distribution of this verdict kind (one forward pass after
            :data:`RESULT_PREFIX`) instead of generating.
    """
    judging = config.judging
    truncate = judging.truncate_prompt_tokens if truncate_prompt else None
    if distribution_of is not None:
        return SamplingParams(
            temperature=0.0,
            max_new_tokens=1,
            seed=judging.seed,
            truncate_prompt_tokens=truncate,
            answer_prefix=RESULT_PREFIX,
            score_labels=VERDICT_LABELS[distribution_of],
        )
    return SamplingParams(
        temperature=judging.temperature,
        top_p=judging.top_p,
        max_new_tokens=judging.max_new_tokens,
        seed=judging.seed,
        truncate_prompt_tokens=truncate,
    )


def _fallback_seed(seed: int, key: str) -> int:
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:12], 16)


def _parse(task: JudgeTask, text: str, config: RunConfig, key: str) -> ParsedVerdict:
    """Strict last-line reading (``judging.unparsed: drop``) or the study's reader and fallback (``study``)."""
    if config.judging.unparsed == "study":
        return parse_study_verdict(text, task.verdict, task.fallback, seed=_fallback_seed(config.seed, key))
    if task.verdict == "likert":
        return parse_likert(text)
    if task.verdict == "binary":
        return parse_binary(text)
    return parse_pairwise(text)


@dataclass
class JudgeCall:
    """One judge request of a task: its answer order and mode, and (once sent) its key and stored record.

    Attributes:
        task: The task's position in the list of tasks.
        order: ``original``, or ``swapped`` for a pairwise comparison judged with the answers exchanged.
        mode: ``generate`` or ``distribution``.
        prompt: The prompt sent, as one user message.
        key: The request key (set when sent).
        record: The stored response (set when sent).
    """

    task: int
    order: str
    mode: JudgeMode
    prompt: str
    key: str = ""
    record: Any = None


@dataclass(frozen=True)
class JudgeCallGroup:
    """Judge calls sent together with one set of request parameters, in the order they are sent.

    Attributes:
        mode: ``generate`` or ``distribution``.
        truncate_prompt: Whether ``judging.truncate_prompt_tokens`` applies (benchmark answers, not dialogue turns).
        verdict: The verdict kind whose labels a distribution reads (``None`` when generating).
        calls: The calls, sorted by prompt so prompts sharing a prefix go out together (prefix caching).
    """

    mode: JudgeMode
    truncate_prompt: bool
    verdict: VerdictKind | None
    calls: list[JudgeCall]


def judge_call_groups(tasks: Sequence[JudgeTask], config: RunConfig) -> tuple[list[JudgeCall], list[JudgeCallGroup]]:
    """Every judge request the tasks make, and the groups they are sent in: what :func:`run_judge_tasks` sends.

    Each task is judged in every mode of ``judging.mode`` and, for a pairwise task with ``judging.pairwise_orders:
    2``, in both answer orders. The plan counts these same calls (:mod:`persona_lib.plan`).

    Returns:
        The calls in task order, and the same calls grouped by request parameters in sending order.

    Raises:
        ValueError: if two orders are asked for and a pairwise task has no swapped prompt.
    """
    calls = _calls(tasks, judge_modes(config), config.judging.pairwise_orders)
    groups: dict[tuple, list[JudgeCall]] = {}
    for call in calls:
        task = tasks[call.task]
        groups.setdefault(
            (call.mode, task.truncate_prompt, task.verdict if call.mode == "distribution" else None), []
        ).append(call)
    ordered = []
    for (mode, truncate, verdict), members in groups.items():
        members.sort(key=lambda call: call.prompt)
        ordered.append(JudgeCallGroup(mode, truncate, verdict, members))
    return calls, ordered


def _calls(tasks: Sequence[JudgeTask], modes: Sequence[JudgeMode], orders: int) -> list[JudgeCall]:
    calls = []
    for index, task in enumerate(tasks):
        prompts = {_ORIGINAL: task.prompt}
        if orders == 2 and task.verdict == "pairwise":
            if task.swapped_prompt is None:
                raise ValueError(
                    f"judging.pairwise_orders is 2 but the pairwise task {task.row} has no swapped_prompt; the "
                    "dataset's judge_tasks must render the comparison with the answers exchanged too"
                )
            prompts[_SWAPPED] = task.swapped_prompt
        calls += [JudgeCall(index, order, mode, prompt) for mode in modes for order, prompt in prompts.items()]
    return calls


def run_judge_tasks(
    tasks: Sequence[JudgeTask],
    config: RunConfig,
    backend: Backend,
    store: ResponseStore,
    *,
    model_name: str,
    desc: str = "judge",
) -> pd.DataFrame:
    """Send judge tasks through the store (cached, resumable) and turn the judgements into score rows.

    Each task is judged in every mode of ``judging.mode`` and, for pairwise tasks with ``judging.pairwise_orders:
    2``, in both orders (see :mod:`persona_lib.judging._verdicts`). The row's ``value``, ``score`` and
    ``parse_status`` come from the first mode (``generate`` when the mode is ``both``); a distribution read in
    either mode also fills ``label_probs``, ``value_distribution`` and ``score_distribution``. An unparsable
    generated verdict stays ``unparsed`` (no score) unless ``judging.unparsed`` is ``study``: then verdicts are read
    with the study's reader (first matching ``**Result:**`` marker), the task's :attr:`JudgeTask.fallback` is
    applied where that finds nothing, and such rows are labelled ``fallback``.

    Args:
        tasks: The items to judge.
        config: The run configuration (``judging`` mode, orders, sampling and verdict handling, ``judge`` batch
            size, ``seed``).
        backend: The judge backend.
        store: The run's :class:`persona_lib.store.ResponseStore`.
        model_name: The model under test (the scores table's ``model`` column).
        desc: Progress-bar label.

    Returns:
        One row per task, in task order, with the columns of :data:`SCORE_COLUMNS`.

    Raises:
        ValueError: if two orders are asked for and a pairwise task has no swapped prompt.
    """
    run_info = {**make_run_info(backend, config), "judge_scorer_version": JUDGE_SCORER_VERSION}
    modes = judge_modes(config)
    calls, groups = judge_call_groups(tasks, config)
    for group in groups:
        mode, truncate, verdict, members = group.mode, group.truncate_prompt, group.verdict, group.calls
        params = judge_sampling(config, truncate_prompt=truncate, distribution_of=verdict)
        requests = [
            Request(
                messages=[{"role": "user", "content": call.prompt}],
                tags={
                    "stage": "judge",
                    "model_under_test": model_name,
                    "judge_mode": mode,
                    "order": call.order,
                    **tasks[call.task].row,
                },
            )
            for call in members
        ]
        label = desc if len(groups) == 1 else f"{desc} ({mode}{', ' + verdict if verdict else ''})"
        results = complete_requests(
            store, backend, requests, params, run_info, batch_size=config.judge.batch_size, desc=label
        )
        for call, request in zip(members, requests, strict=True):
            call.key = request.key(backend, params)
            call.record = results[call.key]
    by_task: dict[int, dict[tuple[str, str], JudgeCall]] = {}
    for call in calls:
        by_task.setdefault(call.task, {})[(call.mode, call.order)] = call
    rows = [
        _scored_row(task, by_task[index], modes, config, model_name, backend.model) for index, task in enumerate(tasks)
    ]
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _failed(record: Any) -> Verdict | None:
    if record.finish_reason in ("stop", "length"):
        return None
    return Verdict(None, float("nan"), "judge_error", record.error or record.finish_reason)


def _generated(task: JudgeTask, call: JudgeCall, config: RunConfig) -> Verdict:
    failure = _failed(call.record)
    if failure is not None:
        return failure
    parsed = _parse(task, call.record.text, config, call.key)
    return generated_verdict(task.verdict, parsed, task.reference_position)


def _distribution(call: JudgeCall) -> dict[str, float] | Verdict:
    failure = _failed(call.record)
    if failure is not None:
        return failure
    try:
        return decode_label_distribution(call.record.text)[0]
    except ValueError as err:
        return Verdict(None, float("nan"), "judge_error", str(err))


def _verdict(task: JudgeTask, calls: dict[tuple[str, str], JudgeCall], mode: JudgeMode, config: RunConfig) -> Verdict:
    swapped = calls.get((mode, _SWAPPED))
    if mode == "generate":
        verdict = _generated(task, calls[(mode, _ORIGINAL)], config)
        if swapped is None:
            return verdict
        return both_orders_generated(verdict, _generated(task, swapped, config), task.reference_position)
    original = _distribution(calls[(mode, _ORIGINAL)])
    if isinstance(original, Verdict):
        return original
    if swapped is None:
        return distribution_verdict(task.verdict, original, task.reference_position)
    other = _distribution(swapped)
    if isinstance(other, Verdict):
        return other
    return both_orders_distribution(original, other, task.reference_position)


def _scored_row(
    task: JudgeTask,
    calls: dict[tuple[str, str], JudgeCall],
    modes: Sequence[JudgeMode],
    config: RunConfig,
    model_name: str,
    judge_model: str,
) -> dict[str, Any]:
    row = unscored_row(task.row, model_name, judge_model, "judge_error", "")
    primary = calls[(modes[0], _ORIGINAL)]
    verdict = _verdict(task, calls, modes[0], config)
    row.update(
        judge_key=primary.key,
        judge_mode=modes[0],
        raw_judgement=primary.record.text,
        value=verdict.value,
        score=verdict.score,
        parse_status=verdict.status,
        parse_reason=verdict.reason,
        order_flipped=verdict.order_flipped,
    )
    if "distribution" in modes:
        read = calls[("distribution", _ORIGINAL)].record
        distribution = verdict if modes[0] == "distribution" else _verdict(task, calls, "distribution", config)
        row.update(
            label_probs=read.text if read.finish_reason == "stop" else None,
            value_distribution=distribution.value,
            score_distribution=distribution.score,
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
