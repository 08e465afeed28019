"""Finding things in a local clone of the authors' repository (github.com/peluz/persistent-personas)."""

from __future__ import annotations

from pathlib import Path

from persona_lib.authors_release._names import FOLDERS, ReleaseFile, parse_release_path

#: The judge whose verdicts the study's numbers rest on, and the second judge it was validated against.
PRIMARY_JUDGE = "Selene-1-Mini-Llama-3.1-8B"
SECOND_JUDGE = "Flow-Judge-v0.1"
#: results/ file holding the released IFBench accuracies.
IFBENCH_RESULTS = "results/ifbench_results.json"
#: results/ file holding the authors' own extraction of the Selene BFI ratings.
BFI_RATINGS = "results/bfi_ratings.csv"

_HOW_TO_GET = "clone it with `git clone https://github.com/peluz/persistent-personas`, about 1.5 GB"


class CloneError(FileNotFoundError):
    """A path that is not a complete clone of the authors' repository; the message names what is missing."""


def check_clone(root: str | Path) -> Path:
    """Check that ``root`` holds what the reproduction reads, before reading anything.

    Required: ``metrics/<folder>/<PRIMARY_JUDGE>/`` with at least one ``.csv`` file for every folder of
    :data:`~persona_lib.authors_release.FOLDERS`, ``results/ifbench_results.json`` and a ``generations/`` folder.

    Args:
        root: The clone's top folder.

    Returns:
        ``root`` as a resolved path.

    Raises:
        CloneError: naming the first missing folder or file, what it should contain and how to get it.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise CloneError(f"{root}: no such folder; expected a clone of the authors' repository ({_HOW_TO_GET})")
    for folder in ("metrics", "results", "generations"):
        if not (root / folder).is_dir():
            raise CloneError(
                f"{root}: incomplete clone, the folder '{folder}/' is missing (the repository has metrics/, "
                f"results/ and generations/); {_HOW_TO_GET}"
            )
    for folder in FOLDERS:
        judged = root / "metrics" / folder / PRIMARY_JUDGE
        if not judged.is_dir():
            raise CloneError(
                f"{judged}: incomplete clone, this folder is missing; it holds the {PRIMARY_JUDGE} verdicts for "
                f"'{folder}', one sub-folder per model"
            )
        if next(judged.rglob("*.csv"), None) is None:
            raise CloneError(f"{judged}: incomplete clone, no judge-output .csv file under this folder")
    if not (root / IFBENCH_RESULTS).is_file():
        raise CloneError(f"{root / IFBENCH_RESULTS}: incomplete clone, the released IFBench accuracies are missing")
    return root.resolve()


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
