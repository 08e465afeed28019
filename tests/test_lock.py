"""One run per run folder: a second run is refused, a killed run's lock is taken over, --force overrides."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from dataclasses import asdict, replace

import pytest
import yaml

from persona_lib.cli import main
from persona_lib.paths import PROJECT_ROOT
from persona_lib.store import RunLock, RunLockedError, read_lock
from persona_lib.store._lock import LockHolder, is_stale, lock_path

HOLDER = textwrap.dedent(
    """
    import sys, time
    from persona_lib.store import RunLock
    lock = RunLock(sys.argv[1])
    lock.acquire()
    print("LOCKED", flush=True)
    time.sleep(120)
    """
)


@pytest.fixture
def holder_process(tmp_path):
    """A separate process holding the lock of ``tmp_path / 'run'`` (killed at the end)."""
    folder = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "LOCKED"
    yield folder, process
    if process.poll() is None:
        process.kill()
    process.wait()


def _fake_holder(**changes) -> LockHolder:
    base = LockHolder(
        pid=os.getpid(),
        host=socket.gethostname(),
        started="2026-01-01T00:00:00+00:00",
        command="persona-eval run --config x.yaml",
        process_start=None,
        token="other",
    )
    return replace(base, **changes)


def _dead_pid() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(finished.stdout)


def test_a_second_run_is_refused_while_the_first_holds_the_lock(holder_process):
    folder, process = holder_process
    holder = read_lock(folder)
    assert (holder.pid, holder.host) == (process.pid, socket.gethostname())
    assert holder.command.startswith("-c")
    with pytest.raises(RunLockedError) as refused:
        RunLock(folder).acquire()
    message = str(refused.value)
    assert f"in use by another run (pid {process.pid} on host {socket.gethostname()}, started " in message
    assert str(lock_path(folder)) in message and "--force" in message
    assert refused.value.holder == holder


def test_a_sigkilled_run_does_not_leave_the_folder_locked(holder_process):
    folder, process = holder_process
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert read_lock(folder).pid == process.pid  # the lock file is still there...
    assert is_stale(read_lock(folder))
    with RunLock(folder) as lock:  # ...but the next run takes it over
        assert read_lock(folder).pid == os.getpid()
        assert lock.holder.token == read_lock(folder).token
    assert not lock_path(folder).exists()


def test_stale_when_the_process_id_was_reused(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    reused = _fake_holder(process_start="1")  # this process is alive, but it did not start at tick 1
    lock_path(folder).write_text(json.dumps(asdict(reused)))
    assert is_stale(reused)
    with RunLock(folder):
        assert read_lock(folder).pid == os.getpid()


def test_another_host_is_never_presumed_dead_but_force_takes_over(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    remote = _fake_holder(pid=_dead_pid(), host="gpu-node-7")
    lock_path(folder).write_text(json.dumps(asdict(remote)))
    with pytest.raises(RunLockedError, match="running on another host \\(gpu-node-7\\)"):
        RunLock(folder).acquire()
    with RunLock(folder, force=True):
        assert read_lock(folder).host == socket.gethostname()


def test_an_unreadable_lock_is_reported_and_force_replaces_it(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    lock_path(folder).write_text("not json")
    with pytest.raises(RunLockedError, match="is not a lock this library wrote"):
        RunLock(folder).acquire()
    with RunLock(folder, force=True):
        assert read_lock(folder).pid == os.getpid()


def test_release_leaves_a_lock_taken_over_by_force_alone(tmp_path):
    folder = tmp_path / "run"
    first = RunLock(folder)
    first.acquire()
    second = RunLock(folder, force=True)
    second.acquire()
    first.release()
    assert read_lock(folder).token == second.holder.token
    second.release()
    assert read_lock(folder) is None


def test_persona_eval_run_refuses_a_folder_in_use_and_names_the_holder(holder_process, capsys):
    folder, process = holder_process
    config = yaml.safe_load((PROJECT_ROOT / "tests" / "configs" / "scripted.yaml").read_text())
    config_path = folder.parent / "scripted.yaml"
    config_path.write_text(yaml.safe_dump({**config, "output_dir": str(folder)}))
    assert main(["run", "--config", str(config_path)]) == 2
    error = capsys.readouterr().err
    assert f"the folder is in use by another run (pid {process.pid} on host" in error
    assert "--force" in error
    assert not (folder / "notebooks").exists()
