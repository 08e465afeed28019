"""Getting the authors' release (#28 point 1): a sparse, partial clone at a pinned commit, verified, reused, and a
clear message offline.

Tested against a local bare repository (cloned over ``file://``) built from the real excerpts of the release in its
exact layout (``tests/data/authors_release``: ``metrics/``, ``results/``, ``generations/``, and the release's
``results/ifbench_results.json`` shipped in ``data/released/``), with a second commit
after the pinned one, as the real repository may gain.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from persona_lib.authors_release import (
    PINNED_COMMIT,
    FetchError,
    check_clone,
    describe_existing,
    fetch_release,
    release_dir,
)
from persona_lib.cli import main
from persona_lib.paths import PROJECT_ROOT, released_dir

EXCERPTS = Path(__file__).parent / "data" / "authors_release"


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[str, str]:
    """A bare repository in the release's layout: (its file:// URL, the pinned commit); a later commit adds a file."""
    work = tmp_path_factory.mktemp("authors_work")
    shutil.copytree(EXCERPTS, work, dirs_exist_ok=True)
    shutil.copy(released_dir() / "ifbench_results.json", work / "results")  # the release's own file, shipped here
    (work / "README.md").write_text("persistent personas (test excerpt)\n")
    git(work, "init", "--quiet", "--initial-branch=main")
    git(work, "add", ".")
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.org"]
    git(work, *identity, "commit", "--quiet", "-m", "release")
    pinned = git(work, "rev-parse", "HEAD")
    (work / "results" / "later.txt").write_text("added after the pinned commit\n")
    git(work, "add", ".")
    git(work, *identity, "commit", "--quiet", "-m", "later")
    bare = tmp_path_factory.mktemp("authors_bare") / "persistent-personas.git"
    git(work.parent, "clone", "--quiet", "--bare", str(work), str(bare))
    git(bare, "config", "uploadpack.allowFilter", "true")  # what GitHub allows: partial clones and fetch by hash
    git(bare, "config", "uploadpack.allowAnySHA1InWant", "true")
    return f"file://{bare}", pinned


def files_under(folder: Path) -> list[str]:
    return sorted(
        str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file() and ".git" not in path.parts
    )


def test_metrics_and_results_at_the_pinned_commit_without_generations(release, tmp_path):
    url, pinned = release
    lines = []
    folder = fetch_release(tmp_path / "release", url=url, commit=pinned, log=lines.append)

    assert git(folder, "rev-parse", "HEAD") == pinned
    expected = [name for name in files_under(EXCERPTS) if not name.startswith("generations/")]
    assert files_under(folder) == sorted(
        [*expected, "README.md", "results/ifbench_results.json"]
    )  # top-level files come with a cone checkout
    assert not (folder / "results" / "later.txt").exists()  # the later commit is not fetched
    assert git(folder, "rev-parse", "--is-shallow-repository") == "true"
    assert git(folder, "config", "remote.origin.partialclonefilter") == "blob:none"
    assert any("fetching metrics/, results/" in line for line in lines)


def test_generations_on_request_and_a_second_fetch_reuses_the_checkout(release, tmp_path):
    url, pinned = release
    folder = fetch_release(tmp_path / "release", url=url, commit=pinned, log=lambda line: None)
    marker = folder / ".git" / "kept"
    marker.write_text("")
    lines = []
    again = fetch_release(tmp_path / "release", url=url, commit=pinned, generations=True, log=lines.append)

    assert again == folder and marker.exists()  # added to, not cloned again
    assert lines == ["adding generations/ to " + str(folder)]
    assert files_under(folder) == sorted([*files_under(EXCERPTS), "README.md", "results/ifbench_results.json"])
    assert check_clone(folder) == folder.resolve()  # the reproduction reads it as a complete clone
    lines.clear()
    fetch_release(tmp_path / "release", url=url, commit=pinned, generations=True, log=lines.append)
    assert lines == [f"the authors' release at {pinned[:12]} is already in {folder}"]


