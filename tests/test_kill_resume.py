"""Kill a generation run with SIGKILL mid-way, resume it, and check nothing is lost or duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from study_workers import stored_rows

from persona_lib.backends import ScriptedBackend
from persona_lib.config import RunConfig
from persona_lib.generation import generate_benchmarks, generate_dialogues
from persona_lib.store import ResponseStore

TESTS_DIR = Path(__file__).resolve().parent
CONFIG = {
    "personas": ["Gaston", "HAL 9000"],
    "n_rounds": 6,
    "checkpoints": [0, 3, 6],
    "shuffled_replicate": True,
    "datasets": ["bfi", "xstest"],
    "item_limit": {"bfi": 4, "xstest": 4},
}
BATCH_SIZE = 3

CHILD = textwrap.dedent(
    """
    import sys
    from persona_lib.backends import ScriptedBackend
    from persona_lib.config import RunConfig
    from persona_lib.generation import generate_benchmarks, generate_dialogues
    from persona_lib.store import ResponseStore

    config = RunConfig(**{config!r})
    store = ResponseStore(sys.argv[1])
    backend = ScriptedBackend(delay_per_batch=float(sys.argv[2]))
    dialogues = generate_dialogues(config, backend, store)
    generate_benchmarks(config, backend, store, dialogues=dialogues, batch_size={batch_size})
    """
).format(config=CONFIG, batch_size=BATCH_SIZE)


def _run(store: ResponseStore, backend: ScriptedBackend) -> None:
    config = RunConfig(**CONFIG)
    dialogues = generate_dialogues(config, backend, store)
    generate_benchmarks(config, backend, store, dialogues=dialogues, batch_size=BATCH_SIZE)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    store = ResponseStore(tmp_path_factory.mktemp("reference") / "responses.sqlite")
    _run(store, ScriptedBackend())
    table = store.to_dataframe()
    return dict(zip(table["key"], table["text"]))


@pytest.mark.parametrize("kill_after_rows", [25, 110], ids=["during-dialogues", "during-benchmarks"])
def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path, reference, kill_after_rows):
    path = tmp_path / "responses.sqlite"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), "0.03"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while stored_rows(path) < kill_after_rows:
            assert child.poll() is None, f"child ended before the kill: {child.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "child made no progress"
            time.sleep(0.01)
        time.sleep((kill_after_rows % 7) * 0.01)  # land at a different point within a batch
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    rows_after_kill = stored_rows(path)
    assert kill_after_rows <= rows_after_kill < len(reference)

    store = ResponseStore(path)
    resumed = ScriptedBackend()
    _run(store, resumed)
    assert len(resumed.seen) == len(reference) - rows_after_kill  # nothing stored is sent again

    table = store.to_dataframe()
    texts = dict(zip(table["key"], table["text"]))
    assert len(store) == len(reference) == len(texts)
    assert set(texts) == set(reference)
    assert texts == reference
    assert set(table["finish_reason"]) == {"stop"}
