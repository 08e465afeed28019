"""Loading the study's personas (``data/roles.json`` + InCharacter labels) and user persona files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from persona_lib._records import DataFileError, Record, read_csv_records, read_json, read_yaml
from persona_lib.paths import data_dir
from persona_lib.personas._persona import BASELINE, BFI_DIMENSIONS, STUDY_PERSONAS, Persona

_CUSTOM_FIELDS = ("name", "description", "bfi", "bfi_source")
_DEFAULT_CUSTOM_SOURCE = "custom"


def _roles_path() -> Path:
    return data_dir() / "roles.json"


def _labels_path() -> Path:
    return data_dir() / "bfi" / "incharacter_character_bfi_labels.csv"


def read_roles(path: str | Path) -> dict[str, str]:
    """Read a roles file (name → second-person description), skipping the baseline's empty entry.

    Raises:
        DataFileError: if the file is not a JSON object of non-empty strings.
    """
    data = read_json(path)
    record = Record(data, path, where="top level")
    roles = {}
    for name in data:
        if name == BASELINE:
            continue
        roles[name] = record.text(name)
    return roles


def read_bfi_labels(path: str | Path) -> dict[str, dict[str, dict[str, float]]]:
    """Read InCharacter's Big-Five labels: character → label source → dimension → score (1-5).

    Only English rows (``lang == "en"``) are kept; the character name is the ``character`` column.

    Raises:
        DataFileError: for a missing column or a score outside 1-5, naming the line and column.
    """
    columns = ["label_source", "character", "lang", *(f"{dim}_score" for dim in BFI_DIMENSIONS)]
    labels: dict[str, dict[str, dict[str, float]]] = {}
    for record in read_csv_records(path, columns):
        scores = {dim: record.number(f"{dim}_score", low=1.0, high=5.0) for dim in BFI_DIMENSIONS}
        if record.text("lang") != "en":
            continue
        by_source = labels.setdefault(record.text("character"), {})
        source = record.text("label_source")
        if source in by_source:
            raise record.error("label_source", f"a second {source!r} row for {record.text('character')!r}")
        by_source[source] = scores
    return labels


def _study_personas(roles_path: Path, labels_path: Path) -> dict[str, Persona]:
    roles = read_roles(roles_path)
    missing = [name for name in STUDY_PERSONAS if name not in roles]
    if missing:
        raise DataFileError(roles_path, f"lacks the study persona(s) {', '.join(missing)}", where="top level")
    labels = read_bfi_labels(labels_path)
    return {
        name: Persona(name=name, description=description, bfi_labels=labels.get(name))
        for name, description in roles.items()
    }


def _custom_bfi(record: Record) -> dict[str, dict[str, float]] | None:
    if not record.has("bfi"):
        if record.has("bfi_source"):
            raise record.error("bfi_source", "given without a 'bfi' mapping; add 'bfi' or remove 'bfi_source'")
        return None
    bfi = record.mapping("bfi")
    for dimension in bfi:
        if dimension not in BFI_DIMENSIONS:
            raise record.error(f"bfi.{dimension}", f"unknown Big-Five dimension; use {', '.join(BFI_DIMENSIONS)}")
    scores = {}
    for dimension in BFI_DIMENSIONS:
        value = bfi.get(dimension)
        if value is None:
            raise record.error(f"bfi.{dimension}", "missing; a 'bfi' profile needs all five dimensions (1-5)")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= 5:
            raise record.error(f"bfi.{dimension}", f"expected a number from 1 to 5 (Big-Five scale), got {value!r}")
        scores[dimension] = float(value)
    source = record.optional_text("bfi_source") or _DEFAULT_CUSTOM_SOURCE
    return {source: scores}


def read_persona_file(path: str | Path) -> list[Persona]:
    """Read a user persona file (YAML or JSON): one persona mapping, or a list of them.

    Each persona has ``name`` and ``description`` (second person reads best: "You are ..."), optionally
    ``bfi`` (all five dimensions, each 1-5) and ``bfi_source`` (a label for that profile, default
    ``"custom"``)::

        name: Ada Lovelace
        description: You are a 19th-century mathematician ...
        bfi: {Extraversion: 3, Agreeableness: 3.5, Conscientiousness: 4.5, Neuroticism: 3, Openness: 5}
        bfi_source: my-annotation

    Raises:
        DataFileError: for unknown keys, a missing name or description, an unknown dimension or a score
            outside 1-5, naming the file, the persona and the field.
    """
    data = read_yaml(path)
    entries = data if isinstance(data, list) else [data]
    if not entries:
        raise DataFileError(path, "holds an empty list; expected one or more personas")
    personas = []
    for index, entry in enumerate(entries, start=1):
        where = f"persona {index}" if isinstance(data, list) else "persona"
        record = Record(entry, path, where)
        record.reject_unknown(_CUSTOM_FIELDS)
        name = record.text("name").strip()
        if name == BASELINE:
            raise record.error("name", f"{BASELINE!r} is reserved for the no-persona baseline; choose another name")
        description = record.text("description").strip()
        personas.append(Persona(name=name, description=description, bfi_labels=_custom_bfi(record)))
    return personas


def load_personas(custom_files: Iterable[str | Path] = ()) -> dict[str, Persona]:
    """The study's eight personas plus any user-defined ones, by name.

    Study personas come from ``data/roles.json``; the four InCharacter-labelled ones (Gaston, Michael Scott,
    Blair Waldorf, Lestat de Lioncourt) carry Big-Five labels from two sources, ``annotation`` and ``pdb``.

    Args:
        custom_files: YAML/JSON persona files (see :func:`read_persona_file`).

    Returns:
        Name → persona: the study personas in ``roles.json`` order, then custom ones in file order.

    Raises:
        DataFileError: for a malformed data or persona file, or a custom name that clashes with a study
            persona or another custom persona.
    """
    personas = _study_personas(_roles_path(), _labels_path())
    origin: dict[str, str] = {name: "data/roles.json" for name in personas}
    for path in custom_files:
        for index, persona in enumerate(read_persona_file(path), start=1):
            if persona.name in personas:
                raise DataFileError(
                    path,
                    f"name {persona.name!r} is already defined by {origin[persona.name]}; rename this persona",
                    where=f"persona {index}",
                    field="name",
                )
            personas[persona.name] = persona
            origin[persona.name] = str(path)
    return personas


def select_personas(names: Iterable[str], custom_files: Iterable[str | Path] = ()) -> list[Persona]:
    """The personas a run asks for, in the order given.

    Args:
        names: Persona names (or a single name); ``"all"`` stands for the study's eight (it may be combined
            with custom names). Duplicates are dropped.
        custom_files: YAML/JSON persona files defining extra personas.

    Raises:
        ValueError: for an unknown name (the message lists the available names) or for ``"empty"`` (the
            baseline is switched on with ``include_baseline``, not by name).
        DataFileError: for a malformed persona file.
    """
    if isinstance(names, str):
        names = [names]
    available = load_personas(custom_files)
    selected: dict[str, Persona] = {}
    for name in names:
        if name == "all":
            selected.update({study: available[study] for study in STUDY_PERSONAS if study not in selected})
        elif name == BASELINE:
            raise ValueError(
                f"{BASELINE!r} is the no-persona baseline, not a persona; set include_baseline: true instead"
            )
        elif name in available:
            selected.setdefault(name, available[name])
        else:
            raise ValueError(
                f"unknown persona {name!r}; available: 'all', {', '.join(map(repr, available))} "
                "(add your own with custom_persona_files)"
            )
    return list(selected.values())
