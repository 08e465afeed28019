"""Pre-flight checks of the personas: the study's files, custom persona files and the names the run asks for."""

from __future__ import annotations

import difflib

from persona_lib._records import DataFileError
from persona_lib.checks._report import Problem
from persona_lib.config import RunConfig
from persona_lib.personas import BASELINE, STUDY_PERSONAS, Persona, load_personas, read_persona_file

_PERSONA_FILE_FORMAT = (
    "each persona needs name and description; optional bfi (all five Big-Five dimensions, 1-5) and bfi_source "
    "(see persona_lib.personas.read_persona_file)"
)


def _data_file_problem(err: DataFileError, fix: str) -> Problem:
    where = f"{err.path}, {err.where}" if err.where else str(err.path)
    return Problem(where, err.field or "", err.problem, fix)


def _available(config: RunConfig, source: str, problems: list[Problem]) -> dict[str, Persona]:
    """Study personas plus every readable custom persona; problems for unreadable files and clashing names."""
    try:
        personas = load_personas()
    except DataFileError as err:
        problems.append(_data_file_problem(err, "restore the shipped file (data/SOURCES.md lists its checksum)"))
        return {}
    origin = {name: "data/roles.json" for name in personas}
    for index, path in enumerate(config.custom_persona_files):
        try:
            entries = read_persona_file(path)
        except DataFileError as err:
            if not err.path.exists():
                problems.append(
                    Problem(
                        source,
                        f"custom_persona_files[{index}]",
                        f"file not found: {path}",
                        "correct the path (relative paths start at the current folder)",
                    )
                )
            else:
                problems.append(_data_file_problem(err, _PERSONA_FILE_FORMAT))
            continue
        for number, persona in enumerate(entries, start=1):
            if persona.name in personas:
                problems.append(
                    Problem(
                        f"{path}, persona {number}",
                        "name",
                        f"{persona.name!r} is already defined by {origin[persona.name]}",
                        "rename this persona (names must be unique across roles.json and every custom file)",
                    )
                )
                continue
            personas[persona.name] = persona
            origin[persona.name] = str(path)
    return personas


def _unknown_name_fix(name: str, available: list[str]) -> str:
    lowered = {candidate.lower(): candidate for candidate in available}
    close = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
    if name.lower() in lowered:
        close = [lowered[name.lower()]]
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    return (
        f"{hint}available: 'all', {', '.join(map(repr, available))}; define your own in a file listed under "
        "custom_persona_files"
    )


def check_personas(config: RunConfig, source: str) -> tuple[list[Problem], list[Persona]]:
    """Problems with the personas, and the personas the run selects (those that could be found).

    Args:
        config: The run configuration.
        source: The configuration file (where the ``personas`` field lives).
    """
    problems: list[Problem] = []
    available = _available(config, source, problems)
    selected: dict[str, Persona] = {}
    for index, name in enumerate(config.personas):
        if name == "all":
            selected.update({study: available[study] for study in STUDY_PERSONAS if study in available})
        elif name == BASELINE:
            problems.append(
                Problem(
                    source,
                    f"personas[{index}]",
                    f"{BASELINE!r} is the no-persona baseline, not a persona",
                    "remove it from personas and set include_baseline: true",
                )
            )
        elif name in available:
            selected.setdefault(name, available[name])
        elif available:
            problems.append(
                Problem(
                    source, f"personas[{index}]", f"unknown persona {name!r}", _unknown_name_fix(name, list(available))
                )
            )
    if not config.personas and not config.include_baseline:
        problems.append(
            Problem(
                source,
                "personas",
                "no persona and no baseline: the run has nothing to do",
                "name personas (or 'all'), or set include_baseline: true",
            )
        )
    problems += _dataset_notes(config, source, list(selected.values()))
    return problems, list(selected.values())


def _dataset_notes(config: RunConfig, source: str, personas: list[Persona]) -> list[Problem]:
    """A note on personas the BFI error is undefined for (no Big-Five labels)."""
    unlabelled = [persona.name for persona in personas if not persona.has_bfi_labels]
    if "bfi" not in config.datasets or not unlabelled:
        return []
    return [
        Problem(
            source,
            "personas",
            f"BFI error is undefined for {', '.join(unlabelled)} (no Big-Five labels); their BFI "
            "answers are still generated and judged",
            "nothing to do (a custom persona can carry a bfi profile)",
            "note",
        )
    ]
