"""Kill ``persona-eval run`` itself — its whole process group, CLI and notebook kernel — then run it again.

The CLI holds the run folder's lock while a papermill kernel (a process of its own session) writes to the store.
After a ``SIGKILL`` of the CLI's process group during generation, and another during scoring, the kernel must stop
too (ipykernel leaves when its parent dies), the next run must take the dead run's lock over by itself, and its
tables must equal those of a run never interrupted, row for row, with no lock left behind. The scripted backend
with a delay per batch keeps each stage long enough to be killed in the middle.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from persona_lib.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow

SCRIPTED = {"backend": "scripted", "extra": {"delay_per_batch": 0.3}}
CONFIG = {
    "name": "killed",
    "model": {**SCRIPTED, "model": "scripted-model"},
    "judge": {**SCRIPTED, "model": "scripted-judge"},
    "judging": {"mode": "both"},
    "personas": ["Gaston", "HAL 9000"],
    "include_baseline": True,
    "dialogue_kinds": ["persona_directed", "goal_oriented"],
    "n_rounds": 6,
    "shuffled_replicate": True,
    "checkpoints": [0, 3, 6],
    "datasets": ["fidelity", "bfi", "rolebench_specific", "ifbench", "xstest"],
    "item_limit": {"bfi": 3, "rolebench_specific": 2, "ifbench": 3, "xstest": 3},
}
STAGES = "generate,score"


def _command(config: Path) -> list[str]:
    return [sys.executable, "-m", "persona_lib.cli", "run", "--config", str(config), "--stages", STAGES]


def _config(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "output_dir": str(tmp_path / name)}))
    return path


def _rows(store: Path, stages: tuple[str, ...]) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=5) as db:
            marks = ",".join("?" * len(stages))
            query = f"SELECT COUNT(DISTINCT key) FROM tags WHERE stage IN ({marks})"
            return db.execute(query, stages).fetchone()[0]
    except sqlite3.Error:
        return 0


def _kernels_of(pid: int) -> list[int]:
    """Processes started for the CLI ``pid`` by jupyter_client (their ``JPY_PARENT_PID``), in any session."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"JPY_PARENT_PID={pid}".encode() in environment:
            found.append(int(entry.name))
    return found


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _tables(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*.csv"))}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, bytes]:
    tmp_path = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run(_command(_config(tmp_path, "run")), check=True, capture_output=True, cwd=PROJECT_ROOT, timeout=900)
    tables = _tables(tmp_path / "run")
    assert {"scores.csv"} <= set(tables)
    return tables


@pytest.mark.parametrize(
    ("moment", "stages", "rows"),
    [("generation", ("dialogue", "benchmark"), 40), ("scoring", ("judge",), 60)],
    ids=["during-generation", "during-scoring"],
)
def test_a_killed_command_line_resumes_to_the_same_tables(tmp_path, uninterrupted, moment, stages, rows):
    config = _config(tmp_path, "run")
    folder = tmp_path / "run"
    cli = subprocess.Popen(
        _command(config),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the CLI leads its own process group, as a shell job does
    )
    deadline = time.monotonic() + 600
    while _rows(folder / "responses.sqlite", stages) < rows:
        assert cli.poll() is None, f"the run finished before it could be killed during {moment}"
        assert time.monotonic() < deadline, f"no {moment} rows after 600 s"
        time.sleep(0.2)
    kernels = _kernels_of(cli.pid)
    assert kernels, "no notebook kernel found running for the CLI"
    os.killpg(cli.pid, signal.SIGKILL)
    cli.wait()

    assert (folder / "run.lock").exists()  # the killed run could not remove its lock
    deadline = time.monotonic() + 30
    while _alive(kernels):  # the kernel is in a session of its own: it leaves when it sees its parent gone
        assert time.monotonic() < deadline, f"kernel processes {_alive(kernels)} outlived the killed CLI by 30 s"
        time.sleep(0.5)

    again = subprocess.run(_command(config), capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=900)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert not (folder / "run.lock").exists()
    tables = _tables(folder)
    assert set(tables) == set(uninterrupted)
    assert [name for name in tables if tables[name] != uninterrupted[name]] == []
