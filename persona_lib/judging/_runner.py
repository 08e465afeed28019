"""Running the LLM judge through the response store and collecting one tidy scores table.

Every judge call is a single user message (a rendered template) sent through
:func:`persona_lib.store.complete_requests` with tags ``stage="judge"``, so judgements are cached by content,
resumable after a kill, and never made twice. The scores table has one row per judged item and criterion
(:data:`SCORE_COLUMNS`).

What is judged:

* ``fidelity``: every turn of every persona dialogue (original and shuffled replicate) on three criteria
  (``fidelity_knowledge``, ``fidelity_style``, ``fidelity_in_character``). Baseline dialogues are not judged.
  A turn's ``item_id`` is ``turn-<hash of the user message>``, the same in both replicates (the shuffled
  replicate is matched to the original by user message; see :func:`persona_lib.scoring.fidelity_per_turn`).
* ``bfi``: the level of the item's Big-Five dimension the answer expresses (metric ``bfi_trait``).
* ``rolebench_specific`` / ``rolebench_general``: pairwise against the reference answer (metric ``win``). The
  reference is answer A when the item's index among its character's items is even and answer B when it is odd.
* ``xstest``: does the answer explicitly refuse? (metric ``refusal_unsafe`` or ``refusal_safe`` by the prompt's
  label).

``parse_status`` is ``ok``, ``unparsed`` (judge output without a valid RESULT line), ``fallback`` (opt-in seeded
choice for pairwise), ``judge_error`` (the judge call failed or overflowed) or ``no_response`` (the model under
test produced no answer, so nothing was judged). Only ``ok`` and ``fallback`` rows have a score.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from persona_lib.backends._base import Backend, SamplingParams
from persona_lib.benchmarks import load_items
from persona_lib.config import RunConfig
from persona_lib.judging._parsing import ParsedVerdict, parse_binary, parse_likert, parse_pairwise
from persona_lib.judging._templates import FIDELITY_CRITERIA, render_judge_prompt
from persona_lib.personas import BASELINE, Persona
from persona_lib.store import Request, ResponseStore, complete_requests, make_run_info

JUDGE_SCORER_VERSION = 1
"""Version of the judge templates, parsing and score mapping; bump it on any change that alters scores."""

JUDGED_DATASETS: tuple[str, ...] = ("bfi", "rolebench_specific", "rolebench_general", "xstest")
"""Benchmark datasets scored by the judge (IFBench is rule-scored elsewhere)."""

SCORE_COLUMNS: list[str] = [
    "model",
    "condition",
    "persona",
    "kind",
    "checkpoint",
    "replicate",
    "dataset",
    "metric",
    "item_id",
    "dimension",
    "reference_position",
    "raw_judgement",
    "value",
    "score",
    "scorer_version",
    "judge_model",
    "parse_status",
    "parse_reason",
    "judge_key",
]
"""Columns of the scores table. ``checkpoint`` is the round for fidelity rows; ``persona`` is the character the
item concerns (the condition's persona, or the RoleBench item's character when the baseline answers it);
``dimension`` is set for BFI rows and ``reference_position`` for pairwise rows."""

VerdictKind = Literal["likert", "pairwise", "binary"]


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
    """

    prompt: str
    verdict: VerdictKind
    row: dict[str, Any] = field(default_factory=dict)
    reference_position: str | None = None


def _persona_index(personas: Mapping[str, Persona] | Iterable[Persona]) -> dict[str, Persona]:
    values = personas.values() if isinstance(personas, Mapping) else personas
    return {persona.name: persona for persona in values}


def _lookup_persona(index: Mapping[str, Persona], name: str | None, where: str) -> Persona | None:
    if name is None or name == BASELINE:
        return None
    if name not in index:
        raise ValueError(
            f"{where}: persona {name!r} is not among the personas passed to the judge ({sorted(index)}); "
            "pass every persona of the run (persona_lib.personas.load_personas())"
        )
    return index[name]


def turn_id(user_message: str) -> str:
    """The ``item_id`` of a dialogue turn: a short hash of its user message (identical across replicates)."""
    return "turn-" + hashlib.sha256(user_message.encode("utf-8")).hexdigest()[:12]


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


def _parse(task: JudgeTask, text: str, fallback_seed: int | None) -> ParsedVerdict:
    if task.verdict == "likert":
        return parse_likert(text)
    if task.verdict == "binary":
        return parse_binary(text)
    return parse_pairwise(text, fallback_seed=fallback_seed)


