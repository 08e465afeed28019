"""The book's chapters on the paper: its results from a clone of the authors' release, or from the shipped data.

The clone is ``tests/release_clone.py``'s: leading parts of eight complete real verdict files laid out at the paths of
four models, so every row of Tables 5 and 6 is computed; only the IFBench rows (the real released accuracies) are
expected to match the paper. The book built from it is checked in ``tests/test_book.py``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import matplotlib
import nbformat
import pandas as pd
import pytest
from release_clone import (
    COMPLETE,
    DIALOGUE_FOLDERS,
    EXCERPTS,
    SELENE,
    SOURCE_MODEL,
    SOURCES,
    agreement_excerpts,
    build_relaid_clone,
)

from persona_lib.checks import check_config
from persona_lib.paper import FILL_COMMAND, RELEASE_ONLY, figure_path, paper_results
from persona_lib.paths import PROJECT_ROOT
from persona_lib.pipeline import NOTEBOOK_DIR, STAGES
from persona_lib.reproduce import PUBLISHED, TOLERANCE
from persona_lib.resolve import load_config

PAPER_NOTEBOOKS = next(stage.notebooks for stage in STAGES if stage.name == "reproduce")
TINY_CONFIG = PROJECT_ROOT / "tests" / "configs" / "tiny.yaml"


@pytest.fixture(autouse=True, scope="module")
def _agg_backend() -> None:
    matplotlib.use("Agg")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_relaid_clone(tmp_path_factory.mktemp("release") / "persistent-personas")


@pytest.fixture(scope="module")
def clone_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("paper_clone")


@pytest.fixture(scope="module")
def from_clone(clone: Path, clone_out: Path):
    return paper_results(clone, clone_out, log=lambda line: None)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory):
    return paper_results(None, tmp_path_factory.mktemp("paper_shipped"), log=lambda line: None)


def _figures_shown(notebook: str) -> list[str]:
    """The figure names a chapter passes to ``show_figure``."""
    cells = nbformat.read(NOTEBOOK_DIR / notebook, as_version=4).cells
    return [cell.source.split('"')[1] for cell in cells if cell.cell_type == "code" and "show_figure(" in cell.source]


def test_every_benchmark_file_of_the_clone_is_a_leading_part_of_a_real_file(clone: Path) -> None:
    checked = 0
    for folder, (source, *_) in SOURCES.items():
        if folder in DIALOGUE_FOLDERS:
            continue
        real = (COMPLETE / folder / SELENE / SOURCE_MODEL / source).read_bytes()
        for path in (clone / "metrics" / folder).rglob("*.csv"):
            if path.relative_to(clone).as_posix() in agreement_excerpts():
                assert path.read_bytes() == (EXCERPTS / path.relative_to(clone)).read_bytes()
                continue
            part = path.read_bytes()
            assert real.startswith(part) and part.endswith(b"\n"), path
            checked += 1
    assert checked == 4 * 2 * (6 + 6 + 8 + 8) - 1  # 4 models x 2 kinds x (BFI, XSTest, the win rates); 1 excerpt


def test_from_the_clone_every_row_of_tables_5_and_6_is_computed(from_clone) -> None:
    tables = from_clone.tables
    assert list(zip(tables["table"], tables["dataset"])) == [(table, label) for table, label, *_ in PUBLISHED]
    assert tables["coef"].notna().all(), tables[tables["coef"].isna()][["table", "dataset", "note"]]
    ifbench = tables[tables["dataset"] == "IFBench"]
    assert (ifbench["status"] == "matched").all()
    for name in ("coef", "ci_low", "ci_high"):
        assert ((ifbench[name] - ifbench[f"published_{name}"]).abs() <= TOLERANCE).all()
    # The re-laid verdicts rest on 4 persona x family groups: no judge-scored fit passes as a clean one.
    judged = tables[tables["dataset"] != "IFBench"]
    assert judged["verdict"].str.startswith("not estimable").all()
    assert from_clone.missing == []
    assert "the authors' release" in from_clone.source and "files " in from_clone.source


def test_from_the_clone_every_figure_of_the_paper_chapters_is_drawn(from_clone) -> None:
    shown = [name for notebook in PAPER_NOTEBOOKS for name in _figures_shown(notebook)]
    assert len(shown) == 17
    assert [name for name in shown if figure_path(from_clone, name) is None] == []
    agreement = from_clone.authors.agreement
    assert set(agreement["folder"]) == {"bfi", "knowledge"}
    assert (agreement["n_pairs"] > 0).all()


def test_without_a_release_ifbench_is_drawn_and_the_rest_names_the_command(shipped) -> None:
    assert figure_path(shipped, "pooled_ifbench") is not None
    assert figure_path(shipped, "model_grid") is not None
    for dataset in RELEASE_ONLY:
        assert figure_path(shipped, f"pooled_{dataset}") is None
    assert len(shipped.missing) == len(RELEASE_ONLY)
    assert all(FILL_COMMAND in line for line in shipped.missing)
    tables = shipped.tables
    assert (tables.loc[tables["dataset"] == "IFBench", "status"] == "matched").all()
    assert (tables.loc[tables["dataset"] != "IFBench", "status"] == "not reproducible").all()


def test_a_second_call_reads_the_kept_result(clone: Path, clone_out: Path, from_clone) -> None:
    lines: list[str] = []
    again = paper_results(clone, clone_out, log=lines.append)
    assert lines == []  # nothing read again
    pd.testing.assert_frame_equal(from_clone.tables, again.tables)


def test_check_names_an_authors_repo_that_is_no_clone(tmp_path: Path) -> None:
    config = load_config(TINY_CONFIG, authors_repo=str(tmp_path / "nowhere"))
    (problem,) = [
        p for p in check_config(config, ["reproduce"], source="tiny.yaml").problems if p.field == "authors_repo"
    ]
    assert "nowhere" in problem.what and "make release" in problem.fix
    assert not [p for p in check_config(config, ["analyse"], source="tiny.yaml").problems if p.field == "authors_repo"]


def test_make_book_passes_authors_repo_to_the_run_as_an_absolute_path() -> None:
    dry = subprocess.run(
        ["make", "-n", "book", "AUTHORS_REPO=../a-clone"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    run_lines = [line for line in dry.stdout.splitlines() if "persona-eval run" in line]
    assert run_lines and run_lines[-1].endswith(f"--set authors_repo={PROJECT_ROOT.parent / 'a-clone'}")
    plain = subprocess.run(["make", "-n", "book"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert "authors_repo" not in plain.stdout
