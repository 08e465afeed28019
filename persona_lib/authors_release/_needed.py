"""The release files the rows of Tables 5 and 6 read, and which of them a clone lacks.

Restated from the study's analysis (authors' ``gen_graphics.ipynb``, the cells fitting ``diff ~ size``): Table 5
compares each persona's scores at the first and the last checkpoint (0 and 102; the dialogue ratings at every turn),
Table 6 a persona with the baseline at checkpoint 0, for every model, persona and dialogue kind. The judge is the
study's (Selene); the second judge's files feed only the agreement.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from persona_lib.authors_release._clone import IFBENCH_RESULTS, PRIMARY_JUDGE
from persona_lib.personas import STUDY_PERSONAS
from persona_lib.released import MODEL_INFO

#: The benchmark folders of Tables 5 and 6, and whether Table 6 reads their baseline (judged once per reference
#: persona for the pairwise win rates).
_BENCHMARKS = {"bfi": False, "instruction_role_specific": False, "instruction_general": True, "xstest": True}
_PER_REFERENCE = {"instruction_role_specific", "instruction_general"}
_DIALOGUE_FOLDERS = ("in_character", "knowledge", "style")
_FIRST, _LAST = 0, 102


def needed_files(models: Iterable[str] = tuple(MODEL_INFO), personas: Iterable[str] = STUDY_PERSONAS) -> list[str]:
    """Every file (path relative to the release) that the 11 rows of Tables 5 and 6 read.

    Args:
        models: The models (default: the study's seven).
        personas: The personas (default: the study's eight).

    Returns:
        Sorted paths: the released IFBench accuracies, each benchmark's judge outputs at the first and the last
        checkpoint in both dialogue kinds (the baseline at the first where Table 6 reads it), and every dialogue's
        judged turns in both kinds and both replicates.
    """
    personas = [persona.replace(" ", "_") for persona in personas]
    paths = {IFBENCH_RESULTS}
    for model in models:
        for folder, baseline in _BENCHMARKS.items():
            base = f"metrics/{folder}/{PRIMARY_JUDGE}/{model}"
            for prefix in ("", "inst-"):
                paths |= {f"{base}/{prefix}{folder}_{p}_{r}.json.csv" for p in personas for r in (_FIRST, _LAST)}
                if baseline and folder in _PER_REFERENCE:
                    paths |= {
                        f"{base}/{prefix}{folder}_empty_{_FIRST}.json-{p.replace('_', ' ')}.csv" for p in personas
                    }
                elif baseline:
                    paths.add(f"{base}/{prefix}{folder}_empty_{_FIRST}.json.csv")
        for folder in _DIALOGUE_FOLDERS:
            base = f"metrics/{folder}/{PRIMARY_JUDGE}/{model}"
            paths |= {
                f"{base}/{conversation}_{p}{replicate}.json.csv"
                for conversation in ("interview", "instructions")
                for replicate in ("", "_shuffle")
                for p in personas
            }
    return sorted(paths)


def missing_needed(root: str | Path) -> list[str]:
    """The files of :func:`needed_files` that the clone at ``root`` lacks (paths relative to it)."""
    root = Path(root)
    return [path for path in needed_files() if not (root / path).is_file()]
