"""Finding things in a local clone of the authors' repository (github.com/peluz/persistent-personas)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persona_lib.authors_release._names import FOLDERS, ReleaseFile, parse_release_path

#: The judge whose verdicts the study's numbers rest on, and the second judge it was validated against.
PRIMARY_JUDGE = "Selene-1-Mini-Llama-3.1-8B"
SECOND_JUDGE = "Flow-Judge-v0.1"
#: results/ file holding the released IFBench accuracies.
IFBENCH_RESULTS = "results/ifbench_results.json"
#: results/ file holding the authors' own extraction of the Selene BFI ratings.
BFI_RATINGS = "results/bfi_ratings.csv"

_HOW_TO_GET = (
    "fetch it with `make release` (or `persona-eval fetch-release`), or clone it with "
    "`git clone https://github.com/peluz/persistent-personas` (about 1.5 GB)"
)
#: The part of :func:`clone_coverage` for the released IFBench answers.
IFBENCH_ANSWERS = "generations/ (IFBench answers)"
#: Columns of :func:`clone_coverage`.
COVERAGE_COLUMNS = ["part", "present", "files", "feeds"]


class CloneError(FileNotFoundError):
    """A path that holds nothing the reproduction can read; the message names what is missing."""


def check_clone(root: str | Path) -> Path:
    """Check that ``root`` holds something the reproduction reads, before reading anything.

    Any part of the release will do: a partial clone gives every row and figure its files allow, and
    :func:`clone_coverage` names what it lacks. What is required is a ``metrics/`` folder with at least one
    judge-output ``.csv`` file.

    Args:
        root: The clone's top folder.

    Returns:
        ``root`` as a resolved path.

    Raises:
        CloneError: if ``root`` is not a folder, or holds no judge-output file (naming what is missing and how to get
            it).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise CloneError(f"{root}: no such folder; expected a clone of the authors' repository ({_HOW_TO_GET})")
    if not (root / "metrics").is_dir():
        raise CloneError(
            f"{root}: the folder 'metrics/' is missing, which holds the judges' verdicts the reproduction reads "
            f"(the repository has metrics/, results/ and generations/); {_HOW_TO_GET}"
        )
    if next((root / "metrics").rglob("*.csv"), None) is None:
        raise CloneError(f"{root / 'metrics'}: no judge-output .csv file under this folder; {_HOW_TO_GET}")
    return root.resolve()


def clone_coverage(root: str | Path) -> pd.DataFrame:
    """Which parts of the release a clone holds, and what each feeds.

    One row per verdict folder and judge (``metrics/<folder>/<judge>``), per ``results/`` file the reproduction
    reads, and for the IFBench answers under ``generations/`` (columns :data:`COVERAGE_COLUMNS`).
    """
    root = Path(root)
    rows = []
    for folder, (dataset, _) in FOLDERS.items():
        for judge, role in ((PRIMARY_JUDGE, "the tables and figures"), (SECOND_JUDGE, "the judges' agreement")):
            part = root / "metrics" / folder / judge
            n = sum(1 for _ in part.rglob("*.csv")) if part.is_dir() else 0
            rows.append((f"metrics/{folder}/{judge}", n > 0, n, f"{dataset}: {role}"))
    for relative, feeds in (
        (IFBENCH_RESULTS, "the IFBench rows and curves (the released accuracies)"),
        (BFI_RATINGS, "the cross-check of our BFI parse with the authors' own"),
    ):
        rows.append((relative, (root / relative).is_file(), int((root / relative).is_file()), feeds))
    answers = len(generation_files(root, dataset="ifbench")) if (root / "generations").is_dir() else 0
    rows.append((IFBENCH_ANSWERS, answers > 0, answers, "re-scoring the IFBench answers"))
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


def format_missing(coverage: pd.DataFrame) -> list[str]:
    """One line per part of the release a clone lacks, with what it would feed and how to get it."""
    lines = []
    for row in coverage[~coverage["present"]].itertuples():
        fetch = "make release GENERATIONS=1" if row.part.startswith("generations") else "make release"
        lines.append(f"not in this clone: {row.part} (feeds {row.feeds}; `{fetch}` fetches it)")
    return lines


def metric_files(root: str | Path, *, judges: tuple[str, ...] | None = None) -> list[ReleaseFile]:
    """Every judge-output file under ``metrics/``, parsed by the file-name grammar, in sorted path order.

    Args:
        root: The clone's top folder.
        judges: Keep only these judge folders (default: all).

    Raises:
        ReleaseNameError: for the first file whose name the grammar cannot read (names the file).
    """
    root = Path(root)
    files = []
    for path in sorted((root / "metrics").rglob("*.csv")):
        relative = path.relative_to(root).as_posix()
        parsed = parse_release_path(relative)
        if judges is None or parsed.judge in judges:
            files.append(parsed)
    return files


def generation_files(root: str | Path, *, dataset: str = "ifbench") -> list[ReleaseFile]:
    """The ``generations/<model>/`` answer files of one dataset, parsed, in sorted path order.

    Args:
        root: The clone's top folder.
        dataset: The dataset token of the file names (``ifbench``, ``xstest``, ``bfi``, ``interview``, ...).
    """
    root = Path(root)
    files = []
    for path in sorted((root / "generations").glob("*/*.json")):
        if path.name.removeprefix("inst-").startswith(f"{dataset}_"):
            files.append(parse_release_path(path.relative_to(root).as_posix()))
    return files
