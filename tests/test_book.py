"""End to end: the pipeline notebooks on a tiny configuration, nbval over them, the book built and opened in
headless Chromium.

The tiny run uses the real bundled model (SmolLM2-135M-Instruct via transformers on CPU) with a handful of rounds
and items, so the whole module takes a few minutes. Screenshots are kept in ``test-artifacts/``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from persona_lib.book import assemble_book, build_book
from persona_lib.config import load_config
from persona_lib.paths import PROJECT_ROOT
from persona_lib.pipeline import STAGES, run_pipeline

pytestmark = pytest.mark.slow

TINY_CONFIG = PROJECT_ROOT / "tests" / "configs" / "tiny.yaml"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("tiny_run")
    config = load_config(TINY_CONFIG, output_dir=str(run_dir))
    return run_pipeline(config)


@pytest.fixture(scope="session")
def built_book(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("book_root")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(PROJECT_ROOT / name, root / name)
    shutil.copytree(PROJECT_ROOT / "book", root / "book", ignore=shutil.ignore_patterns("run", "_build"))
    shutil.copytree(PROJECT_ROOT / "_assets", root / "_assets")
    assemble_book(tiny_run, root)
    return build_book(root)


def test_run_folder_records_how_it_was_made(tiny_run: Path) -> None:
    info = json.loads((tiny_run / "run.json").read_text())
    assert set(info["stage_seconds"]) == {stage.name for stage in STAGES}
    assert load_config(tiny_run / "config.yaml").output_dir == str(tiny_run)
    expected = {notebook for stage in STAGES for notebook in stage.notebooks}
    assert {path.name for path in (tiny_run / "notebooks").glob("*.ipynb")} == expected


def test_executed_notebooks_pass_nbval(tiny_run: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", "-o", "addopts=",
         str(tiny_run / "notebooks")],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


@pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()), reason="Debian chromium/chromium-driver missing")
def test_book_renders_in_headless_chromium(built_book: Path, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1600", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        driver.get(built_book.as_uri())
        assert "Persistent Personas" in driver.title
        driver.save_screenshot(str(ARTIFACTS / "book_index.png"))

        protocol = built_book.parent / "book" / "protocol.html"
        driver.get(protocol.as_uri())
        typeset = driver.execute_script("return document.querySelectorAll('mjx-container').length")
        assert typeset > 0, "MathJax did not typeset the protocol chapter's equations"

        results = built_book.parent / "book" / "run" / "04_analysis.html"
        driver.get(results.as_uri())
        widths = driver.execute_script(
            "return Array.from(document.images).filter(img => img.complete).map(img => img.naturalWidth)"
        )
        assert any(width > 0 for width in widths), f"no figure image loaded on {results.name}: {widths}"
        driver.save_screenshot(str(ARTIFACTS / "book_results.png"))

        # Uncaught exceptions (source "javascript"), failed loads ("network") and anything MathJax reports fail the
        # test; the theme's own console messages (e.g. no stored light/dark mode under file://) do not.
        errors = [
            entry for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and (entry["source"] != "console-api" or "MathJax" in entry["message"])
        ]
        assert not errors, f"browser errors: {errors}"
    finally:
        driver.quit()