def _response_column(table: pd.DataFrame, candidates: Sequence[str], what: str) -> str:
    for column in candidates:
        if column in table.columns:
            return column
    raise ValueError(f"{what} needs a response text column (one of {list(candidates)}); got {list(table.columns)}")


def _answered(row: Mapping[str, Any], text_column: str) -> bool:
    finish = row.get("finish_reason", "stop")
    text = row.get(text_column)
    return finish in ("stop", "length") and isinstance(text, str)


def build_fidelity_tasks(
    dialogue_df: pd.DataFrame, personas: Mapping[str, Persona] | Iterable[Persona]
) -> tuple[list[JudgeTask], list[dict[str, Any]]]:
    """Judge tasks for every turn of every persona dialogue, three criteria each.

    Args:
        dialogue_df: The dialogue table of :func:`persona_lib.generation.generate_dialogues` (columns
            condition, kind, replicate, round, user, assistant or text, finish_reason).
        personas: The run's personas (name → Persona or an iterable).

    Returns:
        The tasks, and the rows of turns that have no answer to judge (``parse_status="no_response"``).
    """
    required = ["condition", "kind", "replicate", "round", "user"]
    missing = [column for column in required if column not in dialogue_df.columns]
    if missing:
        raise ValueError(
            f"dialogue table lacks column(s) {missing}; pass the table returned by generate_dialogues "
            f"(got {list(dialogue_df.columns)})"
        )
    text_column = _response_column(dialogue_df, ("assistant", "text"), "dialogue table")
    index = _persona_index(personas)
    tasks: list[JudgeTask] = []
    unanswered: list[dict[str, Any]] = []
    for record in dialogue_df.to_dict("records"):
        if record["condition"] == BASELINE:
            continue
        persona = _lookup_persona(index, record["condition"], f"dialogue round {record['round']}")
        for criterion in FIDELITY_CRITERIA:
            row = {
                "condition": record["condition"],
                "persona": record["condition"],
                "kind": record["kind"],
                "checkpoint": int(record["round"]),
                "replicate": record["replicate"],
                "dataset": "fidelity",
                "metric": f"fidelity_{criterion}",
                "item_id": turn_id(record["user"]),
                "dimension": None,
            }
            if not _answered(record, text_column):
                unanswered.append(row)
                continue
            prompt = render_judge_prompt(
                f"fidelity_{criterion}",
                character_name=persona.name,
                character_description=persona.description,
                query=record["user"],
                response=record[text_column],
            )
            tasks.append(JudgeTask(prompt=prompt, verdict="likert", row=row))
    return tasks, unanswered


def reference_position(item_index: int) -> str:
    """Where the reference answer goes for the item at ``item_index``: ``A`` when even, ``B`` when odd."""
    return "A" if item_index % 2 == 0 else "B"


def _item_positions(items: Iterable[Any]) -> dict[tuple[str, str], tuple[Any, int]]:
    """(dataset, item_id) → (item, index among its character's items).

    The index is the item's ``meta["index_in_role"]`` (RoleBench items carry their position among the
    character's items in the source file), else its position among the same dataset and character's items in
    the order given.
    """
    counters: dict[tuple[str, str | None], int] = {}
    positions = {}
    for item in items:
        group = (item.dataset, item.persona)
        index = counters.get(group, 0)
        counters[group] = index + 1
        positions[(item.dataset, str(item.item_id))] = (item, int(item.meta.get("index_in_role", index)))
    return positions


