"""Assemble and build the Jupyter Book from an executed run.

The book's results chapters are the pipeline notebooks *as executed* by papermill. ``assemble_book`` copies them
from a run folder into ``book/run/`` (the book never re-executes them) and ``build_book`` runs Jupyter Book 1 with
warnings as errors, so a broken reference or a failed cell fails the build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from persona_lib.paths import PROJECT_ROOT

BOOK_RUN_DIR = Path("book") / "run"


def assemble_book(run_dir: str | Path, book_root: str | Path = PROJECT_ROOT) -> list[Path]:
    """Copy a run's executed notebooks (and its figures) into ``<book_root>/book/run``.

    Args:
        run_dir: A run folder written by ``persona-eval run`` (it has ``notebooks/*.ipynb``).
        book_root: The folder holding ``_config.yml`` and ``_toc.yml``.

    Returns:
        The copied notebook paths.

    Raises:
        FileNotFoundError: if the run folder has no executed notebooks.
    """
    source = Path(run_dir) / "notebooks"
    notebooks = sorted(source.glob("*.ipynb"))
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
    """Copy an executed notebook, hiding its parameter cells in the rendered page.

    The default ``parameters`` cell is removed (papermill overrode it); the ``injected-parameters`` cell, which
    records the configuration the run really used, stays in the page collapsed.
    """
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags:
            tags.append("remove-cell")
        elif "injected-parameters" in tags:
            tags.append("hide-input")
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
    return book_root / "_build" / "html" / "index.html"
