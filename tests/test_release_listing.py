"""The release's file names parse (#28 point 6), on the names of the public repository's ``metrics/``, ``results/``
and ``generations/`` (``tests/data/authors_release_listing.txt``, names only; its source and how complete it is are
in ``data/SOURCES.md``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from persona_lib import authors_release as release
from persona_lib.personas import BASELINE, STUDY_PERSONAS
from persona_lib.released import GOAL_ORIENTED, PERSONA_DIRECTED

LISTING = Path(__file__).parent / "data" / "authors_release_listing.txt"
NAMES = LISTING.read_text(encoding="utf-8").splitlines()
STUDY_MODELS = {
    "Llama-3.1-Nemotron-Nano-8B-v1",
    "Llama-3_3-Nemotron-Super-49B-v1",
    "Qwen3-30B-A3B-Instruct-2507",
    "Qwen3-4B-Instruct-2507",
    "gemini-2.5-flash",
    "gemma-3-27b-it",
    "gemma-3-4b-it",
}


def parse(name: str):
    if name.startswith("results/"):
        return release.parse_results_path(name)
    return release.parse_release_path(name)


def test_every_listed_name_parses():
    unreadable = []
    for name in NAMES:
        try:
            parse(name)
        except release.ReleaseNameError as err:
            unreadable.append(str(err))
    assert unreadable == []
    assert len(NAMES) == len(set(NAMES)) == 5952
    assert Counter(name.split("/")[0] for name in NAMES) == {"metrics": 5149, "generations": 700, "results": 103}


def test_every_model_of_the_study_is_named_and_nothing_else():
    parsed = [parse(name) for name in NAMES]
    assert {file.model for file in parsed if file.model is not None} == STUDY_MODELS


@pytest.mark.parametrize("folder", release.DIALOGUE_FOLDERS)
def test_the_fidelity_folders_hold_every_dialogue_the_tables_need(folder):
    """The three fidelity folders are listed whole: for every model, both dialogue kinds, both replicates, every
    persona and the baseline judged against each persona."""
    files = [release.parse_release_path(name) for name in NAMES if name.startswith(f"metrics/{folder}/")]
    selene = {
        (file.model, file.kind, file.replicate, file.condition, file.reference_persona)
        for file in files
        if file.judge == release.PRIMARY_JUDGE
    }
    needed = {
        (model, kind, replicate, condition, reference)
        for model in STUDY_MODELS
        for kind in (PERSONA_DIRECTED, GOAL_ORIENTED)
        for replicate in ("original", "shuffled")
        for condition, reference in [
            *((persona, None) for persona in STUDY_PERSONAS),
            *((BASELINE, persona) for persona in STUDY_PERSONAS),
        ]
    }
    assert selene == needed


def test_results_names_say_model_dataset_kind_and_condition():
    premise = release.parse_results_path(
        "results/premise/premise_Llama-3_3-Nemotron-Super-49B-v1_inst-instruction_role_specific_Blair_Waldorf_last_round.csv"
    )
    assert (premise.model, premise.dataset, premise.kind, premise.condition, premise.last_round) == (
        "Llama-3_3-Nemotron-Super-49B-v1",
        "instruction_role_specific",
        GOAL_ORIENTED,
        "Blair Waldorf",
        True,
    )
    assert release.parse_results_path("results/round_lengths.csv").model is None
    for bad in ("results/premise/premise_x_unknown_Gaston.csv", "results/other.csv", "results/premise/a/b.csv"):
        with pytest.raises(release.ReleaseNameError, match=bad):
            release.parse_results_path(bad)


def test_every_file_the_tables_read_is_named_as_the_release_names_it():
    """Each of the 1,695 files behind Tables 5 and 6 has a name the grammar reads; the folders listed whole (the
    three fidelity criteria) hold every one of theirs, the others as much of them as the partial listing has."""
    needed = release.needed_files()
    assert len(needed) == 1 + 7 * (2 * 2 * 8 * 4 + 2 * 8 + 2 + 3 * 2 * 2 * 8)
    for name in needed:
        parse(name)
    listed = set(NAMES)
    by_folder = Counter(name.split("/")[1] for name in needed if name in listed)
    whole = {folder: 7 * 2 * 2 * 8 for folder in release.DIALOGUE_FOLDERS}
    assert {folder: by_folder[folder] for folder in whole} == whole
    assert sum(by_folder.values()) == 1178
