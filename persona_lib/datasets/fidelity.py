"""Dialogue fidelity: every turn of every persona dialogue, judged on knowledge, style and staying in character.

The items are the dialogue turns themselves, so nothing is asked at checkpoints: each answered turn of a persona's
dialogue (original order and, if generated, the shuffled replicate) gets three Likert judgements (1–5), one per
criterion (template ``fidelity_<criterion>``), against that persona's description. The baseline's turns are judged
too, against every persona's description in turn (the scores table's ``persona``), as the study's reference curve.
A turn's ``item_id`` is ``turn-<hash of the user message>``, the same in both replicates.

Metrics (unit = model × condition × kind × round, on 0–100): ``dialogue`` (the mean of the three criteria) and one
per criterion. The scores table's ``metric`` for a turn's judgement is its criterion. The original and the
shuffled replicate are averaged *by position* (round j of each), as in the study, so a round's score reflects how
long the conversation has been, whatever was asked (:func:`fidelity_per_turn`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import pandas as pd

from persona_lib._records import Record
from persona_lib._schema import UNIT_COLUMNS, UNIT_KEY
from persona_lib.datasets._registry import register_dataset
from persona_lib.datasets._scoring import answered, lookup_persona, reference_personas
from persona_lib.datasets._spec import TEMPLATE_DIR, DatasetSpec, MetricSpec, ScoringInputs, ValidationSpec
from persona_lib.datasets._validation import ValidationSample, message_content, validation_identity
from persona_lib.judging import JudgeTask, JudgeTemplate, render_judge_prompt
from persona_lib.personas import BASELINE, Persona

CRITERIA: tuple[str, ...] = ("knowledge", "style", "in_character")
"""The three dialogue-fidelity criteria; one judge call each, template ``fidelity_<criterion>``. They are also the
study's folder names for them in its release."""

TEMPLATES: dict[str, JudgeTemplate] = {
    criterion: JudgeTemplate.from_file(TEMPLATE_DIR / f"fidelity_{criterion}.txt", "likert", ("query", "response"))
    for criterion in CRITERIA
}
"""The judge prompt of each criterion: the Likert scale anchored as the study's (the protocol chapter maps them)."""

_CRITERION_METRICS = (
    MetricSpec(
        "knowledge",
        "Knowledge consistency",
        "0\u2013100",
        True,
        "does the answer stay consistent with the character's background",
    ),
    MetricSpec(
        "style",
        "Style consistency",
        "0\u2013100",
        True,
        "does the answer carry the character's personality, values and tone",
    ),
    MetricSpec(
        "in_character",
        "In-character",
        "0\u2013100",
        True,
        "does the answer avoid mentioning being an AI or its instructions",
    ),
)


def turn_id(user_message: str) -> str:
    """The ``item_id`` of a dialogue turn: a short hash of its user message (identical across replicates)."""
    return "turn-" + hashlib.sha256(user_message.encode("utf-8")).hexdigest()[:12]


def _judge_tasks(inputs: ScoringInputs) -> tuple[list[JudgeTask], list[dict[str, Any]]]:
    dialogues = inputs.dialogues
    if dialogues is None or dialogues.empty:
        return [], []
    required = ["condition", "kind", "replicate", "round", "user", "assistant"]
    missing = [column for column in required if column not in dialogues.columns]
    if missing:
        raise ValueError(
            f"dialogue table lacks column(s) {missing}; pass the table returned by generate_dialogues "
            f"(got {list(dialogues.columns)})"
        )
    tasks: list[JudgeTask] = []
    unanswered: list[dict[str, Any]] = []
    for turn in dialogues.to_dict("records"):
        if turn["condition"] == BASELINE:
            references = list(inputs.personas.values())
        else:
            references = [lookup_persona(inputs.personas, turn["condition"], f"dialogue round {turn['round']}")]
        for persona, criterion in ((persona, criterion) for persona in references for criterion in CRITERIA):
            row = {
                "condition": turn["condition"],
                "persona": persona.name,
                "kind": turn["kind"],
                "checkpoint": int(turn["round"]),
                "replicate": turn["replicate"],
                "dataset": SPEC.name,
                "metric": criterion,
                "item_id": turn_id(turn["user"]),
                "dimension": None,
                "reference_position": None,
            }
            if not answered(turn, "assistant"):
                unanswered.append(row)
                continue
            prompt = render_judge_prompt(
                TEMPLATES[criterion],
                character_name=persona.name,
                character_description=persona.description,
                query=turn["user"],
                response=turn["assistant"],
            )
            tasks.append(
                JudgeTask(prompt=prompt, verdict="likert", row=row, fallback="score_of", truncate_prompt=False)
            )
    return tasks, unanswered


