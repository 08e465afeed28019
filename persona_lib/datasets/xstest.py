"""XSTest: 250 safe prompts that only look unsafe and 200 unsafe contrast prompts; a judge detects refusals.

Source: XSTest v2 (Röttger et al., NAACL 2024), ``data/xstest/xstest_prompts.csv``, CC-BY-4.0.

Item fields: ``item_id`` is XSTest's ``id``; ``meta`` holds ``label`` (``"safe"`` or ``"unsafe"``), ``type``
(e.g. ``homonyms``, ``contrast_homonyms``), ``focus`` and ``note`` (XSTest's annotations, possibly empty).

Scoring: a judge decides whether the answer explicitly refuses (100 = refused, 0 = not). The scores-table metric
is ``safety`` for unsafe prompts and ``excess_safety`` for safe ones, so a unit's mean is its *Safety* (refusal
rate on unsafe prompts, higher is better) or *Excess safety* (refusal rate on safe prompts, lower is better).
A row's ``value`` is the judge's verdict (``True`` = refused); its ``score`` may be a probability of refusal
(distribution judging), so per-answer verdicts are read from ``value``.

Cross-check: :func:`refusal_agreement` sets the judge's verdicts beside a rule-based refusal check
(:func:`persona_lib.datasets._refusal_rule.refusal_by_rule`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona_lib._records import DataFileError, read_csv_records
from persona_lib.datasets._refusal_rule import refusal_by_rule
from persona_lib.datasets._registry import register_dataset
from persona_lib.datasets._scoring import lookup_persona, mean_units, per_answer_tasks
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
from persona_lib.personas import Persona
from persona_lib.stats import cohen_kappa

LABELS = ("safe", "unsafe")
_CHANGE_KEYS = ["model", "condition", "kind", "label", "type", "focus", "first", "last"]
_AGREEMENT_KEYS = ["model", "condition", "kind", "label"]
_AGREEMENT_COLUMNS = [
    *_AGREEMENT_KEYS,
    "n",
    "judge_refusal_rate",
    "rule_refusal_rate",
    "agreement",
    "kappa",
    "judge_only",
    "rule_only",
]
_ANSWER_KEYS = ["condition", "kind", "checkpoint", "replicate", "item_id"]
_VERDICTS = {"true": True, "false": False}


def default_path() -> Path:
    """The shipped prompt file."""
    return data_dir() / "xstest" / "xstest_prompts.csv"


def load(path: str | Path | None = None) -> list[BenchmarkItem]:
    """All XSTest prompts in file order.

    Args:
        path: A CSV with columns ``id, prompt, type, label, focus, note``; defaults to the shipped file.

    Raises:
        DataFileError: for a malformed row (naming line and column) or a duplicate id.
    """
    path = Path(path) if path is not None else default_path()
    records = read_csv_records(path, ("id", "prompt", "type", "label", "focus", "note"))
    items, seen = [], set()
    for record in records:
        item_id = str(record.integer("id"))
        if item_id in seen:
            raise record.error("id", f"duplicate id {item_id}; ids must be unique")
        seen.add(item_id)
        items.append(
            BenchmarkItem(
                dataset="xstest",
                item_id=item_id,
                prompt=record.text("prompt").strip(),
                meta={
                    "label": record.choice("label", LABELS),
                    "type": record.text("type"),
                    "focus": record.text("focus", allow_empty=True),
                    "note": record.text("note", allow_empty=True),
                },
            )
        )
    if not items:
        raise DataFileError(path, "no prompts")
    return items


def item_metric(item: BenchmarkItem) -> str:
    """``safety`` for an unsafe prompt, ``excess_safety`` for a safe one."""
    return "safety" if item.meta["label"] == "unsafe" else "excess_safety"


TEMPLATE = JudgeTemplate.from_file(TEMPLATE_DIR / "refusal.txt", "binary", ("query", "response"))
"""The safety judge's prompt: does the reply explicitly refuse? (The study's definition of a refusal.)"""


def _render(character: Persona | None, query: str, response: str) -> str:
    return render_judge_prompt(
        TEMPLATE,
        character_name=character.name if character else None,
        character_description=character.description if character else None,
        query=query,
        response=response,
    )


def _judge_tasks(inputs: ScoringInputs) -> tuple[list[JudgeTask], list[dict[str, Any]]]:
    def make_task(answer: Mapping[str, Any], item: BenchmarkItem, row: dict[str, Any]) -> JudgeTask:
        where = f"benchmark answer xstest/{item.item_id} (condition {answer['condition']!r})"
        character = lookup_persona(inputs.personas, answer["condition"], where)
        return JudgeTask(prompt=_render(character, answer["prompt"], answer["response"]), verdict="binary", row=row)

    return per_answer_tasks(inputs, make_task, item_metric)


def refusal_changes(scores: pd.DataFrame, first: int | None = None, last: int | None = None) -> pd.DataFrame:
    """How each prompt's refusal verdict changes between two checkpoints, counted by XSTest type and focus.

    The study looked at which prompts flip between the first and the last checkpoint: a persona may refuse a prompt
    at ``t = 0`` that it answers late in the dialogue, or the other way round.

    Args:
        scores: The scores table (XSTest rows with a verdict in ``value`` are used).
        first: The earlier checkpoint (default: the first one scored).
        last: The later checkpoint (default: the last one scored).

    Returns:
        One row per model, condition, kind, label, type and focus: n (prompts judged at both checkpoints),
        refusal_to_answer, answer_to_refusal, unchanged, and first/last (the checkpoints compared).
    """
    rows = _judged_rows(scores)
    if rows.empty:
        return pd.DataFrame(columns=[*_CHANGE_KEYS, "n", "refusal_to_answer", "answer_to_refusal", "unchanged"])
    first = int(rows["checkpoint"].min()) if first is None else first
    last = int(rows["checkpoint"].max()) if last is None else last
    keys = ["model", "condition", "kind", "item_id"]
    start = rows[rows["checkpoint"] == first].set_index(keys)["refused"].astype(bool)
    end = rows[rows["checkpoint"] == last].set_index(keys)["refused"].astype(bool)
    both = pd.concat({"start": start, "end": end}, axis=1, join="inner").reset_index()
    meta = {item.item_id: item.meta for item in load()}
    both = both.assign(
        label=both["item_id"].map(lambda item: meta[str(item)]["label"]),
        type=both["item_id"].map(lambda item: meta[str(item)]["type"]),
        focus=both["item_id"].map(lambda item: meta[str(item)]["focus"]),
        refusal_to_answer=both["start"] & ~both["end"],
        answer_to_refusal=~both["start"] & both["end"],
    )
    both["unchanged"] = both["start"] == both["end"]
    table = both.groupby(["model", "condition", "kind", "label", "type", "focus"], as_index=False).agg(
        n=("item_id", "size"),
        refusal_to_answer=("refusal_to_answer", "sum"),
        answer_to_refusal=("answer_to_refusal", "sum"),
        unchanged=("unchanged", "sum"),
    )
    return table.assign(first=first, last=last)


def _judged_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """The XSTest rows of a scores table that carry a judge verdict, with the verdict as a boolean ``refused``.

    The verdict is the row's ``value`` (``True``/``False``, or ``"True"``/``"False"`` as read back from CSV);
    rows without one (unparsed, no response) are left out. ``score`` is not used: under distribution judging it
    is the probability of refusal × 100, not the verdict.
    """
    rows = scores[scores["dataset"] == "xstest"]
    refused = rows["value"].map(_verdict).astype(object)
    return rows.assign(refused=refused)[refused.notna()]


def _verdict(value: Any) -> bool | None:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return _VERDICTS.get(value.strip().lower()) if isinstance(value, str) else None


def refusal_agreement(scores: pd.DataFrame, answers: pd.DataFrame) -> pd.DataFrame:
    """The judge's refusal verdicts beside a rule-based refusal check of the same answers, with their agreement.

    Every XSTest answer with a judge verdict is also checked by :func:`~persona_lib.datasets._refusal_rule.
    refusal_by_rule` (a list of explicit refusal phrasings). The rule is a cross-check of the judge, not the
    study's measure: where the two disagree, read the answers.

    Args:
        scores: The scores table (XSTest rows with a verdict in ``value`` are used).
        answers: The run's benchmark answers (``Run.answers()``): ``condition``, ``kind``, ``checkpoint``,
            ``item_id`` and ``response``, optionally ``dataset`` and ``replicate`` (``original`` when absent). Scores
            rows are matched to answers on these identity columns.

    Returns:
        One row per model, condition, kind and label (``safe``/``unsafe``; every checkpoint pooled): ``n`` (answers
        with a verdict), ``judge_refusal_rate`` and ``rule_refusal_rate`` (0–1), ``agreement`` (share of answers
        where both say the same), Cohen's ``kappa`` (NaN when undefined: both say one and the same thing
        throughout), ``judge_only`` and ``rule_only`` (answers only the judge, or only the rule, calls refusals).

    Raises:
        ValueError: when ``answers`` lacks an identity column or ``response``, has two answers with the same
            identity, or lacks the answer of a judged row.
    """

    rows = _judged_rows(scores)
    if rows.empty:
        return pd.DataFrame(columns=_AGREEMENT_COLUMNS)
    answers = _xstest_answers(answers)
    rows = rows.assign(
        item_id=rows["item_id"].astype(str),
        checkpoint=rows["checkpoint"].astype(int),
        replicate=rows["replicate"].fillna("original"),
    )
    joined = rows.merge(answers, on=_ANSWER_KEYS, how="left", indicator=True)
    missing = joined[joined["_merge"] == "left_only"]
    if len(missing):
        example = missing.iloc[0][_ANSWER_KEYS].to_dict()
        raise ValueError(
            f"{len(missing)} judged XSTest row(s) have no benchmark answer, e.g. {example}; pass the same run's "
            "answers (Run.answers()) as its scores"
        )
    joined = joined.assign(
        judge=joined["refused"].astype(bool),
        rule=joined["response"].map(refusal_by_rule),
        label=joined["metric"].map({"safety": "unsafe", "excess_safety": "safe"}),
    )
    table = []
    for key, group in joined.groupby(_AGREEMENT_KEYS, sort=True):
        judge, rule = group["judge"], group["rule"]
        table.append(
            {
                **dict(zip(_AGREEMENT_KEYS, key)),
                "n": len(group),
                "judge_refusal_rate": judge.mean(),
                "rule_refusal_rate": rule.mean(),
                "agreement": (judge == rule).mean(),
                "kappa": cohen_kappa(list(judge), list(rule), [False, True]),
                "judge_only": int((judge & ~rule).sum()),
                "rule_only": int((rule & ~judge).sum()),
            }
        )
    return pd.DataFrame(table, columns=_AGREEMENT_COLUMNS)


def _xstest_answers(answers: pd.DataFrame) -> pd.DataFrame:
    required = ["condition", "kind", "checkpoint", "item_id", "response"]
    lacking = [column for column in required if column not in answers]
    if lacking:
        raise ValueError(f"the benchmark answers lack column(s) {lacking}; pass the run's answers (Run.answers())")
    if "dataset" in answers:
        answers = answers[answers["dataset"] == "xstest"]
    replicate = answers["replicate"].fillna("original") if "replicate" in answers else "original"
    answers = answers.assign(
        item_id=answers["item_id"].astype(str), checkpoint=answers["checkpoint"].astype(int), replicate=replicate
    )[[*_ANSWER_KEYS, "response"]]
    duplicated = answers[answers.duplicated(_ANSWER_KEYS, keep=False)]
    if len(duplicated):
        example = duplicated.iloc[0][_ANSWER_KEYS].to_dict()
        raise ValueError(f"{len(duplicated)} XSTest answers share their identity with another, e.g. {example}")
    return answers


def _validation_task(sample: ValidationSample, personas: Mapping[str, Persona]) -> JudgeTask:
    prompt = _render(personas[sample.persona], sample.query, sample.response or "")
    return JudgeTask(prompt=prompt, verdict="binary", row=validation_identity(sample, "refusal"))


SPEC = register_dataset(
    DatasetSpec(
        name="xstest",
        version=1,
        title="XSTest",
        source="XSTest v2 (Röttger et al., NAACL 2024), CC-BY-4.0",
        description="Refusal behaviour: the refusal rate on the 200 unsafe prompts measures safety, the refusal "
        "rate on the 250 safe look-alikes measures excess safety (over-refusal).",
        metrics=(
            MetricSpec("safety", "Safety", "%", True, "refusal rate on unsafe prompts"),
            MetricSpec("excess_safety", "Excess safety", "%", False, "refusal rate on safe prompts"),
        ),
        load=load,
        judge_tasks=_judge_tasks,
        units=mean_units,
        stratum=lambda item: item.meta["label"],
        validation=ValidationSpec(
            file="sampled_xstest_ratings.csv",
            file_prefix="xstest",
            label_kind="binary",
            read_fields=lambda record: plain_texts(record, "binary"),
            to_task=_validation_task,
        ),
        judge_templates=(TEMPLATE,),
        release_folders=("xstest",),
        release_prefix="xstest",
    )
)
