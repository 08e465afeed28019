"""Self-reference pairwise judgements (optional): is a later answer better than the model's own earlier one?

For each RoleBench dataset, two extra datasets compare the answer to an item after ``t`` rounds with the same
model's answer to the same item, in the same condition and dialogue kind, at an earlier checkpoint: ``<name>_vs_round0``
(against the answer at the first checkpoint, usually ``t = 0``) and ``<name>_vs_previous`` (against the answer at the
checkpoint before ``t``). The judge uses the dataset's own pairwise template; the earlier answer takes the place of
RoleBench's reference, alternating between positions A and B by item, and the score is 100 when the later answer is
preferred. 50 means no preference; lower values mean the model's answers drift away from what it first said.

Their items are the RoleBench items, asked exactly as RoleBench asks them, so the requests are the same ones and the
response store answers them without a second generation; only the judge calls are new. Add a name to ``datasets`` to
use one (e.g. ``rolebench_specific_vs_round0``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from persona_lib.datasets._registry import register_dataset
from persona_lib.datasets._scoring import answer_identity, answered, lookup_persona, mean_units
from persona_lib.datasets._spec import BenchmarkItem, DatasetSpec, MetricSpec, ScoringInputs
from persona_lib.datasets.rolebench import SPEC_GENERAL, SPEC_SPECIFIC, reference_position
from persona_lib.judging import JudgeTask, JudgeTemplate, render_judge_prompt

Reference = Literal["round0", "previous"]


def earlier_checkpoint(checkpoints: list[int], checkpoint: int, reference: Reference) -> int | None:
    """The checkpoint an answer at ``checkpoint`` is compared with (``None`` for the first one)."""
    earlier = [t for t in sorted(checkpoints) if t < checkpoint]
    if not earlier:
        return None
    return earlier[0] if reference == "round0" else earlier[-1]


def _tasks(name: str, template: JudgeTemplate, reference: Reference):
    def judge_tasks(inputs: ScoringInputs) -> tuple[list[JudgeTask], list[dict[str, Any]]]:
        answers = inputs.answers
        if answers.empty:
            return [], []
        keyed = answers.set_index(["condition", "kind", "item_id", "checkpoint"])
        tasks, unanswered = [], []
        for (condition, kind), group in answers.groupby(["condition", "kind"], sort=False):
            checkpoints = sorted(group["checkpoint"].unique())
            for answer in group.to_dict("records"):
                earlier = earlier_checkpoint(checkpoints, int(answer["checkpoint"]), reference)
                if earlier is None:
                    continue
                item = inputs.items[str(answer["item_id"])]
                row = answer_identity(answer, name) | {"persona": item.persona}
                key = (condition, kind, answer["item_id"], earlier)
                before = keyed.loc[key].to_dict() if key in keyed.index else {"finish_reason": "missing"}
                if not (answered(answer) and answered(before)):
                    unanswered.append(row)
                    continue
                tasks.append(_task(template, inputs, item, answer, before["response"], row))
        return tasks, unanswered

    return judge_tasks


def _task(
    template: JudgeTemplate,
    inputs: ScoringInputs,
    item: BenchmarkItem,
    answer: Mapping[str, Any],
    before: str,
    row: dict[str, Any],
) -> JudgeTask:
    character = lookup_persona(inputs.personas, item.persona, f"answer {item.dataset}/{item.item_id}")
    position = reference_position(int(item.meta["index_in_role"]))
    row["reference_position"] = position
    pair = (before, answer["response"]) if position == "A" else (answer["response"], before)

    def render(first: str, second: str) -> str:
        return render_judge_prompt(
            template,
            character_name=character.name,
            character_description=character.description,
            query=answer["prompt"],
            response_a=first,
            response_b=second,
        )

    return JudgeTask(
        prompt=render(*pair),
        verdict="pairwise",
        row=row,
        reference_position=position,
        fallback="seeded_choice",
        swapped_prompt=render(*reversed(pair)),
    )


def _relabelled(base: DatasetSpec, name: str):
    def load(path: Path | None) -> list[BenchmarkItem]:
        return [replace(item, dataset=name) for item in base.load(path)]

    return load


def self_reference_spec(base: DatasetSpec, reference: Reference) -> DatasetSpec:
    """The self-reference variant of a pairwise RoleBench dataset."""
    name = f"{base.name}_vs_{reference}"
    against = "the first checkpoint" if reference == "round0" else "the previous checkpoint"
    return DatasetSpec(
        name=name,
        version=1,
        title=f"{base.title}: later vs {against}",
        source=base.source,
        description=f"{base.title} answered after t rounds, judged against the same model's answer at {against}.",
        metrics=(
            MetricSpec(
                name,
                f"{base.metrics[0].label.replace(' win rate', '')}: later vs {against}",
                "%",
                None,
                f"share of items where the judge prefers the later answer to the one at {against} (50 = no preference)",
            ),
        ),
        load=_relabelled(base, name),
        judge_tasks=_tasks(name, base.judge_templates[0], reference),
        units=mean_units,
        stratum=base.stratum,
        per_character=base.per_character,
        ask=base.ask,
        user_file_hint=base.user_file_hint,
        in_default_run=False,
        same_items_as=base.name,
        judge_templates=base.judge_templates,
    )


SPECS = tuple(
    register_dataset(self_reference_spec(base, reference))
    for base in (SPEC_SPECIFIC, SPEC_GENERAL)
    for reference in ("round0", "previous")
)
