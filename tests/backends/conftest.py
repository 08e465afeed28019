"""Shared fixtures for the backend tests: one loaded model per backend per session.

Every backend serves the bundled SmolLM2-135M-Instruct with a 256-token context, so context overflows are cheap
to provoke. The openai backend talks to vLLM's own OpenAI-compatible server (the ``vllm_server`` fixture of
``tests/conftest.py``). ``openai_test_server.py``, a hand-written server answering with the same model, is kept only
for what a real server will not do on demand: fail with 429/500/503 a given number of times, and report what it
received (the request's fields, the SHA-256 of the key).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from persona_lib.config import ModelConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

CONTEXT = 256
SERVER_SCRIPT = Path(__file__).with_name("openai_test_server.py")


@pytest.fixture(scope="session")
def bundled_dir() -> Path:
    """The converted bundled model folder (converted on first use)."""
    from persona_lib.backends import prepare_bundled_model

    return prepare_bundled_model()


@pytest.fixture(scope="session")
def bundled_tokenizer(bundled_dir):
    """The bundled model's tokenizer."""
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(bundled_dir)


@pytest.fixture(scope="session")
def transformers_backend(bundled_dir):
    """The transformers backend on the bundled model (loaded once per session)."""
    pytest.importorskip("torch")
    from persona_lib.backends import create_backend

    return create_backend(ModelConfig(backend="transformers", max_model_len=CONTEXT, batch_size=4))


@pytest.fixture(scope="session")
def vllm_backend(bundled_dir):
    """The vLLM backend on the bundled model; eager mode (torch.compile would add ~2 minutes on 2 cores)."""
    pytest.importorskip("vllm")
    from persona_lib.backends import create_backend

    backend = create_backend(ModelConfig(backend="vllm", max_model_len=CONTEXT, extra={"enforce_eager": True}))
    yield backend
    backend.close()


class FaultServer:
    """A running ``openai_test_server.py`` subprocess (faults on demand; what it received)."""

    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process = process
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def _call(self, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def fail_next(self, statuses: list[int]) -> None:
        """Answer the next chat requests with these HTTP statuses (and reset the counters)."""
        self._call("/control", {"fail_next": statuses})

    def stats(self) -> dict:
        """``{"requests": n, "injected_failures": k}`` since the last :meth:`fail_next`."""
        return self._call("/stats")

    def key_digests(self) -> list[str]:
        """SHA-256 of every API key the server has received (the server never keeps the keys themselves)."""
        return self._call("/keys")["api_key_sha256"]


def _read_ready_port(process: subprocess.Popen, timeout: float) -> int:
    found: dict[str, int] = {}

    def read() -> None:
        for line in process.stdout:
            if line.startswith("READY "):
                found["port"] = int(line.split()[1])
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if "port" not in found:
        process.kill()
        raise RuntimeError(f"openai_test_server.py did not report READY within {timeout} s")
    return found["port"]


@pytest.fixture(scope="session")
def fault_server(bundled_dir):
    """The hand-written OpenAI-compatible server, health-checked; terminated at the end of the session. Only for
    injected failures and for what the server received: everything else runs against ``vllm_server``."""
    pytest.importorskip("openai")
    pytest.importorskip("torch")
    process = subprocess.Popen(
        # float32, so its log-probabilities can be checked against a local computation on any CPU: bfloat16
        # rounding differs between kernel paths (batched, prefix-reused) and between CPUs.
        [sys.executable, str(SERVER_SCRIPT), "--port", "0", "--max-model-len", str(CONTEXT), "--dtype", "float32"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        server = FaultServer(process, _read_ready_port(process, timeout=120))
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def openai_config(base_url: str, max_concurrency: int = 4, **extra) -> ModelConfig:
    """An openai-backend config for a test server with fast retries; ``extra`` overrides the retry settings."""
    settings = {"max_retries": 3, "retry_base_delay": 0.01, "retry_max_delay": 0.05, "timeout": 60} | extra
    return ModelConfig(
        backend="openai",
        model="SmolLM2-135M-Instruct",
        base_url=base_url,
        max_concurrency=max_concurrency,
        extra=settings,
    )


@pytest.fixture(scope="session")
def context_length() -> int:
    """The context every test backend is configured with."""
    return CONTEXT


@pytest.fixture(scope="session")
def make_openai_config():
    """``make_openai_config(base_url, max_concurrency=4, **extra)``: an openai-backend config, fast retries."""
    return openai_config


@pytest.fixture(scope="session")
def openai_backend(vllm_server):
    """The openai backend pointed at vLLM's own OpenAI-compatible server."""
    from persona_lib.backends import create_backend

    assert vllm_server.context == CONTEXT and vllm_server.model == "SmolLM2-135M-Instruct"
    return create_backend(openai_config(vllm_server.base_url))


@pytest.fixture(
    params=[
        pytest.param("transformers", marks=pytest.mark.slow),
        pytest.param("openai", marks=pytest.mark.slow),
        pytest.param("vllm", marks=pytest.mark.vllm),
    ]
)
def backend(request):
    """Each backend available in this environment, in turn."""
    return request.getfixturevalue(f"{request.param}_backend")
