"""Assemble, build and publish the Jupyter Book from an executed run.

The book's results chapters are the pipeline notebooks *as executed* by papermill. ``assemble_book`` copies them
from a run folder into ``book/run/`` (the book never re-executes them; a reader downloads each chapter as the
notebook that made it), ``build_book`` runs Jupyter Book 1 with warnings as errors, so a broken reference or a failed
cell fails the build, and ``publish_book`` pushes the built HTML to a ``gh-pages`` branch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from persona_lib.paths import PROJECT_ROOT

BOOK_RUN_DIR = Path("book") / "run"
# Where the repository keeps the pipeline notebooks that the results chapters are executed copies of.
PIPELINE_NOTEBOOK_DIR = Path("notebooks")
BUILT_HTML_DIR = Path("_build") / "html"
PUBLISH_BRANCH = "gh-pages"

# A comment line such as ``# NBVAL_CHECK_OUTPUT``: the cell is a check for the test suite (nbval).
_NBVAL_MARKER = re.compile(r"^\s*#\s*NBVAL_[A-Z_]+\s*$", re.MULTILINE)


def assemble_book(run_dir: str | Path, book_root: str | Path = PROJECT_ROOT) -> list[Path]:
    """Copy a run's executed notebooks (and its figures) into ``<book_root>/book/run``.

    Only the pipeline's notebooks are copied (those in the repository's ``notebooks/``): a notebook a run folder kept
    from an older version of the pipeline is no chapter of this book.

    Args:
        run_dir: A run folder written by ``persona-eval run`` (it has ``notebooks/*.ipynb``).
        book_root: The folder holding ``_config.yml`` and ``_toc.yml``.

    Returns:
        The copied notebook paths.

    Raises:
        FileNotFoundError: if the run folder has no executed notebooks.
    """
    source = Path(run_dir) / "notebooks"
    chapters = {path.name for path in (PROJECT_ROOT / PIPELINE_NOTEBOOK_DIR).glob("*.ipynb")}
    notebooks = sorted(path for path in source.glob("*.ipynb") if path.name in chapters)
    if not notebooks:
        raise FileNotFoundError(
            f"no executed notebooks in {source}; run `persona-eval run --config configs/default.yaml` first"
        )
    target = Path(book_root) / BOOK_RUN_DIR
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    copied = [_copy_for_book(notebook, target / notebook.name) for notebook in notebooks]
    figures = Path(run_dir) / "figures"
    if figures.is_dir():
        shutil.copytree(figures, target / "figures")
    return copied


def _copy_for_book(source: Path, target: Path) -> Path:
    """Copy an executed notebook, tagging what is meant for the pipeline and the tests so the page hides it.

    The page keeps every cell a reader needs to re-run the chapter, including the default ``parameters`` cell (the
    configuration a reader passes). Hidden: the ``injected-parameters`` cell papermill added (the whole resolved
    configuration, plumbing; the chapter's provenance table states what matters in it) and the source of cells
    carrying an nbval marker such as ``# NBVAL_CHECK_OUTPUT`` (checks for the test suite; their printed summary
    stays). Only tags change: the copy is still the notebook that made the chapter, downloadable from the page.
    """
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags:
            tags.append("remove-cell")
        elif cell.cell_type == "code" and _NBVAL_MARKER.search(cell.source):
            tags.append("remove-input")
    nbformat.write(notebook, target)
    return target


def build_book(book_root: str | Path = PROJECT_ROOT, strict: bool = True) -> Path:
    """Build the HTML book with Jupyter Book 1 and return the path of ``index.html``.

    Args:
        book_root: The folder holding ``_config.yml`` and ``_toc.yml``.
        strict: Treat Sphinx warnings as errors (``--warningiserror --keep-going``).

    Raises:
        RuntimeError: when the build fails; the message carries the end of the build log.
    """
    book_root = Path(book_root)
    entry = "import sys; from jupyter_book.cli.main import main; sys.exit(main())"
    command = [sys.executable, "-c", entry, "build", str(book_root)]
    if strict:
        command += ["--warningiserror", "--keep-going"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        log = (result.stdout + result.stderr)[-6000:]
        raise RuntimeError(f"jupyter-book build failed (exit {result.returncode}):\n{log}")
    return book_root / BUILT_HTML_DIR / "index.html"


def publish_book(
    html_dir: str | Path = PROJECT_ROOT / BUILT_HTML_DIR,
    remote: str = "origin",
    repo: str | Path = PROJECT_ROOT,
    branch: str = PUBLISH_BRANCH,
) -> str:
    """Push a built HTML book to a branch of a git remote, as GitHub Pages serves it from ``gh-pages``.

    The branch's whole tree becomes the folder's content plus an empty ``.nojekyll`` (Pages would otherwise hide
    Sphinx's ``_static`` and ``_sources`` folders); ghp-import writes that commit on top of the branch's previous one
    and force-pushes it.

    Args:
        html_dir: The built book (``_build/html`` after ``make book``).
        remote: A remote of ``repo`` (``git remote -v``) or a git URL or path.
        repo: The git repository whose remote receives the branch.
        branch: The branch to write.

    Returns:
        The commit id of the published branch, as the remote now has it.

    Raises:
        FileNotFoundError: if ``html_dir`` holds no ``index.html``.
        ValueError: if ``repo`` is not a git repository or ``remote`` is neither its remote nor a URL or path.
        RuntimeError: if ghp-import or the push fails; the message carries git's output.
    """
    html_dir, repo = Path(html_dir).resolve(), Path(repo).resolve()
    if not (html_dir / "index.html").is_file():
        raise FileNotFoundError(f"no built book in {html_dir} (index.html missing); run `make book` first")
    if _git(repo, "rev-parse", "--git-dir").returncode != 0:
        raise ValueError(f"{repo} is not a git repository; publish from a clone of the project")
    if _git(repo, "remote", "get-url", remote).returncode != 0 and not _looks_like_git_url(remote, repo):
        raise ValueError(
            f"{repo} has no git remote named {remote!r}; set PUBLISH_REMOTE to one of `git remote -v` or to a git URL"
        )
    head = _git(repo, "rev-parse", "--short", "HEAD").stdout.strip() or "an unborn branch"
    command = [
        sys.executable,
        "-m",
        "ghp_import",
        "--no-jekyll",
        "--push",
        "--force",
        "--remote",
        remote,
        "--branch",
        branch,
        "--message",
        f"Publish the book built from {head}",
        str(html_dir),
    ]
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, env=_committer_env(repo))
    published = _git(repo, "ls-remote", remote, f"refs/heads/{branch}").stdout.split()
    local = _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").stdout.strip()
    if result.returncode != 0 or "Failed to process commit" in result.stdout or not published or published[0] != local:
        raise RuntimeError(
            f"publishing {html_dir} to {remote} {branch} failed (ghp-import exit {result.returncode}):\n"
            f"{(result.stdout + result.stderr)[-4000:]}"
        )
    return local


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


def _looks_like_git_url(remote: str, repo: Path) -> bool:
    """``https://…``, ``git@host:owner/name`` or a path (relative paths count from the repository, as for git)."""
    return "://" in remote or ":" in remote.split("/")[0] or (repo / remote).exists()


def _committer_env(repo: Path) -> dict[str, str]:
    """The environment for ghp-import, with a committer name and e-mail when git has none configured."""
    env = dict(os.environ)
    if not _git(repo, "config", "user.name").stdout.strip():
        env.setdefault("GIT_COMMITTER_NAME", "persistent-personas book")
    if not _git(repo, "config", "user.email").stdout.strip():
        env.setdefault("GIT_COMMITTER_EMAIL", "book@localhost")
    return env