def fidelity_per_turn(
    scores: pd.DataFrame, align: Literal["position", "message"] = "position", criterion: str | None = None
) -> pd.DataFrame:
    """Dialogue fidelity per turn: the mean of the criteria, averaged over the original and shuffled order.

    A turn's score in one replicate is the mean of its parsed criteria (or the one ``criterion``'s score). The
    shuffled replicate asks the same user messages in a permuted order, so the two replicates are aligned in one
    of two ways:

    * ``align="position"`` (default, the study's): a turn is a round number; the original's and the shuffled
      replicate's scores at the same round (different messages) are averaged, so a round's score reflects how long
      the conversation has been, whatever was asked.
    * ``align="message"``: a turn is *the same user message* (its ``item_id`` is derived from the message text); the
      two replicates' scores for that message are averaged and the turn is placed at the round where the message
      occurs in the original order. Messages never reached in the original order are dropped.

    The baseline's turns, judged against several characters, get one turn per character (``persona``).

    When a dialogue has no shuffled replicate, its original scores are used unchanged.

    Args:
        scores: The scores table; rows with ``dataset == "fidelity"`` are used.
        align: How turns of the two replicates are matched (see above).
        criterion: Use only this criterion's judgements (default: the mean of all three).

    Returns:
        Columns model, condition, persona (the character judged against), kind, checkpoint (round), turn (the round
        for ``position`` alignment, the user message's ``item_id`` for ``message``), score, n_replicates,
        n_criteria (parsed criterion scores used), n_unparsed (criterion verdicts excluded).
    """
    missing = [
        c for c in [*UNIT_KEY, "persona", "dataset", "replicate", "item_id", "metric", "score"] if c not in scores
    ]
    if missing:
        raise ValueError(f"fidelity_per_turn needs column(s) {missing}; pass the scores table of score_run")
    if align not in ("message", "position"):
        raise ValueError(f"align must be 'message' or 'position', got {align!r}")
    rows = scores[scores["dataset"] == SPEC.name]
    if criterion is not None:
        rows = rows[rows["metric"] == criterion]
    keys = ["model", "condition", "persona", "kind", "replicate", "item_id", "checkpoint"]
    per_replicate = (
        rows.groupby(keys, dropna=False)["score"].agg(score="mean", n_criteria="count", n_total="size").reset_index()
    )
    per_replicate["n_unparsed"] = per_replicate.pop("n_total") - per_replicate["n_criteria"]
    per_replicate = per_replicate.dropna(subset=["score"])
    unit = ["model", "condition", "persona", "kind"]
    if align == "position":
        positioned = per_replicate.assign(turn=per_replicate["checkpoint"])
    else:
        original = per_replicate[per_replicate["replicate"] == "original"][[*unit, "item_id", "checkpoint"]]
        positioned = per_replicate.drop(columns="checkpoint").merge(original, on=[*unit, "item_id"], how="inner")
        positioned = positioned.rename(columns={"item_id": "turn"})
    combined = (
        positioned.groupby([*unit, "checkpoint", "turn"], dropna=False)
        .agg(
            score=("score", "mean"),
            n_replicates=("replicate", "nunique"),
            n_criteria=("n_criteria", "sum"),
            n_unparsed=("n_unparsed", "sum"),
        )
        .reset_index()
    )
    return combined.sort_values([*unit, "checkpoint"]).reset_index(drop=True)


def _units(scores: pd.DataFrame, personas: Mapping[str, Persona]) -> pd.DataFrame:
    parts = []
    for metric, criterion in [("dialogue", None), *((name, name) for name in CRITERIA)]:
        turns = fidelity_per_turn(scores, criterion=criterion)
        if turns.empty:
            continue
        turns = turns.assign(reference_persona=reference_personas(turns))
        units = turns.groupby([*UNIT_KEY, "reference_persona"], as_index=False, dropna=False).agg(
            score=("score", "mean"), n_items=("n_criteria", "sum"), n_unscored=("n_unparsed", "sum")
        )
        parts.append(units.assign(dataset=SPEC.name, metric=metric))
    if not parts:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    return pd.concat(parts, ignore_index=True)[UNIT_COLUMNS]


def _read_validation_fields(record: Record) -> dict[str, Any]:
    return {
        "query": message_content(record, "input", "user"),
        "response": message_content(record, "output", "assistant"),
        "criterion": record.choice("metric", CRITERIA),
    }


def _validation_task(sample: ValidationSample, personas: Mapping[str, Persona]) -> JudgeTask:
    persona = personas[sample.persona]
    prompt = render_judge_prompt(
        TEMPLATES[str(sample.criterion)],
        character_name=persona.name,
        character_description=persona.description,
        query=sample.query,
        response=sample.response,
    )
    row = {**validation_identity(sample, str(sample.criterion)), "kind": "persona_directed"}
    return JudgeTask(prompt=prompt, verdict="likert", row=row, fallback="score_of", truncate_prompt=False)


SPEC = register_dataset(
    DatasetSpec(
        name="fidelity",
        version=1,
        title="Dialogue fidelity",
        source="the run's own dialogue turns (scripts: the study's interview and PRISM requests, MIT)",
        description="Every turn of every persona dialogue is judged on three criteria — consistency with the "
        "character's background knowledge, with its personality and tone, and staying in character — on a 1–5 "
        "scale; the turn's score is their mean on 0–100.",
        metrics=(
            MetricSpec(
                "dialogue", "Dialogue fidelity", "0\u2013100", True, "mean of the three criteria over a dialogue turn"
            ),
            *_CRITERION_METRICS,
        ),
        load=None,
        judge_tasks=_judge_tasks,
        units=_units,
        validation=ValidationSpec(
            file="sampled_ratings.csv",
            file_prefix="interview",
            label_kind="likert",
            read_fields=_read_validation_fields,
            to_task=_validation_task,
        ),
        judge_templates=tuple(TEMPLATES.values()),
        release_folders=CRITERIA,
    )
)
