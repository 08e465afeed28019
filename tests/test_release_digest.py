"""The release's verdicts read once into a digest cached by commit (#28 point 2), on complete real files of the
release (``tests/data/authors_release_complete``: eight whole Selene verdict files of one model)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from persona_lib import authors_release as release
from persona_lib.authors_release import load_digest, release_fingerprint
from persona_lib.paths import cache_dir

COMPLETE = Path(__file__).parent / "data" / "authors_release_complete"


@pytest.fixture
def clone(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PERSONA_LIB_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "persistent-personas"
    shutil.copytree(COMPLETE, root)
    return root


def test_the_digest_holds_every_verdict_as_read_from_the_files_and_is_read_back_the_second_time(clone):
    lines = []
    built = load_digest(clone, seed=7, log=lines.append)
    files = release.metric_files(clone)
    expected = release.judged_items(clone, files, seed=7)

    assert not built.reused and built.n_files == len(files) == 8 and len(built.items) == 1341
    pd.testing.assert_frame_equal(built.items, expected)
    pd.testing.assert_frame_equal(built.reader_differences, release.reader_differences(clone, files))
    assert any("reading 8 judge-output files" in line for line in lines)
    assert {path.name for path in built.folder.iterdir()} == {
        "items.parquet",
        "reader_differences.parquet",
        "digest.json",
    }

    lines.clear()
    again = load_digest(clone, seed=7, log=lines.append)
    assert again.reused and lines == [] and again.folder == built.folder
    pd.testing.assert_frame_equal(again.items, expected)  # letters, scores and yes/no verdicts keep their types
    assert again.items["verdict"].map(type).value_counts().to_dict() == {str: 497, bool: 450, int: 394}
    pd.testing.assert_frame_equal(again.reader_differences, built.reader_differences)
    # no texts: the verdict files are 1.2 MB, the digest a few per cent of that
    size = sum(path.stat().st_size for path in built.folder.iterdir())
    assert size < 0.05 * sum(path.stat().st_size for path in clone.rglob("*.csv"))


def test_another_seed_or_changed_files_never_reuse_a_digest(clone):
    first = load_digest(clone, seed=0, log=lambda line: None)
    assert load_digest(clone, seed=1, log=lambda line: None).folder != first.folder
    verdicts = next(clone.rglob("xstest_*.csv"))
    verdicts.write_text(verdicts.read_text())  # same content, rewritten: its time changes
    changed = load_digest(clone, seed=0, log=lambda line: None)
    assert not changed.reused and changed.fingerprint != first.fingerprint


def test_a_git_checkout_is_keyed_by_its_commit_unless_changed(clone):
    def git(*args):
        return subprocess.run(["git", *args], cwd=clone, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "--quiet")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "--quiet", "-m", "release")
    commit = git("rev-parse", "HEAD")
    assert release_fingerprint(clone) == commit
    assert load_digest(clone, log=lambda line: None).folder.name.startswith(commit[:16])
    verdicts = next(clone.rglob("bfi_*.csv"))
    verdicts.write_text(verdicts.read_text().replace("Result", "Outcome", 1))
    assert release_fingerprint(clone).startswith("files-")  # a modified checkout is not the commit


def test_an_interrupted_build_leaves_no_digest(clone, monkeypatch):
    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail)
    with pytest.raises(KeyboardInterrupt):
        load_digest(clone, log=lambda line: None)
    digests = cache_dir() / "authors-release" / "digests"
    assert list(digests.iterdir()) == []
