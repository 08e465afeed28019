"""Pre-flight checks of the run folder: writable, not in use by another run, its store sound."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import yaml

from persona_lib.checks._report import Problem
from persona_lib.config import RunConfig
from persona_lib.store import RunLockedError, inspect_store, is_stale, read_lock

LOW_SPACE_BYTES = 2 * 1024**3
"""Below this much free space the check adds a note (a paper-scale store grows to several GB)."""


def _existing_ancestor(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable(folder: Path) -> str | None:
    """Why ``folder`` (an existing folder) cannot be written, or ``None`` (a file is really created)."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".write-check-", dir=folder)
    except OSError as err:
        return err.strerror or str(err)
    os.close(handle)
    os.unlink(probe)
    return None


def _folder_problems(folder: Path, source: str) -> list[Problem]:
    field = "output_dir"
    if folder.exists() and not folder.is_dir():
        return [Problem(source, field, f"{folder} exists and is not a folder", "choose another output_dir (or --out)")]
    target = folder if folder.is_dir() else _existing_ancestor(folder)
    if not target.is_dir():
        return [
            Problem(
                source,
                field,
                f"{folder} cannot be created: {target} is not a folder",
                "choose another output_dir (or --out)",
            )
        ]
    if folder.is_dir():
        reason = _writable(folder)
    else:
        reason = None if os.access(target, os.W_OK | os.X_OK) else "permission denied or read-only file system"
    if reason:
        return [
            Problem(
                source,
                field,
                f"{folder} cannot be written ({reason})",
                "make it writable, or choose another output_dir (or --out)",
            )
        ]
    free = shutil.disk_usage(target).free
    if free < LOW_SPACE_BYTES:
        return [
            Problem(
                source,
                field,
                f"only {free / 1024**2:,.0f} MB free on the disk of {folder}",
                "free space "
                "if the run is large (`persona-eval plan` estimates it); a full disk stops the run cleanly "
                "and it resumes after space is freed",
                "note",
            )
        ]
    return []


def _lock_problems(folder: Path) -> list[Problem]:
    try:
        holder = read_lock(folder)
    except RunLockedError as err:
        return [Problem(str(folder / "run.lock"), "", str(err), "delete it if no run is using the folder")]
    if holder is None:
        return []
    if is_stale(holder):
        return [
            Problem(
                str(folder / "run.lock"),
                "",
                f"left behind by a run that is gone ({holder.describe()})",
                "nothing to do: the next run takes it over",
                "note",
            )
        ]
    return [
        Problem(
            str(folder / "run.lock"),
            "",
            f"the folder is in use by another run ({holder.describe()})",
            "wait for that run to finish, or use another output folder; if you are sure it is gone, delete "
            "the lock file or run with --force",
        )
    ]


def _previous_config_notes(folder: Path, config: RunConfig) -> list[Problem]:
    path = folder / "config.yaml"
    if not path.is_file():
        return []
    try:
        before = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return []
    if not isinstance(before, dict):
        return []
    now = config.model_dump(mode="json")
    changed = sorted(key for key in now if before.get(key) != now[key] and key != "output_dir")
    if not changed:
        return []
    return [
        Problem(
            str(path),
            "",
            f"the run folder holds a run made with different {', '.join(changed)}; stored "
            "answers that still match are reused, its tables and figures will be replaced",
            "use another output_dir to keep the earlier run's tables",
            "note",
        )
    ]


def check_output(config: RunConfig, source: str) -> list[Problem]:
    """Problems with the run folder ``config.output_dir``: writability, free space, lock, store, earlier run."""
    folder = Path(config.output_dir)
    problems = _folder_problems(folder, source)
    if not folder.is_dir():
        return problems
    problems += _lock_problems(folder)
    try:
        health = inspect_store(folder / "responses.sqlite")
    except sqlite3.Error as err:
        return problems + [
            Problem(
                str(folder / "responses.sqlite"),
                "",
                f"the response store cannot be read ({err})",
                "make the file and its folder readable and writable",
            )
        ]
    if not health.ok:
        problems.append(Problem(str(health.path), "", health.damage(), health.recovery()))
    return problems + _previous_config_notes(folder, config)