def build_benchmark_tasks(
    benchmark_df: pd.DataFrame,
    items: Iterable[Any],
    personas: Mapping[str, Persona] | Iterable[Persona],
) -> tuple[list[JudgeTask], list[dict[str, Any]]]:
    """Judge tasks for the answers to judged benchmark items (BFI, RoleBench, XSTest).

    Args:
        benchmark_df: The benchmark answers (columns condition, kind, checkpoint, dataset, item_id, text or
            response, optional finish_reason and replicate). IFBench rows are ignored.
        items: The benchmark items (:class:`persona_lib.benchmarks.BenchmarkItem`) of the judged datasets, in
            load order: the pairwise reference position follows each item's index among its character's items.
        personas: The run's personas (name → Persona or an iterable).

    Returns:
        The tasks, and the rows of answers that cannot be judged (``parse_status="no_response"``).

    Raises:
        ValueError: when an answer's item is not among ``items`` or a persona is unknown.
    """
    required = ["condition", "kind", "checkpoint", "dataset", "item_id"]
    missing = [column for column in required if column not in benchmark_df.columns]
    if missing:
        raise ValueError(f"benchmark table lacks column(s) {missing}; got {list(benchmark_df.columns)}")
    text_column = _response_column(benchmark_df, ("text", "response"), "benchmark table")
    positions = _item_positions(items)
    index = _persona_index(personas)
    tasks: list[JudgeTask] = []
    unanswered: list[dict[str, Any]] = []
    judged = benchmark_df[benchmark_df["dataset"].isin(JUDGED_DATASETS)]
    for record in judged.to_dict("records"):
        dataset, item_id = record["dataset"], str(record["item_id"])
        where = f"benchmark answer {dataset}/{item_id} (condition {record['condition']!r})"
        if (dataset, item_id) not in positions:
            raise ValueError(f"{where}: item not found among the loaded {dataset} items")
        item, item_index = positions[(dataset, item_id)]
        condition_persona = _lookup_persona(index, record["condition"], where)
        row = {
            "condition": record["condition"],
            "persona": record["condition"],
            "kind": record["kind"],
            "checkpoint": int(record["checkpoint"]),
            "replicate": record.get("replicate") or "original",
            "dataset": dataset,
            "item_id": item_id,
            "dimension": None,
        }
        response = record.get(text_column)
        if dataset == "bfi":
            row.update(metric="bfi_trait", dimension=item.meta["dimension"])
            spec = dict(
                template="bfi_trait", verdict="likert", persona=condition_persona, dimension=item.meta["dimension"]
            )
        elif dataset == "xstest":
            row["metric"] = f"refusal_{item.meta['label']}"
            spec = dict(template="refusal", verdict="binary", persona=condition_persona)
        else:
            character = _lookup_persona(index, item.persona, where)
            row.update(metric="win", persona=item.persona, reference_position=reference_position(item_index))
            template = "pairwise_role_specific" if dataset == "rolebench_specific" else "pairwise_general"
            spec = dict(template=template, verdict="pairwise", persona=character)
        if not _answered(record, text_column):
            unanswered.append(row)
            continue
        tasks.append(_benchmark_task(row, item, response, **spec))
    return tasks, unanswered


def _benchmark_task(
    row: dict[str, Any],
    item: Any,
    response: str,
    *,
    template: str,
    verdict: VerdictKind,
    persona: Persona | None,
    dimension: str | None = None,
) -> JudgeTask:
    character = {
        "character_name": persona.name if persona else None,
        "character_description": persona.description if persona else None,
    }
    if verdict == "pairwise":
        position = row["reference_position"]
        first, second = (item.reference, response) if position == "A" else (response, item.reference)
        prompt = render_judge_prompt(template, **character, query=item.prompt, response_a=first, response_b=second)
        return JudgeTask(prompt=prompt, verdict=verdict, row=row, reference_position=position)
    fields = {"query": item.prompt, "response": response}
    if dimension is not None:
        fields["dimension"] = dimension
    return JudgeTask(prompt=render_judge_prompt(template, **character, **fields), verdict=verdict, row=row)


def judge_sampling(config: RunConfig) -> SamplingParams:
    """The judge's decoding parameters from ``config.judging``."""
    judging = config.judging
    return SamplingParams(
        temperature=judging.temperature, top_p=judging.top_p, max_new_tokens=judging.max_new_tokens, seed=judging.seed
    )


def _fallback_seed(seed: int, key: str) -> int:
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:12], 16)


