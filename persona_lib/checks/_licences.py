"""The licence rule for shipped data: every file under ``data/`` is covered by a licence text that is present.

``data/SOURCES.md`` has a table "Licence texts" whose rows name a licence file (``licenses/...``) and, in backticks,
the files it applies to (``bfi/*``, ``xstest/xstest_prompts.csv``...). The rule checked here: every shipped data
file (anything under ``data/`` except ``SOURCES.md``, ``licenses/`` and the users' own ``user/`` folder) matches a
row, and that row's licence file exists. Files a user supplies (``dataset_files``, custom personas) are the user's
to license; the check can only remind them.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from persona_lib.checks._report import Problem
from persona_lib.paths import data_dir

_TABLE_TITLE = "## Licence texts"
_BACKTICKED = re.compile(r"`([^`]+)`")
_SKIPPED_TOP = {"SOURCES.md", "licenses", "user"}


def licence_table(sources: Path) -> dict[str, list[str]]:
    """Licence file (relative to ``data/``) → the file patterns it applies to, from ``SOURCES.md``."""
    table: dict[str, list[str]] = {}
    in_table = False
    for line in sources.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_table = line.startswith(_TABLE_TITLE)
            continue
        if not in_table or not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = _BACKTICKED.findall(cells[0]) if cells else []
        if len(cells) >= 2 and names and names[0].startswith("licenses/"):
            table[names[0]] = _BACKTICKED.findall(cells[1])
    return table


def shipped_files(root: Path) -> list[str]:
    """Every shipped data file, relative to ``root`` (POSIX paths), except SOURCES.md, licences and user files."""
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).parts[0] not in _SKIPPED_TOP
    )


def check_licences(config_dataset_files: dict[str, str], source: str) -> list[Problem]:
    """Problems with the licence coverage of the shipped data, and reminders for user-supplied item files.

    Args:
        config_dataset_files: The configuration's ``dataset_files``.
        source: The configuration file.
    """
    root = data_dir()
    sources = root / "SOURCES.md"
    if not sources.is_file():
        return [
            Problem(
                str(sources),
                "",
                "missing: it records where each data file comes from and its licence",
                "restore data/SOURCES.md from the project",
            )
        ]
    table = licence_table(sources)
    problems = []
    for licence, patterns in table.items():
        if not (root / licence).is_file():
            problems.append(
                Problem(
                    str(root / licence),
                    "",
                    f"licence text missing; it covers {', '.join(patterns)}",
                    "restore the file from the project (data/SOURCES.md, 'Licence texts')",
                )
            )
    for relative in shipped_files(root):
        if not any(fnmatch.fnmatch(relative, pattern) for patterns in table.values() for pattern in patterns):
            problems.append(
                Problem(
                    str(root / relative),
                    "",
                    "no licence text in data/SOURCES.md ('Licence texts') covers this shipped file",
                    "add the file's licence to data/licenses/ "
                    "and a row naming it to that table, or move the file out of data/",
                )
            )
    for dataset, path in config_dataset_files.items():
        resolved = Path(path).resolve()
        if root.resolve() not in resolved.parents or resolved.relative_to(root.resolve()).parts[0] == "user":
            problems.append(
                Problem(
                    source,
                    f"dataset_files.{dataset}",
                    f"{path} is user-supplied: its licence is not recorded in data/SOURCES.md",
                    "keep the file's source and licence with it",
                    "note",
                )
            )
    return problems
