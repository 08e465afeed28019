"""What every test shares: a skip is a failure under ``CI=true``; a small RAM disk that can fill up or turn read-only.

Locally a test whose component is missing (Chromium, vLLM, Ray, the official IFBench code, a tmpfs mount) is skipped
with the reason. Under ``CI=true`` nothing may pass by being skipped: such a test fails, naming what is missing, so a
CI machine that lacks a component cannot look green.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``CI=true`` a skipped test fails instead (an expected failure, ``xfail``, stays what it is)."""
    outcome = yield
    report = outcome.get_result()
    if _ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every component must be installed: {_skip_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """Under ``CI=true`` a test module skipped as a whole (a missing import at its top) fails instead."""
    outcome = yield
    report = outcome.get_result()
    if _ci() and report.skipped:
        report.outcome = "failed"
        report.longrepr = (
            f"module skipped under CI=true, where every component must be installed: {_skip_reason(report)}"
        )


class Tmpfs:
    """A tmpfs mounted on a folder (needs root and the permission to mount, as in this project's containers).

    Attributes:
        path: The mount point.
    """

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        self._mount("-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path))

    @staticmethod
    def _mount(*args: str) -> None:
        result = subprocess.run(["mount", *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise OSError(result.stderr.strip() or f"mount {' '.join(args)} failed")

    def remount(self, options: str) -> None:
        """Change the mount's options, e.g. ``ro``, ``rw`` or ``size=64m`` (files stay)."""
        self._mount("-o", f"remount,{options}", str(self.path))

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(size)`` mounts a RAM disk of that size (e.g. ``"400k"``) and returns it; skipped without permission."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Tmpfs] = []

    def mount(size: str) -> Tmpfs:
        folder = tmp_path / f"tmpfs{len(mounted)}"
        folder.mkdir()
        try:
            mounted.append(Tmpfs(folder, size))
        except OSError as err:
            pytest.skip(f"cannot mount a tmpfs here: {err}")
        return mounted[-1]

    yield mount
    for disk in mounted:
        disk.unmount()
