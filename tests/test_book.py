"""The book as its readers get it: the pipeline notebooks on a tiny configuration, nbval over them, the book built,
published to a gh-pages branch and read page by page in headless Chromium; plus the files that put it online and
make it citable (the Pages workflow, CITATION.cff).

The tiny run uses the real bundled model (SmolLM2-135M-Instruct via transformers on CPU) with a handful of rounds
and items, so the slow tests take several minutes; the book is built once per session. Screenshots of every page are
kept in ``test-artifacts/``.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import nbformat
import pytest
import tomllib
import yaml

from persona_lib.book import (
    BOOK_RUN_DIR,
    PIPELINE_NOTEBOOK_DIR,
    assemble_book,
    build_book,
    copy_book_sources,
    publish_book,
)
from persona_lib.paths import PROJECT_ROOT
from persona_lib.pipeline import STAGES, run_pipeline
from persona_lib.resolve import load_config

TINY_CONFIG = PROJECT_ROOT / "tests" / "configs" / "tiny.yaml"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "book.yml"
CITATION = PROJECT_ROOT / "CITATION.cff"
BOOK_CONFIG = yaml.safe_load((PROJECT_ROOT / "_config.yml").read_text())
REPOSITORY_URL = BOOK_CONFIG["repository"]["url"]
RESULTS_PREFIX = f"{BOOK_RUN_DIR.as_posix()}/"  # the documents of a results chapter, e.g. book/run/analysis

# What a reader must never see: markers and plumbing meant for the pipeline and the tests.
LEAKS = {
    "an nbval marker": re.compile(r"NBVAL_[A-Z_]+"),
    "papermill's injected-parameters cell": re.compile(r"injected-parameters|# Parameters\b"),
    "the resolved configuration": re.compile(r"config = \{|&quot;output_dir&quot;|'output_dir':"),
    "a Python traceback": re.compile(r"Traceback \(most recent call last\)"),
    "a warning on stderr": re.compile(r"\w+Warning: "),
    "a progress bar": re.compile(r"\d+%\|[^|\n]*\| *\d+/\d+ \["),
}

# What a reader must not find in a page or in a notebook they download: the paths of the machine that built the book
# (a scratch folder, a home or project folder, an installed library) and warnings raised by libraries.
MACHINE_PATHS = re.compile(
    "|".join(
        [
            r"(?<![\w.])/(?:tmp|work|home|root|Users|private|var/folders)/",
            r"site-packages",
            r"pytest-of-",
            r"\btmp[a-z0-9_]{8}\b",
            re.escape(str(PROJECT_ROOT)),
        ]
    )
)
LIBRARY_NOISE = re.compile(r"\w+Warning: |warnings\.warn\(|IProgress not found")
# The chapters that teach: each says what its reader will learn (the references page does not).
TEACHING_CHAPTERS = [
    page
    for page in (
        yaml.safe_load((PROJECT_ROOT / "_toc.yml").read_text())["root"],
        *[
            chapter["file"]
            for part in yaml.safe_load((PROJECT_ROOT / "_toc.yml").read_text())["parts"]
            for chapter in part["chapters"]
        ],
    )
    if page != "book/references"
]

# A page that shows computed output says which backend, model, judge and data produced it, in one of two visible
# forms: the provenance table of a results chapter (persona_lib.report.provenance_markdown: rows "model under test",
# "judge" where the chapter shows judged numbers, "datasets"), or a sentence led by "Backend, model, judge:" (the
# data and teaching chapters, and the reproduction chapter, which runs no model). The introduction's table says it
# for every part of the book.
PROVENANCE_SENTENCE = "Backend, model, judge:"


slow = pytest.mark.slow  # runs the notebooks, loads the bundled model or builds the book
# Checks of the pages readers get; `.ci/run` also runs them on the default book (`make book`), through BOOK_HTML and
# BOOK_RUN.
pages = pytest.mark.pages


def _check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess:
    """Validate a file against a schema vendored by check-jsonschema (no network)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", f"vendor.{schema}", str(path)],
        capture_output=True,
        text=True,
    )


