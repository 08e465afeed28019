"""Build and read time, and size, of the release digest per 1,000 verdict files, extrapolated to the whole release.

Builds a release of ``--files`` judge-output files in the release's layout from the eight complete real Selene files
shipped in ``tests/data/authors_release_complete`` (the same files under other model-folder names), then times
:func:`persona_lib.authors_release.load_digest` building the digest and reading it back, in a temporary cache. The
whole release's ``metrics/`` file count is ``--release-files`` (default: 12,664, the public repository's count). The
copies repeat one model's mix of file kinds and sizes, so the extrapolation is by file count; the digest's size per
verdict is measured on the eight distinct files (identical copies would compress together and understate it).

Usage:
    python benchmarks/release_digest.py [--files 1000] [--release-files N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from persona_lib.authors_release import load_digest
from persona_lib.backends import machine_summary
from persona_lib.paths import PROJECT_ROOT

COMPLETE = PROJECT_ROOT / "tests" / "data" / "authors_release_complete"
#: metrics/ files of the public repository (its file index, counted 2026-12-07; `git ls-tree` on a fetched release
#: gives the exact number: pass it as --release-files).
RELEASE_METRICS_FILES = 12_664


def build_release(root: Path, n_files: int) -> int:
    """Copy the real files under model folders ``copy-000``, ``copy-001``... until ``n_files`` exist; total bytes."""
    originals = sorted(COMPLETE.rglob("*.csv"))
    written = total = 0
    copy = 0
    while written < n_files:
        for original in originals[: n_files - written]:
            relative = original.relative_to(COMPLETE)
            parts = list(relative.parts)
            parts[3] = f"copy-{copy:03d}"  # metrics/<folder>/<judge>/<model>/<file>
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(original, target)
            total += target.stat().st_size
            written += 1
        copy += 1
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--release-files", type=int, default=RELEASE_METRICS_FILES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="release_digest_") as scratch:
        os.environ["PERSONA_LIB_CACHE"] = str(Path(scratch) / "cache")
        distinct = load_digest(COMPLETE, log=lambda line: None)  # the eight real files: the digest's real density
        distinct_bytes = sum(path.stat().st_size for path in distinct.folder.iterdir())
        root = Path(scratch) / "persistent-personas"
        size = build_release(root, args.files)
        started = time.perf_counter()
        built = load_digest(root, log=lambda line: None)
        build_seconds = time.perf_counter() - started
        started = time.perf_counter()
        read = load_digest(root, log=lambda line: None)
        read_seconds = time.perf_counter() - started
    assert read.reused and len(read.items) == len(built.items)
    whole = args.release_files
    per_thousand = 1000 / args.files
    bytes_per_verdict = distinct_bytes / len(distinct.items)
    verdicts_per_file = len(built.items) / args.files
    machine = machine_summary()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores")
    print(f"{args.files:,} verdict files ({size / 1e6:.1f} MB), {len(built.items):,} verdicts")
    print(f"build: {build_seconds:.1f} s; read back: {read_seconds:.2f} s")
    print(
        f"digest size: {distinct_bytes / 1e3:.1f} kB for the {len(distinct.items):,} verdicts of the 8 distinct real "
        f"files ({bytes_per_verdict:.1f} bytes per verdict; copies compress together, so size is taken from these)"
    )
    print(
        f"per 1,000 files: build {build_seconds * per_thousand:.1f} s, read {read_seconds * per_thousand:.2f} s, "
        f"digest ~{bytes_per_verdict * verdicts_per_file * 1000 / 1e6:.1f} MB "
        f"(from {size * per_thousand / 1e6:.0f} MB of verdict files)"
    )
    factor = whole / args.files
    print(
        f"whole release ({whole:,} metrics/ files, by count): build ~{build_seconds * factor / 60:.1f} min, "
        f"read ~{read_seconds * factor:.1f} s, digest ~{bytes_per_verdict * verdicts_per_file * whole / 1e6:.0f} MB"
    )


if __name__ == "__main__":
    main()
