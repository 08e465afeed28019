"""Getting the authors' release: a sparse, partial clone of their repository at a pinned commit.

The repository (github.com/peluz/persistent-personas, MIT) is about 1.5 GB, most of it the dialogues and answers
under ``generations/``. The reproduction and the results chapters read ``metrics/`` (every verdict of both judges)
and ``results/``; ``generations/`` is needed only to re-score the released IFBench answers. :func:`fetch_release`
therefore fetches one commit with ``--filter=blob:none`` (a partial clone: no file contents until checked out) and
checks out only the folders asked for (a sparse checkout), into the project's cache, keyed by commit. It then
verifies that the checked-out commit is the one pinned, so every number the book computes from the release names
the exact files it came from.

Offline, or where GitHub is out of reach, :class:`FetchError` says what to do instead: clone on a machine with
network and pass the clone as ``AUTHORS_REPO=PATH`` (make) or ``--authors-repo PATH`` (the CLI).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from persona_lib.paths import cache_dir

#: Where the authors' repository lives.
AUTHORS_URL = "https://github.com/peluz/persistent-personas"
#: The commit of the release the book's results are computed from. Chosen without network access, from the public
#: code index, which stores the repository's files at three commits: ``92ddad75`` (metrics/bfi, in_character,
#: instruction_*; generations/), ``f2d9ca79`` (results/; metrics/knowledge, style, xstest) and ``31bb90bf`` (the
#: README, which already announces the EACL 2026 presentation): the last, as the newest, is taken to hold them all.
#: :func:`fetch_release` verifies the commit and ``check_clone`` what it holds.
PINNED_COMMIT = "31bb90bfefcac27f4ba692fc6335320848172a73"
#: Folders checked out by default; ``generations/`` is added on request.
DEFAULT_FOLDERS = ("metrics", "results")
GENERATIONS = "generations"


class FetchError(RuntimeError):
    """The release could not be fetched or verified; the message says why and what to do."""


def release_dir(commit: str = PINNED_COMMIT) -> Path:
    """Where :func:`fetch_release` puts a commit's checkout: ``<cache>/authors-release/<first 12 hex digits>``."""
    return cache_dir() / "authors-release" / commit[:12]


def _git(args: Sequence[str], folder: Path, timeout: float = 3600) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise FetchError("git is not installed; install it (e.g. `apt-get install git`) to fetch the release") from None
    if done.returncode != 0:
        raise FetchError(f"`git {' '.join(args)}` failed in {folder}: {done.stderr.strip()[-800:]}")
    return done.stdout.strip()


def checked_out_commit(folder: str | Path) -> str | None:
    """The commit checked out in ``folder`` if it is a git work tree, else ``None``."""
    folder = Path(folder)
    if not (folder / ".git").exists():
        return None
    try:
        return _git(["rev-parse", "HEAD"], folder, timeout=60)
    except FetchError:
        return None


def sparse_folders(folder: str | Path) -> list[str]:
    """The folders a sparse checkout holds (every top folder if it is not sparse)."""
    folder = Path(folder)
    try:
        listed = _git(["sparse-checkout", "list"], folder, timeout=60)
    except FetchError:
        listed = ""
    if listed:
        return sorted(line.strip().strip("/") for line in listed.splitlines() if line.strip())
    return sorted(path.name for path in folder.iterdir() if path.is_dir() and path.name != ".git")


def fetch_release(
    dest: str | Path | None = None,
    *,
    generations: bool = False,
    url: str = AUTHORS_URL,
    commit: str = PINNED_COMMIT,
    log=print,
) -> Path:
    """Fetch the authors' release at ``commit`` (or reuse a checkout of it) and return its folder.

    Args:
        dest: The folder to clone into (default :func:`release_dir`).
        generations: Also check out ``generations/`` (the dialogues and answers; needed to re-score IFBench).
        url: The repository (a ``file://`` URL or a path works too).
        commit: The full commit hash to check out and verify.
        log: Where progress lines go.

    Returns:
        The checkout's folder (``metrics/``, ``results/`` and, if asked, ``generations/``).

    Raises:
        FetchError: git is missing, the repository cannot be reached (the message names the offline route), the
            commit is not in it, or the checkout is not at ``commit`` after fetching.
    """
    dest = Path(dest) if dest is not None else release_dir(commit)
    folders = [*DEFAULT_FOLDERS, *([GENERATIONS] if generations else [])]
    if checked_out_commit(dest) == commit:
        missing = [name for name in folders if name not in sparse_folders(dest)]
        if not missing:
            log(f"the authors' release at {commit[:12]} is already in {dest}")
            return dest
        log(f"adding {', '.join(missing)}/ to {dest}")
        _git(["sparse-checkout", "add", *missing], dest)
        return dest
    if dest.exists():
        if not _is_checkout_of(dest, url):
            raise FetchError(
                f"{dest} exists and is not a checkout of {url}; nothing was changed: give another destination or "
                "remove that folder"
            )
        shutil.rmtree(dest)  # a checkout of another commit, or one interrupted before it was verified
    dest.mkdir(parents=True)
    log(f"fetching {', '.join(folder + '/' for folder in folders)} of {url} at {commit[:12]} into {dest}")
    try:
        _git(["init", "--quiet"], dest)
        _git(["remote", "add", "origin", url], dest)
        _git(["sparse-checkout", "set", "--cone", *folders], dest)
        try:
            _git(["fetch", "--quiet", "--depth", "1", "--filter=blob:none", "origin", commit], dest)
        except FetchError as err:
            raise FetchError(
                f"could not fetch commit {commit} from {url} ({err}). Without network access: clone the repository "
                f"on a machine that has it (`git clone {AUTHORS_URL}`, then `git -C persistent-personas checkout "
                f"{commit}`), copy the clone here and pass it as AUTHORS_REPO=PATH (make) or --authors-repo PATH "
                "(persona-eval)"
            ) from None
        _git(["checkout", "--quiet", "FETCH_HEAD"], dest)
        verified = checked_out_commit(dest)
        if verified != commit:
            raise FetchError(f"{dest} is at commit {verified} after fetching, not at the pinned {commit}")
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # never leave a half-fetched checkout that looks usable
        raise
    log(f"the authors' release at {commit[:12]} is in {dest}")
    return dest


def _is_checkout_of(folder: Path, url: str) -> bool:
    """True for an empty folder, or a git checkout whose origin is ``url`` (``file://`` and ``.git`` aside)."""
    if folder.is_dir() and not any(folder.iterdir()):
        return True
    if not (folder / ".git").exists():
        return False
    try:
        origin = _git(["config", "--get", "remote.origin.url"], folder, timeout=60)
    except FetchError:
        return False

    def bare(location: str) -> str:
        return location.removeprefix("file://").rstrip("/").removesuffix(".git")

    return bare(origin) == bare(url)


def describe_existing(folder: str | Path, commit: str = PINNED_COMMIT) -> str:
    """One line on an existing clone given as ``AUTHORS_REPO``: its commit against the pinned one.

    Raises:
        FetchError: if ``folder`` does not exist.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FetchError(f"{folder}: no such folder (AUTHORS_REPO / --authors-repo must name a clone)")
    found = checked_out_commit(folder)
    if found is None:
        return f"{folder}: not a git checkout, so its commit cannot be verified (the pinned commit is {commit[:12]})"
    if found != commit:
        return f"{folder}: at commit {found[:12]}, not the pinned {commit[:12]}; numbers may differ from the book's"
    return f"{folder}: at the pinned commit {commit[:12]}"
