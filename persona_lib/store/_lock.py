"""One run at a time per run folder: a lock file naming the process that holds it.

``persona-eval run`` (:func:`persona_lib.pipeline.run_pipeline`) holds ``<run folder>/run.lock`` while it runs. The
file records the holder's process id, host, start time and command. A second run on the same folder is refused with
a message naming the holder. A lock left behind by a run that was killed (even with ``SIGKILL``) does not stay in
the way: when its process is gone on this host — or its process id now belongs to a different process — the lock is
stale and the next run takes it over. A lock taken on another host cannot be checked from here; the message says how
to remove it (or ``persona-eval run --force`` takes it over).

The lock file is created complete and atomically (written under a temporary name, then hard-linked into place, which
fails if the lock exists), so a reader never sees a half-written lock.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

LOCK_NAME = "run.lock"


@dataclass(frozen=True)
class LockHolder:
    """Who holds a run folder's lock.

    Attributes:
        pid: Process id of the holder.
        host: Host name of the holder's machine.
        started: When the lock was taken (ISO time with zone).
        command: The holder's command line.
        process_start: The kernel's start time of ``pid`` (Linux ``/proc``), to tell a reused process id apart.
        token: Unique id of this lock, so a holder only ever removes its own lock.
    """

    pid: int
    host: str
    started: str
    command: str
    process_start: str | None
    token: str

    def describe(self) -> str:
        """E.g. ``pid 123 on host gpu-1, started 2026-05-09T10:00:00+00:00 (persona-eval run ...)``."""
        return f"pid {self.pid} on host {self.host}, started {self.started} ({self.command})"


class RunLockedError(RuntimeError):
    """Another run holds the run folder's lock; the message names it and says what to do.

    Attributes:
        holder: The holder, or ``None`` when the lock file is unreadable.
    """

    def __init__(self, message: str, holder: LockHolder | None) -> None:
        self.holder = holder
        super().__init__(message)


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` in clock ticks since boot (Linux), or ``None`` when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the command name may contain spaces; it ends at the last ')'
    return fields[19] if len(fields) > 19 else None  # field 22 of stat(5); fields[0] is field 3


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def lock_path(folder: str | Path) -> Path:
    """The lock file of a run folder."""
    return Path(folder) / LOCK_NAME


def read_lock(folder: str | Path) -> LockHolder | None:
    """The holder recorded in a run folder's lock, or ``None`` when there is no lock.

    Raises:
        RunLockedError: when a lock file exists but cannot be read (edited or damaged by hand).
    """
    path = lock_path(folder)
    try:
        data = json.loads(path.read_text())
        return LockHolder(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        raise RunLockedError(
            f"{path} exists but is not a lock this library wrote; if no run is using {Path(folder)}, delete {path}",
            None,
        ) from None


def is_stale(holder: LockHolder) -> bool:
    """True when the holder is certainly gone: same host, and its process has exited or its id was reused."""
    if holder.host != socket.gethostname():
        return False
    if not _pid_alive(holder.pid):
        return True
    return holder.process_start is not None and _process_start(holder.pid) not in (None, holder.process_start)


def locked_message(folder: str | Path, holder: LockHolder) -> str:
    """Why a run cannot start in ``folder`` while ``holder`` holds its lock, and what to do."""
    path = lock_path(folder)
    where = "on this host" if holder.host == socket.gethostname() else f"on another host ({holder.host})"
    return (
        f"run folder {Path(folder)} is in use by another run ({holder.describe()}), which is running {where}. Wait "
        f"for it to finish, or use another output folder (--out). If you are sure that run is gone, delete {path} "
        "or start with `persona-eval run --force`"
    )


class RunLock:
    """The lock of one run folder, held for the life of a run (use it as a context manager).

    Args:
        folder: The run folder (created if needed).
        force: Take the lock over even when its holder looks alive or runs on another host.
    """

    def __init__(self, folder: str | Path, force: bool = False) -> None:
        self.folder = Path(folder)
        self.path = lock_path(folder)
        self.force = force
        self.holder: LockHolder | None = None

    def acquire(self) -> LockHolder:
        """Take the lock, clearing a stale one (or any one with ``force``).

        Returns:
            The lock as written (this process).

        Raises:
            RunLockedError: when another live run holds the lock (or a holder on another host might be live).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        mine = LockHolder(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
            command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python",
            process_start=_process_start(os.getpid()),
            token=uuid.uuid4().hex,
        )
        for _ in range(5):
            if self._create(mine):
                self.holder = mine
                return mine
            try:
                holder = read_lock(self.folder)
            except RunLockedError:
                if not self.force:
                    raise
                holder = None
            if holder is not None and not self.force and not is_stale(holder):
                raise RunLockedError(locked_message(self.folder, holder), holder)
            self._remove(holder)
        raise RunLockedError(f"could not take {self.path}: other runs keep taking it; try again", None)

    def release(self) -> None:
        """Give the lock up (only if it is still this lock: a forced takeover is left alone)."""
        if self.holder is None:
            return
        try:
            current = read_lock(self.folder)
        except RunLockedError:
            current = None
        if current is not None and current.token == self.holder.token:
            self.path.unlink(missing_ok=True)
        self.holder = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()

    def _create(self, holder: LockHolder) -> bool:
        staging = self.path.with_name(f"{LOCK_NAME}.{holder.token}.tmp")
        staging.write_text(json.dumps(asdict(holder), indent=2))
        try:
            os.link(staging, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            staging.unlink(missing_ok=True)

    def _remove(self, judged: LockHolder | None) -> None:
        """Remove the lock judged stale, unless another run replaced it in the meantime."""
        aside = self.path.with_name(f"{LOCK_NAME}.{uuid.uuid4().hex}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            moved = LockHolder(**json.loads(aside.read_text()))
        except (OSError, ValueError, TypeError):
            moved = None
        if judged is not None and moved is not None and moved.token != judged.token:
            try:  # a fresh lock slipped in between: put it back
                os.link(aside, self.path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)
