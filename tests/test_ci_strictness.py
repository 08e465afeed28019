"""Under ``CI=true`` a test cannot pass by being skipped (``tests/conftest.py``); locally it is skipped as usual."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SKIPPING = """
import pytest

def test_needs_a_browser():
    pytest.skip("Debian chromium/chromium-driver missing")

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
"""
SKIPPED_MODULE = (
    'import pytest\nnothing = pytest.importorskip("a_module_nobody_installed")\n\ndef test_x():\n    pass\n'
)


def _pytest(folder: Path, ci: str | None, target: str = ".") -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfs", target],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=120,
    )


def test_a_skip_fails_under_ci_and_stays_a_skip_locally(tmp_path):
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    (tmp_path / "test_skipped_module.py").write_text(SKIPPED_MODULE)
    local = _pytest(tmp_path, None)
    assert local.returncode == 0 and "2 skipped, 1 xfailed" in local.stdout, local.stdout
    ci = _pytest(tmp_path, "true", "test_skipping.py")
    assert ci.returncode == 1, ci.stdout
    assert "skipped under CI=true, where every component must be installed: Debian chromium" in ci.stdout
    assert "1 failed, 1 xfailed" in ci.stdout  # an expected failure is not a skip
    ci_module = _pytest(tmp_path, "true", "test_skipped_module.py")
    assert ci_module.returncode == 2, ci_module.stdout  # pytest's code for an error while collecting
    assert "module skipped under CI=true" in ci_module.stdout and "a_module_nobody_installed" in ci_module.stdout