def _toc_pages() -> list[str]:
    """The book's documents in reading order: the root, then every chapter of every part of ``_toc.yml``."""
    toc = yaml.safe_load((PROJECT_ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def _git_repo_with_bare_remote(root: Path) -> tuple[Path, Path]:
    remote = root / "remote.git"
    _git(root, "init", "--quiet", "--bare", str(remote))
    clone = root / "clone"
    _git(root, "init", "--quiet", "--initial-branch", "main", str(clone))
    _git(clone, "config", "user.name", "Test Publisher")
    _git(clone, "config", "user.email", "publisher@localhost")
    (clone / "README.md").write_text("a clone of the project\n")
    _git(clone, "add", "README.md")
    _git(clone, "commit", "--quiet", "-m", "start")
    _git(clone, "remote", "add", "origin", str(remote))
    return clone, remote


# ------------------------------------------------------------------------------------------------ fast checks
def test_citation_file_is_valid_cff_and_cites_the_paper(tmp_path: Path) -> None:
    result = _check_jsonschema("citation-file-format", CITATION)
    assert result.returncode == 0, result.stdout + result.stderr
    citation = yaml.safe_load(CITATION.read_text())
    assert citation["license"] == "MIT" == _pyproject_license()
    assert citation["repository-code"] == REPOSITORY_URL
    (paper,) = [ref for ref in citation["references"] if ref["title"].startswith("Persistent Personas?")]
    assert [author["family-names"] for author in paper["authors"]] == [
        "Luz de Araujo",
        "Hedderich",
        "Modarressi",
        "Schütze",
        "Roth",
    ]
    assert paper["year"] == 2026 and paper["conference"]["name"] == "EACL 2026"
    assert any("2512.12775" in identifier["value"] for identifier in paper["identifiers"])
    # The validator really validates, offline: the same file without authors is rejected.
    broken = tmp_path / "CITATION.cff"
    broken.write_text(yaml.safe_dump({key: value for key, value in citation.items() if key != "authors"}))
    assert _check_jsonschema("citation-file-format", broken).returncode == 1


def _pyproject_license() -> str:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]


def test_book_workflow_is_valid_and_runs_the_readme_command(tmp_path: Path) -> None:
    result = _check_jsonschema("github-workflows", WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = [step for job in workflow["jobs"].values() for step in job.get("steps", [])]
    runs = [step["run"].strip() for step in steps if "run" in step]
    builds = [command for command in runs if command.startswith("make")]
    assert builds == ["make book-release"], "the workflow builds with README's command and nothing else"
    assert "make book-release" in (PROJECT_ROOT / "README.md").read_text()
    # The release is cached by the pinned commit, which the workflow reads from the one place that states it.
    from persona_lib.authors_release import PINNED_COMMIT

    (pin,) = [command for command in runs if "PINNED_COMMIT" in command]
    reader = pin.split("$(", 1)[1].rsplit(")", 1)[0]
    read = subprocess.run(["bash", "-c", reader], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert read.stdout.strip() == PINNED_COMMIT
    uses = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    assert "actions/deploy-pages" in uses
    cached = {
        step["with"]["path"].strip(): step["with"]["key"] for step in steps if "actions/cache@" in step.get("uses", "")
    }
    assert set(cached) == {".venv", ".cache\n!.cache/authors-release", ".cache/authors-release"}
    assert cached[".cache/authors-release"] == "authors-release-${{ steps.pin.outputs.commit }}"
    # The lint catches a broken workflow, offline: a job without `runs-on`.
    del workflow["jobs"]["build"]["runs-on"]
    broken = tmp_path / "book.yml"
    broken.write_text(yaml.safe_dump(workflow))
    assert _check_jsonschema("github-workflows", broken).returncode == 1


def test_publish_book_names_what_is_missing(tmp_path: Path) -> None:
    clone, _ = _git_repo_with_bare_remote(tmp_path)
    with pytest.raises(FileNotFoundError, match="make book"):
        publish_book(tmp_path / "nothing", remote="origin", repo=clone)
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html></html>")
    with pytest.raises(ValueError, match="no git remote named 'upstream'"):
        publish_book(site, remote="upstream", repo=clone)
    with pytest.raises(ValueError, match="not a git repository"):
        publish_book(site, remote="origin", repo=site)


def test_publish_book_accepts_a_remote_given_by_path_and_replaces_the_branch(tmp_path: Path) -> None:
    clone, remote = _git_repo_with_bare_remote(tmp_path)
    site = tmp_path / "site"
    (site / "book").mkdir(parents=True)
    (site / "index.html").write_text("<html>first</html>")
    (site / "book" / "old.html").write_text("<html>old</html>")
    first = publish_book(site, remote="../remote.git", repo=clone)
    (site / "book" / "old.html").unlink()
    (site / "book" / "new.html").write_text("<html>new</html>")
    second = publish_book(site, remote=str(remote), repo=clone)
    assert second != first and _git(remote, "rev-parse", "gh-pages").strip() == second
    assert _git(remote, "ls-tree", "-r", "--name-only", "gh-pages").split() == [
        ".nojekyll",
        "book/new.html",
        "index.html",
    ]
    assert _git(remote, "rev-parse", "gh-pages^").strip() == first


def test_assembled_chapters_hide_test_plumbing_and_keep_the_code(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell('config = "configs/default.yaml"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "# Parameters\nconfig = {'name': 'tiny'}", metadata={"tags": ["injected-parameters"]}
        ),
        nbformat.v4.new_code_cell("run = Run.for_notebook(config)"),
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(len(run.units()))"),
    ]
    (tmp_path / "run" / "notebooks").mkdir(parents=True)
    nbformat.write(notebook, tmp_path / "run" / "notebooks" / "scoring.ipynb")
    nbformat.write(notebook, tmp_path / "run" / "notebooks" / "03_scoring.ipynb")  # left by an older pipeline
    (copied,) = assemble_book(tmp_path / "run", tmp_path / "root")
    assert copied.name == "scoring.ipynb"
    cells = nbformat.read(copied, as_version=4).cells
    assert [cell.metadata.get("tags", []) for cell in cells] == [
        ["parameters"],
        ["injected-parameters", "remove-cell"],
        [],
        ["remove-input"],
    ]
    assert [cell.source for cell in cells] == [cell.source for cell in notebook.cells]


def _chapter_sources(page: str) -> str:
    """The text a chapter is written in: its Markdown, or its notebook's Markdown cells (a results chapter's
    notebook lives in ``notebooks/``)."""
    if page.startswith(RESULTS_PREFIX):
        path = PROJECT_ROOT / PIPELINE_NOTEBOOK_DIR / f"{page.removeprefix(RESULTS_PREFIX)}.ipynb"
    else:
        path = next(PROJECT_ROOT.glob(f"{page}.*"))
    if path.suffix == ".md":
        return path.read_text()
    return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown")


def test_every_chapter_states_what_its_reader_will_learn() -> None:
    assert "book/limitations" in TEACHING_CHAPTERS and "book/teaching" in TEACHING_CHAPTERS
    missing = [page for page in TEACHING_CHAPTERS if "You will learn" not in _chapter_sources(page)]
    assert not missing, f"no learning goals in {missing}"


def test_every_figure_cell_carries_a_numbered_caption() -> None:
    # A cell that shows a figure (a saved PNG) gets a caption and a name from its metadata; the built book then
    # numbers it (numfig). The built pages are checked for a caption under every image as well.
    notebooks = [
        *(PROJECT_ROOT / PIPELINE_NOTEBOOK_DIR / name for stage in STAGES for name in stage.notebooks),
        *(PROJECT_ROOT / "book").glob("*.ipynb"),
    ]  # the book's chapters (study is not one)
    uncaptioned, names = [], []
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or not re.search(r"save_and_show\(|Image\(filename", cell.source):
                continue
            figure = cell.metadata.get("mystnb", {}).get("figure", {})
            if len(figure.get("caption", "")) < 40 or not figure.get("name", "").startswith("fig-"):
                uncaptioned.append(f"{path.name}: {cell.source.splitlines()[0]}")
            names.append(figure.get("name"))
    assert not uncaptioned, f"figure cells without a caption and a name: {uncaptioned}"
    assert len(names) == len(set(names)) >= 10


def test_every_chapter_that_shows_model_answers_to_benchmark_prompts_carries_a_content_note_before_them() -> None:
    notebooks = [
        *(PROJECT_ROOT / PIPELINE_NOTEBOOK_DIR / name for stage in STAGES for name in stage.notebooks),
        *(PROJECT_ROOT / "book").glob("*.ipynb"),
    ]
    shown = 0
    for path in notebooks:
        cells = nbformat.read(path, as_version=4).cells
        for index, cell in enumerate(cells):
            if cell.cell_type == "code" and "sample_answers(" in cell.source:
                shown += 1
                before = "\n".join(c.source for c in cells[:index] if c.cell_type == "markdown")
                assert ":::{warning} Content note" in before.rsplit("\n## ", 1)[-1], f"{path.name} cell {index}"
    assert shown >= 1


def test_round_102_context_lengths_have_one_source() -> None:
    from persona_lib.released import final_prefix_range

    shortest, longest = final_prefix_range()
    substitutions = BOOK_CONFIG["parse"]["myst_substitutions"]
    assert (substitutions["round102_tokens_min"], substitutions["round102_tokens_max"]) == (
        f"{shortest:,}",
        f"{longest:,}",
    )
    assert f"{shortest:,}-{longest:,}" in (PROJECT_ROOT / "configs" / "paper.yaml").read_text()
    # No page, notebook, configuration or README states the lengths from memory ("26k-110k", "~100k tokens").
    texts = [
        *(PROJECT_ROOT / "book").glob("*.md"),
        *(PROJECT_ROOT / "book").glob("*.ipynb"),
        *(PROJECT_ROOT / PIPELINE_NOTEBOOK_DIR).glob("*.ipynb"),
        *(PROJECT_ROOT / "configs").glob("*.yaml"),
        PROJECT_ROOT / "README.md",
    ]
    approximate = re.compile(r"\d+k\s*(?:[-\u2013]|to)\s*\d+k\b|~\s*\d+k tokens")
    stale = [path.name for path in texts if approximate.search(path.read_text())]
    assert not stale, f"context lengths stated from memory in {stale}; use the released range"
    assert "{{ round102_tokens_min }}" in (PROJECT_ROOT / "book" / "protocol.md").read_text()


def test_bibliography_lists_only_cited_works_and_tells_the_two_wangs_apart() -> None:
    import pybtex.database

    entries = pybtex.database.parse_file(PROJECT_ROOT / "book" / "references.bib").entries
    sources = "\n".join(
        [
            *(path.read_text() for path in (PROJECT_ROOT / "book").glob("*.md")),
            *(path.read_text() for path in (PROJECT_ROOT / "book").glob("*.ipynb")),
            *(path.read_text() for path in (PROJECT_ROOT / PIPELINE_NOTEBOOK_DIR).glob("*.ipynb")),
        ]
    )
    cited = set(re.findall(r"\{cite:[pt]\}`([^`]+)`", sources))
    assert set(entries) == cited, f"uncited: {set(entries) - cited}; missing: {cited - set(entries)}"
    assert ":filter: cited" in (PROJECT_ROOT / "book" / "references.md").read_text()
    rolebench, incharacter = entries["wang2024rolellm"], entries["wang2024incharacter"]
    assert str(rolebench.persons["author"][0]) == "Wang, Zekun Moore"
    assert str(incharacter.persons["author"][0]) == "Wang, Xintao"
    assert {rolebench.fields["year"], incharacter.fields["year"]} == {"2024a", "2024b"}
    assert all(
        len(entry.persons["author"]) > 1 and "others" not in str(entry.persons["author"][1])
        for entry in entries.values()
    )  # "Name and others" would render as such
    links = "\n".join((PROJECT_ROOT / "book" / name).read_text() for name in ("intro.md", "references.md"))
    assert "arxiv.org/abs/2512.12775" in links and "github.com/peluz/persistent-personas" in links


# ------------------------------------------------------------------------------------ the tiny run and the book
@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("tiny_run")
    config = load_config(TINY_CONFIG, output_dir=str(run_dir))
    return run_pipeline(config)


@pytest.fixture(scope="session")
def built_book(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_book_sources(PROJECT_ROOT, tmp_path_factory.mktemp("book") / "root")
    assemble_book(tiny_run, root)
    return build_book(root)


@pytest.fixture(scope="session")
def book_run(request: pytest.FixtureRequest) -> Path:
    """The run folder the book under test was built from: ``BOOK_RUN`` if set, else the tiny run."""
    if os.environ.get("BOOK_RUN"):
        return Path(os.environ["BOOK_RUN"]).resolve()
    return request.getfixturevalue("tiny_run")


@pytest.fixture(scope="session")
def html_dir(request: pytest.FixtureRequest) -> Path:
    """The book under test: ``BOOK_HTML`` if set (a book built by ``make book``: ``.ci/run`` checks the pages readers
    get), else the book built here from the tiny run."""
    if os.environ.get("BOOK_HTML"):
        return Path(os.environ["BOOK_HTML"]).resolve()
    return request.getfixturevalue("built_book").parent


@slow
def test_run_folder_records_how_it_was_made(tiny_run: Path) -> None:
    info = json.loads((tiny_run / "run.json").read_text())
    assert set(info["stage_seconds"]) == {stage.name for stage in STAGES}
    assert info["machine"]["cores"] >= 1 and info["machine"]["cpu"]
    assert load_config(tiny_run / "config.yaml").output_dir == str(tiny_run)
    expected = {notebook for stage in STAGES for notebook in stage.notebooks}
    assert {path.name for path in (tiny_run / "notebooks").glob("*.ipynb")} == expected


@slow
def test_executed_notebooks_pass_nbval(tiny_run: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "addopts=",
            str(tiny_run / "notebooks"),
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


def _visible_text(page: Path) -> str:
    """A built page's text without its tags (code is highlighted token by token)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


@slow
@pages
def test_built_html_shows_readers_nothing_meant_for_tests(book_run: Path, html_dir: Path) -> None:
    # The executed notebooks do carry the markers and the plumbing; the pages must not.
    executed = "".join(path.read_text() for path in (book_run / "notebooks").glob("*.ipynb"))
    assert all(LEAKS[what].search(executed) for what in ("an nbval marker", "papermill's injected-parameters cell"))
    pages = sorted(html_dir.rglob("*.html"))
    assert len(pages) >= len(_toc_pages())
    texts = {page.relative_to(html_dir): _visible_text(page) for page in pages}
    texts[Path("searchindex.js")] = (html_dir / "searchindex.js").read_text()
    leaks = [(name, what) for name, text in texts.items() for what, pattern in LEAKS.items() if pattern.search(text)]
    assert not leaks, f"test plumbing shown to readers: {leaks}"
    machine = [
        (name, match.group(0))
        for name, text in texts.items()
        for pattern in (MACHINE_PATHS, LIBRARY_NOISE)
        if (match := pattern.search(text))
    ]
    assert not machine, f"machine paths or library warnings shown to readers: {machine}"
    chapters = sorted((html_dir / BOOK_RUN_DIR).glob("*.html"))
    assert len(chapters) == len({notebook for stage in STAGES for notebook in stage.notebooks})
    for chapter in chapters:
        # What a reader needs to re-run the chapter stays: its one parameter and the code that uses it.
        text = texts[chapter.relative_to(html_dir)]
        assert 'config = "configs/default.yaml"' in text and "Run.for_notebook(config)" in text, chapter.name


def _notebook_leaks(path: Path) -> list[str]:
    """Machine paths and library warnings in a notebook's outputs, and machine paths in its code. The cell papermill
    injects holds the configuration a run was given, its output folder included; the page hides that cell, and a
    run made with ``make book`` has a relative folder there."""
    found = []
    for number, cell in enumerate(nbformat.read(path, as_version=4).cells):
        texts = [] if "injected-parameters" in cell.metadata.get("tags", []) else [cell.source]
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") + output.get("evalue", ""))
            texts += [str(value) for value in output.get("data", {}).values() if isinstance(value, str | list)]
        for text in texts:
            for pattern in (MACHINE_PATHS, LIBRARY_NOISE):
                if match := pattern.search(text):
                    found.append(f"{path.name} cell {number}: {match.group(0)!r}")
    return found


@slow
@pages
def test_downloadable_notebooks_carry_no_machine_paths_or_library_warnings(book_run: Path, html_dir: Path) -> None:
    downloads = sorted((html_dir / "_sources").rglob("*.ipynb"))
    assert {path.name for path in downloads} >= {"teaching.ipynb", "data.ipynb"} | {
        path.name for path in (book_run / "notebooks").glob("*.ipynb")
    }
    leaks = [leak for path in downloads for leak in _notebook_leaks(path)]
    assert not leaks, "\n".join(leaks)


@slow
@pages
def test_every_figure_is_numbered_and_captioned_and_outputs_print_no_markup(html_dir: Path) -> None:
    from bs4 import BeautifulSoup

    problems, figures = [], 0
    for page in sorted(html_dir.rglob("*.html")):
        article = BeautifulSoup(page.read_text(), "html.parser").find("article")
        if article is None:
            continue
        name = page.relative_to(html_dir).as_posix()
        for image in article.find_all("img"):
            figure = image.find_parent("figure")
            caption = figure.find("figcaption") if figure else None
            if caption is None or not re.match(r"Fig\. \d+\.\d+", caption.get_text(" ", strip=True)):
                problems.append(f"{name}: an image without a numbered caption ({image.get('src')})")
            figures += 1
        for output in article.select(".cell_output"):
            if "`" in output.get_text():
                problems.append(f"{name}: a literal backtick in printed output: {output.get_text()[:120]!r}")
    assert figures >= 8 and not problems, "\n".join(problems)


@slow
@pages
def test_results_chapters_download_as_the_notebooks_that_made_them(book_run: Path, html_dir: Path) -> None:
    executed = sorted((book_run / "notebooks").glob("*.ipynb"))
    assert executed
    for source in executed:
        downloaded = html_dir / "_sources" / BOOK_RUN_DIR / source.name
        assert downloaded.is_file(), f"no download for {source.name}"
        book_copy, original = (nbformat.read(path, as_version=4) for path in (downloaded, source))
        assert [cell.source for cell in book_copy.cells] == [cell.source for cell in original.cells]
        assert [cell.get("outputs") for cell in book_copy.cells] == [cell.get("outputs") for cell in original.cells]
        assert "papermill" in book_copy.metadata and any(cell.get("outputs") for cell in book_copy.cells)


@slow
def test_make_publish_pushes_the_built_book_to_a_gh_pages_branch(html_dir: Path, tmp_path: Path) -> None:
    clone, remote = _git_repo_with_bare_remote(tmp_path)
    shutil.copytree(html_dir, clone / "_build" / "html")
    for _attempt in range(2):  # publishing again replaces the branch's content with a new commit
        result = subprocess.run(
            [
                "make",
                "--no-print-directory",
                "-f",
                str(PROJECT_ROOT / "Makefile"),
                "-C",
                str(clone),
                "publish",
                f"BIN={Path(sys.executable).parent}",
                "PUBLISH_REMOTE=origin",
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    published = set(_git(remote, "ls-tree", "-r", "--name-only", "gh-pages").split())
    expected = {"index.html", ".nojekyll"} | {f"{page}.html" for page in _toc_pages()}
    assert expected <= published, f"missing on gh-pages: {expected - published}"
    assert {f"_sources/{BOOK_RUN_DIR.as_posix()}/{stage}" for step in STAGES for stage in step.notebooks} <= published
    assert published == {path.relative_to(html_dir).as_posix() for path in html_dir.rglob("*") if path.is_file()} | {
        ".nojekyll"
    }
    history = _git(remote, "log", "--format=%s", "gh-pages").splitlines()
    head = _git(clone, "rev-parse", "--short", "HEAD").strip()
    assert history == [f"Publish the book built from {head}"] * 2


# ------------------------------------------------------------------------------------------ the reader's check
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def book_url(html_dir: Path):
    """The built book served over HTTP on localhost, as a reader's browser gets it from Pages."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium/chromium-driver missing")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium_profile")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1600",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _browser_errors(driver) -> list[dict]:
    """Uncaught exceptions (source "javascript"), failed loads ("network") and anything MathJax reports. Not
    errors: the theme's own console messages (e.g. no stored light/dark mode) and the browser's request for a
    /favicon.ico at the server's root, which the book does not ask for."""
    return [
        entry
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and (entry["source"] != "console-api" or "MathJax" in entry["message"])
        and not (entry["source"] == "network" and "/favicon.ico " in entry["message"])
    ]


def _wait(driver, script: str, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def _hrefs(driver, selector: str) -> list[str]:
    return driver.execute_script(f"return Array.from(document.querySelectorAll({selector!r})).map(a => a.href)")


def _document_of(url: str, base: str) -> str:
    path = urlparse(url).path[len(urlparse(base).path) :]
    return path.removesuffix(".html")


@slow
@pages
def test_a_reader_follows_the_table_of_contents_through_every_page(browser, book_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in ARTIFACTS.glob("page_*.png"):
        stale.unlink()
    pages = _toc_pages()
    browser.get(book_url)  # index.html sends the reader on to the root document
    _wait(browser, f"return location.pathname.endsWith('/{pages[0]}.html') && document.readyState === 'complete'")
    assert "Persistent Personas" in browser.title
    sidebar = _hrefs(browser, "nav.bd-docs-nav a.reference.internal")
    assert [_document_of(url.split("#")[0], book_url) for url in sidebar] == pages, "sidebar differs from _toc.yml"

    problems: list[str] = []
    next_url = ""
    for number, document in enumerate(pages):
        if number:  # the previous page's "next" link leads here
            browser.get(next_url)
        _wait(browser, "return document.readyState === 'complete'")
        assert _document_of(browser.current_url, book_url) == document
        problems += [f"{document}: {problem}" for problem in _reader_problems(browser, document)]
        _screenshot_whole_page(browser, ARTIFACTS / f"page_{number:02d}_{document.replace('/', '_')}.png")
        problems += [f"{document}: browser error {error}" for error in _browser_errors(browser)]
        next_links = _hrefs(browser, "a.right-next")
        if number + 1 < len(pages):
            assert next_links, f"{document} has no link to the next page"
            next_url = next_links[0]
            assert _document_of(next_url, book_url) == pages[number + 1], f"{document}'s next page is {next_url}"
    assert not problems, "\n".join(problems)


def _screenshot_whole_page(driver, path: Path) -> None:
    """A screenshot of the page from top to bottom (the window grows to the page's height, up to 20,000 px)."""
    width, height = driver.get_window_size()["width"], driver.get_window_size()["height"]
    page_height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(page_height, height), 20_000))
    driver.save_screenshot(str(path))
    driver.set_window_size(width, height)


def _reader_problems(driver, document: str) -> list[str]:
    """What a reader of one page would find wrong: a missing provenance note, a broken image, untypeset math,
    a missing download, launch or repository button."""
    from selenium.common.exceptions import TimeoutException

    problems = []
    page = driver.execute_script("""
        const article = document.querySelector('article');
        return {
            text: article.innerText,
            rowHeads: Array.from(article.querySelectorAll('table tr'))
                .map(row => row.cells.length ? row.cells[0].innerText.trim() : ''),
            outputs: article.querySelectorAll('.cell_output').length,
            math: article.querySelectorAll('.math').length,
            downloads: Array.from(document.querySelectorAll('.dropdown-download-buttons a')).map(a => a.href),
            launches: Array.from(document.querySelectorAll('.dropdown-launch-buttons a')).map(a => a.href),
            repository: Array.from(document.querySelectorAll('a.btn-source-repository-button')).map(a => a.href),
        };
    """)
    if page["outputs"] and not _states_provenance(page):
        problems.append(f"shows computed output but no provenance note (a table or {PROVENANCE_SENTENCE!r})")
    overview = ("Where each chapter", "numbers come from", "Backend and model", "Judge", "Data")
    if document == _toc_pages()[0] and not all(words in page["text"] for words in overview):
        problems.append("the introduction lost its table of where each part's numbers come from")
    images = _wait(
        driver,
        """
        const images = Array.from(document.querySelectorAll('article img'));
        if (!images.every(img => img.complete)) return null;
        return {broken: images.filter(img => img.naturalWidth === 0).map(img => img.src)};
    """,
    )
    problems += [f"image did not load: {src}" for src in images["broken"]]
    if page["math"]:
        try:
            _wait(driver, f"return document.querySelectorAll('article mjx-container').length >= {page['math']}")
        except TimeoutException:
            pass
        typeset = driver.execute_script(
            "return {containers: document.querySelectorAll('article mjx-container').length,"
            " errors: document.querySelectorAll('article mjx-merror').length}"
        )
        if typeset["containers"] < page["math"] or typeset["errors"]:
            problems.append(f"MathJax typeset {typeset} of {page['math']} formulas")
    notebook = document.startswith(RESULTS_PREFIX) or (PROJECT_ROOT / f"{document}.ipynb").is_file()
    suffix = ".ipynb" if notebook else ".md"
    if not any(url.endswith(f"_sources/{document}{suffix}") for url in page["downloads"]):
        problems.append(f"no {suffix} download among {page['downloads']}")
    if notebook:
        problems += _launch_problems(document, page["launches"])
    if page["repository"] != [REPOSITORY_URL]:
        problems.append(f"repository button points to {page['repository']}")
    return problems


def _states_provenance(page: dict) -> bool:
    heads = set(page["rowHeads"])
    return PROVENANCE_SENTENCE in page["text"] or {"model under test", "datasets"} <= heads


def _launch_problems(document: str, launches: list[str]) -> list[str]:
    """Binder, Colab and JupyterHub open the repository's notebook: a results chapter opens the pipeline notebook
    that made it (the executed copy is not in the repository)."""
    if document.startswith(RESULTS_PREFIX):
        document = PIPELINE_NOTEBOOK_DIR.as_posix() + "/" + document.removeprefix(RESULTS_PREFIX)
    in_repository = f"{document}.ipynb"
    assert (PROJECT_ROOT / in_repository).is_file(), in_repository
    owner_repo = urlparse(REPOSITORY_URL).path.strip("/")
    hosts = {urlparse(url).hostname: url for url in launches}
    expected = {  # a JupyterHub button only when a hub is configured: none ships
        urlparse(BOOK_CONFIG["launch_buttons"][key]).hostname
        for key in ("binderhub_url", "colab_url", "jupyterhub_url")
        if key in BOOK_CONFIG["launch_buttons"]
    }
    problems = [f"launch buttons {sorted(hosts)} instead of {sorted(expected)}"] if set(hosts) != expected else []
    for url in launches:
        if in_repository not in url or owner_repo not in url.replace("%2F", "/"):
            problems.append(f"launch link does not open {owner_repo}'s {in_repository}: {url}")
    return problems


@slow
@pages
def test_search_finds_persona_offline(browser, book_url: str) -> None:
    browser.get(urljoin(book_url, "search.html?q=persona"))
    _wait(
        browser,
        """
        const results = document.querySelector('#search-results');
        return results && results.innerText.includes('Search finished');
    """,
        timeout=60,
    )
    hits = _hrefs(browser, "#search-results li a")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "search_persona.png"))
    documents = {_document_of(url.split("?")[0].split("#")[0], book_url) for url in hits}
    assert {"book/intro", "book/protocol", "book/data"} <= documents, documents
    assert not _browser_errors(browser)


@slow
@pages
def test_data_chapter_shows_the_licence_of_the_code_and_every_data_file(html_dir: Path) -> None:
    page = (html_dir / "book" / "data.html").read_text()
    licences = page[page.index("the compendium’s code") :]
    assert licences.index("MIT") < licences.index("LICENSE")
    data = PROJECT_ROOT / "data"
    shipped = [
        path.relative_to(data).as_posix()
        for path in data.rglob("*")
        if path.is_file() and path.parent.name not in {"licenses", "released"} and path.name != "SOURCES.md"
    ]
    assert len(shipped) >= 10
    missing = [name for name in shipped if f'<span class="pre">{name}</span></code>: ' not in licences]
    assert not missing, f"no licence line in the data chapter for {missing}"
    assert "non-commercial research use only" in licences


def test_no_chapter_says_the_judge_scores_were_not_released():
    """The authors released every verdict (metrics/, results/, generations/); no page may say otherwise."""
    sources = [
        *(PROJECT_ROOT / "notebooks").glob("*.ipynb"),
        *(PROJECT_ROOT / "book").rglob("*.md"),
        *(PROJECT_ROOT / "book").glob("*.ipynb"),
    ]
    assert len(sources) > 10
    assert [path.name for path in sources if "not released" in path.read_text(encoding="utf-8")] == []


@pytest.mark.slow
@pages
def test_protocol_page_carries_the_deviation_and_anchor_tables(html_dir: Path) -> None:
    page = (html_dir / "book" / "protocol.html").read_text(encoding="utf-8")
    tables = (
        ("tab-deviations", "Remaining deviations from the study", "Parsing the written verdict"),
        ("tab-anchors", "Likert anchors of the judge", "In character"),
    )
    for table_id, caption, row in tables:
        assert f'id="{table_id}"' in page and caption in page and row in page, table_id


# ------------------------------------------------------------------ the paper's chapters built from a release clone
@slow
def test_the_paper_chapters_built_with_a_release_clone_show_every_figure(
    tiny_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """What `make book AUTHORS_REPO=PATH` runs, on a copy of the tiny run: the reproduce stage with the clone
    (`persona-eval run ... --set authors_repo=PATH`), then `persona-eval book`; every figure of the paper's chapters
    is drawn (none says what it lacks) and all 11 rows of Tables 5 and 6 are computed."""
    from release_clone import build_relaid_clone

    scratch = tmp_path_factory.mktemp("paper_book")
    clone = build_relaid_clone(scratch / "persistent-personas")
    run_dir = scratch / "run"
    shutil.copytree(tiny_run, run_dir)
    cli = [sys.executable, "-m", "persona_lib.cli"]
    run = subprocess.run(
        [*cli, "run", "--config", str(TINY_CONFIG), "--stages", "reproduce", "--out", str(run_dir),
         "--set", f"authors_repo={clone}"],
        capture_output=True, text=True, cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    root = scratch / "book_root"
    copy_book_sources(PROJECT_ROOT, root)
    book = subprocess.run([*cli, "book", "--run", str(run_dir), "--root", str(root)], capture_output=True, text=True)
    assert book.returncode == 0, book.stdout[-3000:] + book.stderr[-3000:]
    built = root / "_build" / "html" / "book" / "run"
    shown = {"paper_results": 8, "paper_models": 7, "reproduction": 2}
    for chapter, figures in shown.items():
        page = (built / f"{chapter}.html").read_text()
        assert page.count("<figcaption") == figures, chapter
        assert "persistent-personas, files " in html.unescape(page), chapter  # the provenance line names the clone
        outputs = [
            str(output.get("text", "")) + str(output.get("data", ""))
            for cell in nbformat.read(run_dir / "notebooks" / f"{chapter}.ipynb", as_version=4).cells
            for output in cell.get("outputs", [])
        ]
        assert not [text for text in outputs if "Not drawn from" in text or "Needs the authors" in text], chapter
    assert "rows computed: 11 of 11" in (built / "reproduction.html").read_text()


# --------------------------------------------------------------------------------------------- the student edition
def test_the_student_teaching_chapter_keeps_every_exercise_and_no_solution() -> None:
    from persona_lib.book import TEACHING_CHAPTER, student_notebook

    full = nbformat.read(PROJECT_ROOT / TEACHING_CHAPTER, as_version=4)
    student = student_notebook(full)
    headings = [cell.source.split("\n", 1)[0] for cell in full.cells if cell.source.startswith("## Exercise")]
    assert len(headings) == 8
    assert [
        cell.source.split("\n", 1)[0] for cell in student.cells if cell.source.startswith("## Exercise")
    ] == headings
    assert not [cell for cell in student.cells if "Discussion of the solution" in cell.source]
    solutions = [cell for cell in full.cells if "hide-cell" in cell.metadata.get("tags", [])]
    assert len(solutions) == 7 and not [cell for cell in student.cells if cell in solutions]
    assert "student edition" in student.cells[1].source


@slow
def test_make_book_student_builds_the_book_without_solutions(tiny_run: Path, tmp_path: Path) -> None:
    from persona_lib.book import build_student_book

    root = tmp_path / "root"
    copy_book_sources(PROJECT_ROOT, root)
    index = build_student_book(tiny_run, root)
    page = html.unescape((index.parent / "book" / "teaching.html").read_text())
    assert page.count("Exercise ") >= 8 and "Discussion of the solution" not in page
    assert "student edition" in page and "quiz_folder" not in page  # exercise 2's solution code is gone


def test_the_class_plan_gives_each_exercise_the_time_its_own_line_states() -> None:
    cells = nbformat.read(PROJECT_ROOT / "book" / "teaching.ipynb", as_version=4).cells
    (plan,) = [cell.source for cell in cells if cell.source.startswith("## A class plan")]
    stated = {
        int(number): int(minutes)
        for cell in cells
        for number, minutes in re.findall(r"^## Exercise (\d+):.*?\n\n\*Time: (\d+) minutes", cell.source, re.DOTALL)
    }
    planned = {int(number): int(minutes) for number, minutes in re.findall(r"Exercise (\d)\s+\((\d+) minutes", plan)}
    assert planned == stated and sorted(planned) == list(range(1, 9))
    session = [1, 2, 5]
    assert 10 + sum(stated[number] for number in session) + 5 == 90  # the session's parts add up to 90 minutes


def test_kappa_is_explained_where_a_reader_first_meets_it() -> None:
    for page in _toc_pages():
        text = _chapter_sources(page)
        if "κ" in text:
            first = text.index("κ")
            assert "Cohen's kappa" in text[first : first + 200], page
            break
    else:
        pytest.fail("no chapter mentions κ")
