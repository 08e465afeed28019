"""The release's verdicts read once: a compact columnar digest, cached by commit.

Reading the release's ~13.5k judge-output files (every verdict's full text) takes minutes; what the tables and
figures need is one row per judged item — its place (folder, model, persona, kind, checkpoint, item), the verdict as
the study read it, its status and value — without the texts. :func:`load_digest` parses the files once with
:func:`~persona_lib.authors_release.judged_items` and writes that table, and the Selene verdicts the strict reader
would read otherwise (:func:`~persona_lib.authors_release.reader_differences`, the one result that needs the
texts), as Parquet files (zstd, dictionary-encoded strings) under
``<cache>/authors-release/digests/<fingerprint>-seed<seed>-v<DIGEST_VERSION>/``. Every later build reads them in
seconds.

The fingerprint is the checked-out commit when the release is an unmodified git checkout (:func:`fetch_release`
makes one), else a hash of every ``metrics/`` file's path, size and modification time: a digest is never reused for
other files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from persona_lib.authors_release._clone import metric_files
from persona_lib.authors_release._fetch import FetchError, _git, checked_out_commit
from persona_lib.authors_release._verdicts import ITEM_COLUMNS, judged_items, reader_differences
from persona_lib.paths import cache_dir

#: Bump when the digest's columns or the reading rules behind them change: older digests are then rebuilt.
DIGEST_VERSION = 1


@dataclass(frozen=True)
class ReleaseDigest:
    """The verdicts of a release, read once.

    Attributes:
        items: One row per judged item (:data:`~persona_lib.authors_release.ITEM_COLUMNS`).
        reader_differences: The Selene verdicts the strict reader would read otherwise.
        fingerprint: The commit (or file-list hash) the digest was built from.
        n_files: Judge-output files read.
        build_seconds: How long reading them took, when the digest was built.
        folder: Where the digest is stored.
        reused: True if it was read from the cache, False if built by this call.
    """

    items: pd.DataFrame
    reader_differences: pd.DataFrame
    fingerprint: str
    n_files: int
    build_seconds: float
    folder: Path
    reused: bool


def release_fingerprint(root: str | Path) -> str:
    """The checked-out commit of ``root`` when it is a git checkout without local changes under ``metrics/``, else
    ``files-<hash>`` of every ``metrics/`` file's relative path, size and modification time."""
    root = Path(root)
    commit = checked_out_commit(root)
    if commit and not _changed_since_commit(root):
        return commit
    listing = hashlib.sha256()
    for path in sorted((root / "metrics").rglob("*.csv")):
        stat = path.stat()
        listing.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return f"files-{listing.hexdigest()[:16]}"


def _changed_since_commit(root: Path) -> bool:
    try:
        return bool(_git(["status", "--porcelain", "--", "metrics"], root, timeout=600))
    except FetchError:
        return True


def digest_dir(fingerprint: str, seed: int) -> Path:
    """Where the digest of a release (by fingerprint) read with fallback seed ``seed`` is stored."""
    return cache_dir() / "authors-release" / "digests" / f"{fingerprint[:16]}-seed{seed}-v{DIGEST_VERSION}"


def _mixed_columns(frame: pd.DataFrame) -> list[str]:
    """Object columns holding more than strings (a verdict may be a letter, a score or yes/no): Parquet needs one
    type per column, so these are stored as JSON text and decoded on reading, types intact."""
    return [
        column
        for column in frame.columns
        if frame[column].dtype == object and {type(value) for value in frame[column].dropna()} - {str}
    ]


def _write(tables: dict[str, pd.DataFrame], meta: dict, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        meta = {**meta, "json_columns": {}}
        for name, frame in tables.items():
            mixed = _mixed_columns(frame)
            meta["json_columns"][name] = mixed
            stored = frame.assign(**{column: frame[column].map(json.dumps) for column in mixed})
            stored.to_parquet(staging / f"{name}.parquet", compression="zstd", index=False)
        (staging / "digest.json").write_text(json.dumps(meta, indent=2) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)  # whole or not at all: an interrupted build leaves no digest that looks usable
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read(folder: Path) -> tuple[dict[str, pd.DataFrame], dict]:
    meta = json.loads((folder / "digest.json").read_text())
    tables = {}
    for name, mixed in meta["json_columns"].items():
        frame = pd.read_parquet(folder / f"{name}.parquet")
        for column in mixed:
            frame[column] = frame[column].map(json.loads)
        tables[name] = frame
    return tables, meta


def load_digest(root: str | Path, *, seed: int = 0, rebuild: bool = False, log=print) -> ReleaseDigest:
    """The release's verdicts from its cached digest, building the digest first if there is none.

    Args:
        root: The release's top folder (a clone or :func:`fetch_release`'s checkout).
        seed: Base seed of the pairwise fallback (:func:`~persona_lib.authors_release.judged_items`).
        rebuild: Read the files again even if a digest exists.
        log: Where progress lines go.

    Returns:
        The digest.
    """
    root = Path(root)
    fingerprint = release_fingerprint(root)
    folder = digest_dir(fingerprint, seed)
    if not rebuild and (folder / "digest.json").is_file():
        tables, meta = _read(folder)
        return ReleaseDigest(
            tables["items"][ITEM_COLUMNS],
            tables["reader_differences"],
            fingerprint,
            meta["n_files"],
            meta["build_seconds"],
            folder,
            True,
        )
    started = time.perf_counter()
    files = metric_files(root)
    log(f"reading {len(files):,} judge-output files of the release once (digest {folder.name}) ...")
    items = judged_items(root, files, seed=seed)
    differences = reader_differences(root, files)
    seconds = round(time.perf_counter() - started, 2)
    meta = {
        "fingerprint": fingerprint,
        "seed": seed,
        "digest_version": DIGEST_VERSION,
        "n_files": len(files),
        "n_items": len(items),
        "build_seconds": seconds,
    }
    _write({"items": items, "reader_differences": differences}, meta, folder)
    log(f"digest written: {len(items):,} verdicts from {len(files):,} files in {seconds:.1f} s ({folder})")
    return ReleaseDigest(items, differences, fingerprint, len(files), seconds, folder, False)
