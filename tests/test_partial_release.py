"""Partial clones of the release never crash and say what they lack (#28 point 5), on complete real files of the
release (``tests/data/authors_release_complete``: eight whole Selene verdict files of one model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from persona_lib import authors_release as release
from persona_lib.paths import released_dir
from persona_lib.reproduce import format_authors_summary as release_summary
from persona_lib.reproduce import run_authors_reproduction

COMPLETE = Path(__file__).parent / "data" / "authors_release_complete"
SELENE = release.PRIMARY_JUDGE


def partial_clone(root: Path, pattern: str, *, ifbench_results: bool, generations: bool) -> Path:
    """A clone holding only the complete real verdict files whose path matches ``pattern``."""
    for path in COMPLETE.rglob(pattern):
        target = root / path.relative_to(COMPLETE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    (root / "results").mkdir(parents=True, exist_ok=True)
    if ifbench_results:
        shutil.copy(released_dir() / "ifbench_results.json", root / release.IFBENCH_RESULTS)
    if generations:
        (root / "generations").mkdir()  # present but empty: nothing to re-score
    return root


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_LIB_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    ("pattern", "ifbench_results", "computed", "scored"),
    [
        ("bfi_HAL_9000_*.csv", False, set(), set()),  # a persona without Big-Five labels: nothing to score
        ("bfi_Michael_Scott_*.csv", True, {"ifbench"}, {"bfi", "ifbench"}),
        ("xstest_*.csv", True, {"ifbench"}, {"xstest", "ifbench"}),
        ("interview_*.csv", False, set(), {"fidelity"}),
        ("instruction_general_*.csv", False, set(), {"rolebench_general"}),
    ],
)
def test_any_subset_gives_what_it_can_and_names_what_it_lacks(tmp_path, pattern, ifbench_results, computed, scored):
    clone = partial_clone(tmp_path / "clone", pattern, ifbench_results=ifbench_results, generations=True)
    lines = []
    result = run_authors_reproduction(clone, tmp_path / "out", log=lines.append)

    assert set(result.units["dataset"]) == scored
    assert len(result.tables) == 11
    assert set(result.tables.loc[result.tables["status"] != "not computed", "dataset"].str.lower()) == computed
    coverage = result.coverage.set_index("part")
    assert not coverage.loc[release.IFBENCH_ANSWERS, "present"]  # an empty generations/ is named, never scored
    assert result.ifbench_rescore.empty
    missing = [line for line in lines if line.startswith("not in this clone:")]
    assert len(missing) == (~coverage["present"]).sum() > 0
    assert any("generations/ (IFBench answers)" in line and "GENERATIONS=1" in line for line in missing)
    if not ifbench_results:
        assert any(release.IFBENCH_RESULTS in line for line in missing)
    assert pd.read_csv(tmp_path / "out" / "coverage.csv").equals(result.coverage.reset_index(drop=True))


def test_the_coverage_of_a_full_excerpt_names_only_the_absent_second_judge_folders(tmp_path):
    clone = partial_clone(tmp_path / "clone", "*.csv", ifbench_results=True, generations=False)
    coverage = release.clone_coverage(clone).set_index("part")
    held = coverage[coverage["present"]].index
    assert set(held) == {f"metrics/{folder}/{SELENE}" for folder in release.FOLDERS} | {release.IFBENCH_RESULTS}
    assert coverage.loc[f"metrics/xstest/{SELENE}", "files"] == 1


def test_each_file_is_counted_against_the_items_asked_here(tmp_path):
    """On the complete real files: BFI, XSTest and the dialogues hold what this project asks; the role-specific file
    holds the 197 questions the study asked HAL 9000, where this project ships 50; the general instructions are not
    shipped. A truncated file is reported, not read as if whole."""
    clone = partial_clone(tmp_path / "clone", "*.csv", ifbench_results=True, generations=False)
    truncated = next(clone.rglob("xstest_*.csv"))
    table = pd.read_csv(truncated)
    table.head(449).to_csv(truncated, index=False)
    lines = []
    result = run_authors_reproduction(clone, tmp_path / "out", rescore_ifbench=False, log=lines.append)
    counts = result.row_counts.set_index("dataset")
    assert counts.loc["bfi", "rows"].tolist() == counts.loc["bfi", "asked_here"].tolist() == [44, 44]
    assert set(counts.loc["fidelity", "status"]) == {"as asked here"} and len(counts.loc["fidelity"]) == 3
    role = counts.loc["rolebench_specific"]
    assert (role["condition"], role["rows"], role["asked_here"], role["status"]) == (
        "HAL 9000",
        197,
        50,
        "study asked more",
    )
    assert counts.loc["rolebench_general", "status"] == "not checked"
    assert (counts.loc["xstest", "rows"], counts.loc["xstest", "status"]) == (449, "unexpected")
    assert pd.read_csv(tmp_path / "out" / "row_counts.csv")["status"].value_counts().to_dict() == {
        "as asked here": 5,
        "study asked more": 1,
        "not checked": 1,
        "unexpected": 1,
    }
    summary = release_summary(result)
    assert "1 verdict file(s) unexpected" in summary and "449 rows where 450 items are asked" in summary
    assert "the study asked 197 items where this project ships a substitute of 50" in summary
