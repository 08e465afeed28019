"""A fake clone of the authors' release for the book's chapters on the paper, made only of real released bytes.

The eight complete judge-output files under ``tests/data/authors_release_complete/`` (one model, Qwen3-4B, listed in
data/SOURCES.md) are cut into leading parts -- the header and the first *k* records, byte for byte -- and laid out
at the paths of four of the study's models (two families, both sizes), two BFI-labelled personas and the baseline,
both dialogue kinds and two checkpoints, with *k* varying from path to path so that the scores differ. A dialogue
file is kept whole (the length cost needs its last turn), drawn from path to path among the three complete dialogue
files (its one-word header line, the folder's name, rewritten to the folder it is laid in), so that each dialogue's
mean over the three criteria differs. The clone
has every file the regressions of Tables 5 and 6 need, so each of its rows is computed; since the verdicts were not
given to those models, the judge-scored coefficients test the plumbing and mean nothing. The excerpts that both
judges rated (``tests/data/authors_release/``, one model's Gaston) are copied to their own paths, replacing the
re-laid files there, so the judges' agreement rests on real pairs of verdicts. Its
``results/ifbench_results.json`` is the real released file, so the two IFBench rows are the paper's.

The clone is a plain folder (no git history): the digest keys it by its files.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from persona_lib.paths import released_dir

COMPLETE = Path(__file__).parent / "data" / "authors_release_complete" / "metrics"
EXCERPTS = Path(__file__).parent / "data" / "authors_release"
SELENE, FLOW = "Selene-1-Mini-Llama-3.1-8B", "Flow-Judge-v0.1"
SOURCE_MODEL = "Qwen3-4B-Instruct-2507"
MODELS = ("gemma-3-4b-it", "gemma-3-27b-it", "Qwen3-4B-Instruct-2507", "Qwen3-30B-A3B-Instruct-2507")
PERSONAS = ("Gaston", "Michael_Scott")
CHECKPOINTS = (0, 102)
#: Release folder -> (complete source file, fewest and most records a leading part keeps; dialogue files are kept
#: whole). XSTest's unsafe prompts start at record 25, so every part holds both kinds of prompt.
SOURCES = {
    "bfi": ("bfi_Michael_Scott_0.json.csv", 12, 44),
    "instruction_role_specific": ("instruction_role_specific_HAL_9000_0.json.csv", 20, 120),
    "instruction_general": ("instruction_general_Michael_Scott_0.json.csv", 20, 150),
    "xstest": ("xstest_HAL_9000_0.json.csv", 40, 200),
    "in_character": ("interview_HAL_9000.json.csv", 40, 102),
    "style": ("interview_HAL_9000.json.csv", 40, 102),
    "knowledge": ("interview_HAL_9000.json.csv", 40, 102),
}
DIALOGUE_FOLDERS = ("in_character", "style", "knowledge")


def records(text: str) -> list[str]:
    """Split a CSV file's text into its header and records, each with its line end (quoted line breaks kept)."""
    parts, start, quoted = [], 0, False
    for position, character in enumerate(text):
        if character == '"':
            quoted = not quoted
        elif character == "\n" and not quoted:
            parts.append(text[start : position + 1])
            start = position + 1
    if start < len(text):
        parts.append(text[start:])
    return parts


def _draw(path: str, choices: int) -> int:
    """A number in ``0 ... choices - 1`` fixed by ``path``."""
    return int(hashlib.sha256(path.encode()).hexdigest()[:8], 16) % choices


def _part(folder: str, path: str) -> list[str]:
    """The header and records written at ``path`` of the release folder ``folder``."""
    if folder in DIALOGUE_FOLDERS:
        source_folder = DIALOGUE_FOLDERS[_draw(path, len(DIALOGUE_FOLDERS))]
        lines = records((COMPLETE / source_folder / SELENE / SOURCE_MODEL / SOURCES[source_folder][0]).read_text())
        return [f"{folder}\n", *lines[1:]]  # the header names the criterion's folder
    source, low, high = SOURCES[folder]
    lines = records((COMPLETE / folder / SELENE / SOURCE_MODEL / source).read_text())
    return lines[: 1 + low + _draw(path, high - low + 1)]


def _spaced(persona: str) -> str:
    """A reference persona is named with spaces in the release's file names (``...json-Michael Scott.csv``)."""
    return persona.replace("_", " ")


def _benchmark_names(folder: str, prefix: str) -> list[str]:
    names = [f"{prefix}{folder}_{persona}_{round_}.json.csv" for persona in PERSONAS for round_ in CHECKPOINTS]
    if folder in ("instruction_role_specific", "instruction_general"):  # the baseline, per reference persona
        names += [f"{prefix}{folder}_empty_{round_}.json-{_spaced(p)}.csv" for p in PERSONAS for round_ in CHECKPOINTS]
    else:
        names += [f"{prefix}{folder}_empty_{round_}.json.csv" for round_ in CHECKPOINTS]
    return names


def _dialogue_names(conversation: str) -> list[str]:
    """The dialogue files of one kind: each persona's and the baseline's (per reference persona), both replicates."""
    return [
        name
        for replicate in ("", "_shuffle")
        for name in (
            *(f"{conversation}_{persona}{replicate}.json.csv" for persona in PERSONAS),
            *(f"{conversation}_empty{replicate}.json-{_spaced(persona)}.csv" for persona in PERSONAS),
        )
    ]


def build_relaid_clone(root: Path) -> Path:
    """Write the fake clone under ``root`` (created) and return it."""
    for folder in SOURCES:
        for model in MODELS:
            for prefix, conversation in (("", "interview"), ("inst-", "instructions")):
                names = (
                    _dialogue_names(conversation) if folder in DIALOGUE_FOLDERS else _benchmark_names(folder, prefix)
                )
                for name in names:
                    relative = f"metrics/{folder}/{SELENE}/{model}/{name}"
                    _write(root / relative, _part(folder, relative))
    # Both judges' real verdicts on the same answers (excerpts at their own paths), for the judges' agreement.
    for relative in agreement_excerpts():
        _write(root / relative, [(EXCERPTS / relative).read_text()])
    (root / "results").mkdir(parents=True, exist_ok=True)
    shutil.copy(released_dir() / "ifbench_results.json", root / "results" / "ifbench_results.json")
    return root


def agreement_excerpts() -> list[str]:
    """The excerpts both judges rated, each judge's file (paths relative to the release)."""
    return [
        second.relative_to(EXCERPTS).as_posix().replace(f"/{FLOW}/", f"/{judge}/")
        for second in sorted(EXCERPTS.glob(f"metrics/*/{FLOW}/*/*.csv"))
        for judge in (FLOW, SELENE)
    ]


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
