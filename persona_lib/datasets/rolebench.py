"""RoleBench: persona-specific and general instructions, judged pairwise against RoleBench reference answers.

- ``rolebench_specific`` (shipped): the RoleBench instruction-generalisation role-specific *test* questions of
  the eight study characters, 50 each, with GPT-4-generated in-character reference answers
  (``data/rolebench/rolebench_instgen_role_specific_test_8personas.jsonl``, Apache-2.0; Wang et al., 2024).
- ``rolebench_general`` (NOT shipped; RoleBench's general-instruction split is only on a model hub): loaded from
  a user-supplied JSON Lines file, one object per line with ``role`` (character name), ``question`` and
  ``generated`` (the reference answer, or a list whose first entry is used). Put it at e.g.
  ``data/user/rolebench_general.jsonl`` and name it in the run configuration:
  ``dataset_files: {rolebench_general: data/user/rolebench_general.jsonl}``.

The baseline is asked the role-specific questions without the address in front of their first comma
(:func:`ask_without_address`, the study's rule); a persona is asked them as written. The judge sees the character
the item belongs to, the question as written (addressed to the character, for the baseline's answers too, as the
study's judge saw it) and the two answers; the reference answer is answer A for items at an even position among
their character's items and answer B otherwise (:func:`reference_position`). Scores-table metric: the dataset's
name, 100 when the model's answer is preferred, 0 when the reference is.

Item fields: ``prompt`` is the question stripped of surrounding whitespace; ``reference`` is the first reference
answer, stripped; ``persona`` is the character; ``item_id`` is ``"<role>/<nn>"`` with ``nn`` the item's position
among that character's items in file order; ``meta`` holds ``index_in_role``, ``line`` (in the source file),
``n_references`` and ``question_type`` (RoleBench's ``script_based``/``script_agnostic``, or ``None``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from persona_lib._records import DataFileError, MissingDataFileError, Record, iter_jsonl
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

GENERAL_FILE_HINT = "data/user/rolebench_general.jsonl"
"""Suggested location for the user-supplied general-instruction file."""


def default_specific_path() -> Path:
    """The shipped role-specific file."""
    return data_dir() / "rolebench" / "rolebench_instgen_role_specific_test_8personas.jsonl"


def _first_reference(record: Record) -> tuple[str, int]:
    generated = record.data.get("generated")
    if isinstance(generated, str) and generated.strip():
        return generated.strip(), 1
    references = record.text_list("generated")
    return references[0].strip(), len(references)


def _question_type(record: Record) -> str | None:
    value = record.data.get("type")
    if isinstance(value, list) and value and isinstance(value[0], str):
        return value[0]
    return value if isinstance(value, str) and value else None


def _read(path: Path, dataset: str) -> list[BenchmarkItem]:
    items, per_role = [], {}
    for record in iter_jsonl(path):
        role = record.text("role").strip()
        index_in_role = per_role.get(role, 0)
        per_role[role] = index_in_role + 1
        reference, n_references = _first_reference(record)
        items.append(
            BenchmarkItem(
                dataset=dataset,
                item_id=f"{role}/{index_in_role:02d}",
                prompt=record.text("question").strip(),
                persona=role,
                reference=reference,
                meta={
                    "index_in_role": index_in_role,
                    "line": record.line,
                    "n_references": n_references,
                    "question_type": _question_type(record),
                },
            )
        )
    if not items:
        raise DataFileError(path, "no items")
    return items


def load_specific(path: str | Path | None = None) -> list[BenchmarkItem]:
    """The role-specific questions with reference answers, in file order.

    Args:
        path: A JSONL file with ``role, question, generated`` per line; defaults to the shipped file.

    Raises:
        DataFileError: for a truncated or malformed line, naming the line and field.
    """
    return _read(Path(path) if path is not None else default_specific_path(), "rolebench_specific")


def load_general(path: str | Path | None) -> list[BenchmarkItem]:
    """The user-supplied general instructions with reference answers, in file order.

    Args:
        path: The user's JSONL file (``role``, ``question``, ``generated`` per line).

    Raises:
        MissingDataFileError: (a ``FileNotFoundError`` and a ``DataFileError``) when no path is given or the file
            does not exist; the message says which fields it needs and where to put it.
        DataFileError: for a truncated or malformed line, naming the line and field.
    """
    how_to = (
        "RoleBench's general-instruction split is not shipped with this project. Provide it as JSON Lines, one "
        'object per line with "role" (character name), "question" and "generated" (reference answer, or a list '
        f"whose first entry is used), save it e.g. as {GENERAL_FILE_HINT} and set dataset_files: "
        f"{{rolebench_general: {GENERAL_FILE_HINT}}} in the run configuration"
    )
    if path is None:
        raise MissingDataFileError("<dataset_files.rolebench_general not set>", how_to)
    path = Path(path)
    if not path.is_file():
        raise MissingDataFileError(path, f"file not found. {how_to}")
    return _read(path, "rolebench_general")


def reference_position(item_index: int) -> str:
    """Where the reference answer goes for the item at ``item_index``: ``A`` when even, ``B`` when odd."""
    return "A" if item_index % 2 == 0 else "B"


def ask_without_address(item: BenchmarkItem, persona: Persona | None) -> str:
    """The question as asked: unchanged for a persona; for the baseline without the address in front of it.

    RoleBench's role-specific questions address the character, by full or first name (``"Gaston, what is your
    favourite hobby?"``, ``"Juno, ..."``). The study asks the no-persona baseline the question with everything up to
    its first ``", "`` removed and the first letter capitalised (authors' ``data/loader.py``, ``load_data``, the
    ``remove_role`` step), so the baseline is never addressed by any name: ``"What is your favourite hobby?"``. This
    is that operation, applied to every question (each of the 400 shipped ones opens with a name and a comma).
    """
    if persona is not None:
        return item.prompt
    rest = item.prompt.split(", ", 1)[-1]
    return rest[:1].upper() + rest[1:]


_PAIR_FIELDS = ("query", "response_a", "response_b")
TEMPLATE_SPECIFIC = JudgeTemplate.from_file(TEMPLATE_DIR / "pairwise_role_specific.txt", "pairwise", _PAIR_FIELDS)
"""The persona-specific comparison: faithfulness to the character first; the judge must choose."""
TEMPLATE_GENERAL = JudgeTemplate.from_file(TEMPLATE_DIR / "pairwise_general.txt", "pairwise", _PAIR_FIELDS)
"""The general-instruction comparison: accuracy first, then the character; a tie goes to A."""


def _render(template: JudgeTemplate, character: Persona, query: str, response_a: str, response_b: str) -> str:
    return render_judge_prompt(
        template,
        character_name=character.name,
        character_description=character.description,
        query=query,
        response_a=response_a,
        response_b=response_b,
    )


def _pairwise_tasks(template: JudgeTemplate):
    def judge_tasks(inputs: ScoringInputs) -> tuple[list[JudgeTask], list[dict[str, Any]]]:
        def make_task(answer: Mapping[str, Any], item: BenchmarkItem, row: dict[str, Any]) -> JudgeTask:
            where = f"benchmark answer {item.dataset}/{item.item_id} (condition {answer['condition']!r})"
            character = lookup_persona(inputs.personas, item.persona, where)
            position = reference_position(int(item.meta["index_in_role"]))
            row.update(persona=item.persona, reference_position=position)
            pair = (item.reference, answer["response"]) if position == "A" else (answer["response"], item.reference)
            # The judge sees the question as written, addressed to the character, also for the baseline's answer
            # (authors' inference_eval.py, main: the reference persona's questions are the judge's inputs).
            return JudgeTask(
                prompt=_render(template, character, item.prompt, *pair),
                verdict="pairwise",
                row=row,
                reference_position=position,
                fallback="seeded_choice",
                swapped_prompt=_render(template, character, item.prompt, *reversed(pair)),
            )

        return per_answer_tasks(inputs, make_task)

    return judge_tasks


def _validation(file: str, prefix: str, template: JudgeTemplate) -> ValidationSpec:
    def to_task(sample: ValidationSample, personas: Mapping[str, Persona]) -> JudgeTask:
        pair = (sample.response_a or "", sample.response_b or "")
        character = personas[sample.persona]
        return JudgeTask(
            prompt=_render(template, character, sample.query, *pair),
            verdict="pairwise",
            row=validation_identity(sample, "preference"),
            fallback="seeded_choice",
            swapped_prompt=_render(template, character, sample.query, *reversed(pair)),
        )

    return ValidationSpec(
        file=file,
        file_prefix=prefix,
        label_kind="pairwise",
        read_fields=lambda record: plain_texts(record, "pairwise"),
        to_task=to_task,
    )


SPEC_SPECIFIC = register_dataset(
    DatasetSpec(
        name="rolebench_specific",
        version=1,
        title="Persona-specific instructions",
        source="RoleBench instruction-generalisation role-specific test split (Wang et al., 2024), Apache-2.0",
        description="Questions that only make sense for the character (its story, relationships, catchphrases); "
        "a judge picks the better in-character answer between the model's and RoleBench's reference.",
        metrics=(
            MetricSpec(
                "rolebench_specific",
                "Persona-specific win rate",
                "%",
                True,
                "share of items where the judge prefers the model's answer to RoleBench's reference",
            ),
        ),
        load=load_specific,
        judge_tasks=_pairwise_tasks(TEMPLATE_SPECIFIC),
        units=mean_units,
        stratum=lambda item: item.persona,
        per_character=True,
        ask=ask_without_address,
        validation=_validation(
            "sampled_instruction_role_specific_ratings.csv", "instruction_role_specific", TEMPLATE_SPECIFIC
        ),
        judge_templates=(TEMPLATE_SPECIFIC,),
        release_folders=("instruction_role_specific",),
        release_prefix="instruction_role_specific",
    )
)

SPEC_GENERAL = register_dataset(
    DatasetSpec(
        name="rolebench_general",
        version=1,
        title="General instructions",
        source="RoleBench general instructions (Wang et al., 2024), user-supplied file (not shipped)",
        description="General instructions (write, explain, classify) answered in character; a judge compares the "
        "model's answer with RoleBench's reference on accuracy first and in-character style second.",
        metrics=(
            MetricSpec(
                "rolebench_general",
                "General-instruction win rate",
                "%",
                True,
                "share of items where the judge prefers the model's answer to RoleBench's reference",
            ),
        ),
        load=load_general,
        judge_tasks=_pairwise_tasks(TEMPLATE_GENERAL),
        units=mean_units,
        stratum=lambda item: item.persona,
        per_character=True,
        validation=_validation("sampled_instruction_general_ratings.csv", "instruction_general", TEMPLATE_GENERAL),
        user_file_hint=GENERAL_FILE_HINT,
        judge_templates=(TEMPLATE_GENERAL,),
        release_folders=("instruction_general",),
        release_prefix="instruction_general",
    )
)
