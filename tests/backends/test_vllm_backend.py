"""vLLM-specific behaviour: the derived context length and the engine rebuilt when work outgrows it.

Run in the vllm environment: ``.venv-vllm/bin/python -m pytest -m vllm tests/backends``.
"""

from __future__ import annotations

import pytest

from persona_lib.backends import SamplingParams, create_backend
from persona_lib.config import ModelConfig

pytestmark = pytest.mark.vllm


def test_derived_context_grows_with_the_work(vllm_backend, bundled_dir):
    vllm_backend.close()  # one engine at a time on a small machine; the shared one restarts when next used
    backend = create_backend(
        ModelConfig(backend="vllm", extra={"enforce_eager": True, "max_model_len_granularity": 256})
    )
    try:
        question = [{"role": "user", "content": "What is the capital of France?"}]
        (short,) = backend.generate([question], SamplingParams(max_new_tokens=16))
        assert short.ok and "Paris" in short.text
        assert backend.max_model_len == 256  # derived from the work, not the model's 8192

        long_question = [{"role": "user", "content": "Summarise: " + "the sea is calm today. " * 50}]
        (long,) = backend.generate([long_question], SamplingParams(max_new_tokens=16))
        assert long.ok and long.prompt_tokens > 256
        assert backend.max_model_len == 512  # the engine was rebuilt larger
        assert backend.version_info()["max_model_len"] == "512"
    finally:
        backend.close()