def test_the_default_folder_is_in_the_cache_keyed_by_commit(release, tmp_path, monkeypatch):
    url, pinned = release
    monkeypatch.setenv("PERSONA_LIB_CACHE", str(tmp_path / "cache"))
    folder = fetch_release(url=url, commit=pinned, log=lambda line: None)
    assert folder == tmp_path / "cache" / "authors-release" / pinned[:12] == release_dir(pinned)


def test_an_unreachable_repository_says_what_to_do_offline_and_leaves_nothing(tmp_path):
    with pytest.raises(FetchError) as raised:
        fetch_release(tmp_path / "release", url=f"file://{tmp_path}/absent.git", log=lambda line: None)
    message = str(raised.value)
    assert "could not fetch commit" in message and "AUTHORS_REPO=PATH" in message and "--authors-repo" in message
    assert not (tmp_path / "release").exists()


def test_a_commit_the_repository_does_not_have_is_refused(release, tmp_path):
    url, _ = release
    with pytest.raises(FetchError, match="could not fetch commit 0{40}"):
        fetch_release(tmp_path / "release", url=url, commit="0" * 40, log=lambda line: None)


def test_a_checkout_of_another_commit_is_replaced_by_the_pinned_one(release, tmp_path):
    url, pinned = release
    folder = tmp_path / "release"
    git(tmp_path, "clone", "--quiet", url.removeprefix("file://"), str(folder))  # at the later commit
    assert git(folder, "rev-parse", "HEAD") != pinned
    assert "not the pinned" in describe_existing(folder, pinned)
    fetch_release(folder, url=url, commit=pinned, log=lambda line: None)
    assert git(folder, "rev-parse", "HEAD") == pinned
    assert describe_existing(folder, pinned) == f"{folder}: at the pinned commit {pinned[:12]}"


def test_the_command_prints_the_folder_last_and_checks_an_existing_clone(release, tmp_path, capsys):
    url, pinned = release
    folder = tmp_path / "release"
    assert main(["fetch-release", "--dest", str(folder), "--url", url, "--commit", pinned]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == str(folder) and "fetching" in captured.err
    assert main(["fetch-release", "--existing", str(folder), "--commit", pinned]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(folder) and "at the pinned commit" in captured.err
    assert main(["fetch-release", "--existing", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["fetch-release", "--dest", str(tmp_path / "x"), "--url", f"file://{tmp_path}/absent.git"]) == 2
    assert "AUTHORS_REPO=PATH" in capsys.readouterr().err


def test_make_release_with_authors_repo_uses_that_clone(release, tmp_path):
    url, pinned = release
    folder = fetch_release(tmp_path / "release", url=url, commit=pinned, log=lambda line: None)
    make = ["make", "--no-print-directory", "-f", str(PROJECT_ROOT / "Makefile"), "-C", str(tmp_path), "-o", "setup"]
    done = subprocess.run(
        [*make, "release", f"BIN={Path(sys.executable).parent}", f"AUTHORS_REPO={folder}"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == str(folder)
    # the test repository's commit is not the real release's, and the command says so
    assert f"at commit {pinned[:12]}, not the pinned {PINNED_COMMIT[:12]}" in done.stderr


def test_a_folder_that_is_not_a_checkout_of_the_release_is_never_deleted(release, tmp_path):
    url, pinned = release
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("months of work")
    with pytest.raises(FetchError, match="exists and is not a checkout of"):
        fetch_release(mine, url=url, commit=pinned, log=lambda line: None)
    assert (mine / "thesis.tex").read_text() == "months of work"
    other = tmp_path / "other-repo"
    git(tmp_path, "init", "--quiet", str(other))
    git(other, "remote", "add", "origin", "https://example.org/another.git")
    with pytest.raises(FetchError, match="exists and is not a checkout of"):
        fetch_release(other, url=url, commit=pinned, log=lambda line: None)
    assert (other / ".git").is_dir()
