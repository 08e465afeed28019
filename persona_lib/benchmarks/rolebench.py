"""RoleBench: persona-specific and general instructions, judged pairwise against RoleBench reference answers.

- ``rolebench_specific`` (shipped): the RoleBench instruction-generalisation role-specific *test* questions of
  the eight study characters, 50 each, with GPT-4-generated in-character reference answers
  (``data/rolebench/rolebench_instgen_role_specific_test_8personas.jsonl``, Apache-2.0; Wang et al., 2024).
- ``rolebench_general`` (NOT shipped; RoleBench's general-instruction split is only on a model hub): loaded from
  a user-supplied JSON Lines file, one object per line with ``role`` (character name), ``question`` and
  ``generated`` (the reference answer, or a list whose first entry is used). Put it at e.g.
  ``data/user/rolebench_general.jsonl`` and set ``general_instructions_file`` in the run configuration.

Item fields: ``prompt`` is the question stripped of surrounding whitespace; ``reference`` is the first reference
answer, stripped; ``persona`` is the character; ``item_id`` is ``"<role>/<nn>"`` with ``nn`` the item's position
among that character's items in file order; ``meta`` holds ``index_in_role``, ``line`` (in the source file),
``n_references`` and ``question_type`` (RoleBench's ``script_based``/``script_agnostic``, or ``None``).
"""

from __future__ import annotations

from pathlib import Path

from persona_lib._records import DataFileError, MissingDataFileError, Record, iter_jsonl
from persona_lib.benchmarks._spec import BenchmarkItem, DatasetSpec, ScoreSpec
from persona_lib.paths import data_dir

SPEC_SPECIFIC = DatasetSpec(
    name="rolebench_specific",
    version=1,
    source="RoleBench instruction-generalisation role-specific test split (Wang et al., 2024), Apache-2.0",
    metric="win_rate: pairwise judge, model answer vs RoleBench reference (reference alternates A/B by item)",
    higher_is_better=True,
    judged=True,
    description="Questions that only make sense for the character (its story, relationships, catchphrases); a "
    "judge picks the better in-character answer between the model's and RoleBench's reference.",
    scores=(ScoreSpec("Persona-specific instructions", higher_is_better=True),),
)

SPEC_GENERAL = DatasetSpec(
    name="rolebench_general",
    version=1,
    source="RoleBench general instructions (Wang et al., 2024), user-supplied file (not shipped)",
    metric="win_rate: pairwise judge vs RoleBench reference, accuracy first, then staying in character",
    higher_is_better=True,
    judged=True,
    description="General instructions (write, explain, classify) answered in character; a judge compares the "
    "model's answer with RoleBench's reference on accuracy first and in-character style second.",
    scores=(ScoreSpec("General instructions", higher_is_better=True),),
)

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
    return _read(Path(path) if path is not None else default_specific_path(), SPEC_SPECIFIC.name)


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
        f"whose first entry is used), save it e.g. as {GENERAL_FILE_HINT} and set general_instructions_file: "
        f"{GENERAL_FILE_HINT} in the run configuration"
    )
    if path is None:
        raise MissingDataFileError("<general_instructions_file not set>", how_to)
    path = Path(path)
    if not path.is_file():
        raise MissingDataFileError(path, f"file not found. {how_to}")
    return _read(path, SPEC_GENERAL.name)