def run_judge_tasks(
    tasks: Sequence[JudgeTask],
    config: RunConfig,
    backend: Backend,
    store: ResponseStore,
    *,
    model_name: str,
    pairwise_fallback: bool = False,
    desc: str = "judge",
) -> pd.DataFrame:
    """Send judge tasks through the store (cached, resumable) and parse the verdicts into score rows.

    Args:
        tasks: The judge calls to make.
        config: The run configuration (``judging`` sampling, ``judge`` batch size, ``seed``).
        backend: The judge backend.
        store: The run's :class:`persona_lib.store.ResponseStore`.
        model_name: The model under test (the scores table's ``model`` column).
        pairwise_fallback: Replace unparsable pairwise verdicts by a seeded random choice (labelled
            ``fallback``). Off by default.
        desc: Progress-bar label.

    Returns:
        One row per task with the columns of :data:`SCORE_COLUMNS`.
    """
    params = judge_sampling(config)
    requests = [
        Request(
            messages=[{"role": "user", "content": task.prompt}],
            tags={"stage": "judge", "model_under_test": model_name, **task.row},
        )
        for task in tasks
    ]
    run_info = {**make_run_info(backend, config), "judge_scorer_version": JUDGE_SCORER_VERSION}
    results = complete_requests(
        store, backend, requests, params, run_info, batch_size=config.judge.batch_size, desc=desc
    )
    rows = []
    for task, request in zip(tasks, requests, strict=True):
        key = request.key(backend, params)
        record = results[key]
        row = _unscored_row(task.row, model_name, backend.model, "judge_error", "")
        row["judge_key"] = key
        if record.finish_reason not in ("stop", "length"):
            row["parse_reason"] = record.error or record.finish_reason
        else:
            seed = _fallback_seed(config.seed, key) if pairwise_fallback else None
            verdict = _parse(task, record.text, seed)
            row.update(
                raw_judgement=record.text,
                value=verdict.value,
                score=_score(task, verdict),
                parse_status=verdict.status,
                parse_reason=verdict.reason,
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _unscored_row(
    identity: dict[str, Any], model_name: str, judge_model: str, status: str, reason: str
) -> dict[str, Any]:
    """A scores row without a score yet (``status`` ``judge_error`` until parsed, or ``no_response``)."""
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


_NO_RESPONSE_REASON = "the model under test gave no answer (context overflow or error); nothing to judge"


def _load_items(config: RunConfig, datasets: Iterable[str]) -> list[Any]:
    items: list[Any] = []
    for dataset in datasets:
        items.extend(load_items(dataset, general_instructions_file=config.general_instructions_file))
    return items


def judge_responses(
    config: RunConfig,
    backend: Backend,
    store: ResponseStore,
    benchmark_df: pd.DataFrame | None,
    dialogue_df: pd.DataFrame | None,
    personas: Mapping[str, Persona] | Iterable[Persona],
    *,
    items: Iterable[Any] | None = None,
    pairwise_fallback: bool = False,
) -> pd.DataFrame:
    """Judge a run's dialogue turns and benchmark answers into one tidy scores table.

    Args:
        config: The run configuration (``model`` names the model under test; ``judge``/``judging`` the judge).
        backend: The judge backend (``create_backend(config.judge)``).
        store: The run's response store; judge calls are stored there with tags ``stage="judge"``.
        benchmark_df: Benchmark answers (see :func:`build_benchmark_tasks`), or ``None`` to skip.
        dialogue_df: Dialogue turns (see :func:`build_fidelity_tasks`), or ``None`` to skip fidelity.
        personas: The run's personas (name → Persona or an iterable) — every condition's persona and every
            RoleBench item's character.
        items: The benchmark items; by default every item of each judged dataset present in ``benchmark_df``
            is loaded with :func:`persona_lib.benchmarks.load_items` (full lists, so pairwise positions do
            not depend on ``item_limit``).
        pairwise_fallback: See :func:`run_judge_tasks`.

    Returns:
        The scores table (:data:`SCORE_COLUMNS`), one row per judged item and criterion, including
        ``no_response`` and unparsed rows (score NaN).
    """
    tasks: list[JudgeTask] = []
    unanswered: list[dict[str, Any]] = []
    if dialogue_df is not None and not dialogue_df.empty:
        fidelity_tasks, fidelity_missing = build_fidelity_tasks(dialogue_df, personas)
        tasks += fidelity_tasks
        unanswered += fidelity_missing
    if benchmark_df is not None and not benchmark_df.empty:
        present = [d for d in JUDGED_DATASETS if d in set(benchmark_df["dataset"])]
        item_list = list(items) if items is not None else _load_items(config, present)
        benchmark_tasks, benchmark_missing = build_benchmark_tasks(benchmark_df, item_list, personas)
        tasks += benchmark_tasks
        unanswered += benchmark_missing
    model_name = config.model.model
    judged = run_judge_tasks(tasks, config, backend, store, model_name=model_name, pairwise_fallback=pairwise_fallback)
    missing_rows = pd.DataFrame(
        [_unscored_row(row, model_name, backend.model, "no_response", _NO_RESPONSE_REASON) for row in unanswered],
        columns=SCORE_COLUMNS,
    )
    parts = [part for part in (judged, missing_rows) if not part.empty]
    if not parts:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def unparsed_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """Parse outcomes per dataset × model: how many verdicts were usable and how many were not.

    Args:
        scores: The scores table.

    Returns:
        Columns dataset, model, judge_model, n (rows), n_ok, n_fallback, n_unparsed, n_judge_error,
        n_no_response, unparsed_share (n_unparsed / (n - n_no_response), in percent).
    """
    statuses = ["ok", "fallback", "unparsed", "judge_error", "no_response"]
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
