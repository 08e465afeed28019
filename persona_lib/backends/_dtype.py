"""Run-time choice of the weight dtype for the local backends (``model.dtype: auto``).

On CPU, bfloat16 is only fast where the processor computes it natively (x86 ``avx512_bf16`` or ``amx_bf16``);
elsewhere torch emulates it and it is about 3x slower than float32 (measured on one of this project's 2-core Xeon
machines without those flags, see ``benchmarks/kv_reuse.py``). On CUDA, bfloat16 where the GPU supports it, else
float16. An explicit dtype is used as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""x86 CPU flags (``/proc/cpuinfo``) that mean bfloat16 matrix products run in hardware."""

EXPLICIT_DTYPES = ("float32", "bfloat16", "float16")

CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class DtypeChoice:
    """The weight dtype a backend loads the model in, and why.

    Attributes:
        dtype: ``float32``, ``bfloat16`` or ``float16`` (a ``torch`` dtype name).
        reason: One human-readable sentence, recorded in the backend's ``version_info()``.
    """

    dtype: str
    reason: str


def _cpuinfo_values(field: str, cpuinfo_text: str | None) -> list[str] | None:
    """Every value of ``field`` in ``/proc/cpuinfo`` (one per core); ``None`` when the file cannot be read."""
    if cpuinfo_text is None:
        try:
            cpuinfo_text = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    values = []
    for line in cpuinfo_text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == field:
            values.append(value.strip())
    return values


def cpu_flags(cpuinfo_text: str | None = None) -> set[str]:
    """The CPU feature flags listed in ``/proc/cpuinfo`` (empty where that file does not exist).

    Args:
        cpuinfo_text: The text of ``/proc/cpuinfo``; ``None`` reads the file.
    """
    return {flag for value in _cpuinfo_values("flags", cpuinfo_text) or [] for flag in value.split()}


def cpu_model(cpuinfo_text: str | None = None) -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` where that file does not exist).

    Args:
        cpuinfo_text: The text of ``/proc/cpuinfo``; ``None`` reads the file.
    """
    import platform

    names = _cpuinfo_values("model name", cpuinfo_text)
    return names[0] if names else (platform.processor() or "unknown CPU")


def machine_summary() -> dict[str, object]:
    """What the timings of a run depend on: CPU model, usable cores and native bfloat16 flags."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return {"cpu": cpu_model(), "cores": cores, "native_bf16": native_bf16_flags()}


def native_bf16_flags(cpuinfo_text: str | None = None) -> list[str]:
    """The flags of :data:`NATIVE_BF16_FLAGS` this CPU has, sorted (empty: bfloat16 is emulated).

    Args:
        cpuinfo_text: The text of ``/proc/cpuinfo``; ``None`` reads the file.
    """
    return sorted(cpu_flags(cpuinfo_text) & set(NATIVE_BF16_FLAGS))


def resolve_dtype(
    requested: str,
    device: str,
    *,
    cpuinfo_text: str | None = None,
    cuda_bf16_supported: bool | None = None,
) -> DtypeChoice:
    """The dtype to load a model in on ``device``, with the reason.

    ``auto`` becomes bfloat16 on a CPU with native bfloat16 (``avx512_bf16`` or ``amx_bf16``), float32 on any other
    CPU; bfloat16 on a CUDA GPU that supports it, else float16; float32 on other devices. Any other value is used as
    given.

    Args:
        requested: ``ModelConfig.dtype``: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
        device: ``cpu``, ``cuda``, ``cuda:1``...
        cpuinfo_text: The text of ``/proc/cpuinfo`` (``None`` reads the file; tests inject text).
        cuda_bf16_supported: Whether the GPU supports bfloat16 (``None`` asks ``torch.cuda.is_bf16_supported()``).

    Raises:
        ValueError: for a dtype name that is neither ``auto`` nor one of ``float32``, ``bfloat16``, ``float16``.
    """
    if requested != "auto":
        if requested not in EXPLICIT_DTYPES:
            raise ValueError(
                f"model.dtype: unknown dtype {requested!r}; use 'auto' or one of {', '.join(EXPLICIT_DTYPES)}"
            )
        return DtypeChoice(requested, f"set explicitly (model.dtype: {requested})")
    kind = device.split(":")[0]
    if kind == "cpu":
        native = native_bf16_flags(cpuinfo_text)
        if native:
            return DtypeChoice("bfloat16", f"auto on CPU: bfloat16, native on this CPU ({', '.join(native)})")
        return DtypeChoice(
            "float32",
            f"auto on CPU: float32, as this CPU has no native bfloat16 (no {' or '.join(NATIVE_BF16_FLAGS)} flag) "
            "and emulated bfloat16 is slower",
        )
    if kind == "cuda":
        if cuda_bf16_supported is None:
            import torch

            cuda_bf16_supported = torch.cuda.is_bf16_supported()
        if cuda_bf16_supported:
            return DtypeChoice("bfloat16", "auto on CUDA: bfloat16, supported by the GPU")
        return DtypeChoice("float16", "auto on CUDA: float16, as the GPU does not support bfloat16")
    return DtypeChoice("float32", f"auto on device {device!r}: float32 (no rule for this device)")
