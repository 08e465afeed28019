"""Build a backend from a :class:`~persona_lib.config.ModelConfig`, importing heavy libraries only then."""

from __future__ import annotations

from persona_lib.contract import Backend
from persona_lib.config import ModelConfig


def create_backend(config: ModelConfig) -> Backend:
    """The backend ``config.backend`` names, set up for ``config.model``.

    torch/transformers, vllm and openai are imported here, not when ``persona_lib.backends`` is imported.

    Args:
        config: The model configuration (``transformers``, ``vllm``, ``openai``, or ``scripted`` for tests).

    Raises:
        ImportError: naming the extra to install when the backend's library is missing.
        ValueError: for an unknown backend name.
    """
    if config.backend == "transformers":
        _require("transformers", "pip install -e '.[local]'")
        from persona_lib.backends._transformers import TransformersBackend

        return TransformersBackend(config)
    if config.backend == "vllm":
        _require("vllm", "use the .venv-vllm environment (`make setup-vllm`)")
        from persona_lib.backends._vllm import VLLMBackend

        return VLLMBackend(config)
    if config.backend == "openai":
        _require("openai", "pip install -e '.[openai]'")
        from persona_lib.backends._openai import OpenAIBackend

        return OpenAIBackend(config)
    if config.backend == "scripted":
        from persona_lib.backends._scripted import ScriptedBackend

        return ScriptedBackend.from_config(config)
    raise ValueError(f"unknown backend {config.backend!r}; use 'transformers', 'vllm', 'openai' or 'scripted'")


def _require(module: str, fix: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ImportError(f"the {module!r} backend needs the {module} package, which is not installed: {fix}")
