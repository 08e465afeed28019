"""How much memory vLLM on a CPU may take for its KV cache, chosen at run time from what the machine has free.

On a CPU, vLLM reserves ``gpu_memory_utilization`` (default 0.92) of *all* the machine's memory and refuses to start
when less than that is free — which a machine running anything else (a notebook server, a second engine, the test
suite) never has. Unless the user chose (``extra.kv_cache_memory_bytes``, ``extra.gpu_memory_utilization`` or
``VLLM_CPU_KVCACHE_SPACE``), the vllm backend gives the engine a fixed KV-cache size instead: a quarter of the memory
available when the engine starts, between 1 and 8 GiB. The choice and its reason are recorded in the backend's
``version_info()``. On a GPU nothing changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

GIB = 1024**3
KV_SHARE_OF_AVAILABLE = 0.25
KV_MIN_BYTES = 1 * GIB
KV_MAX_BYTES = 8 * GIB
USER_CHOICES = ("kv_cache_memory_bytes", "gpu_memory_utilization")


def available_memory_bytes() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` (Linux); ``None`` where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_kv_cache(
    engine_kwargs: Mapping[str, Any], environ: Mapping[str, str], available: int | None
) -> tuple[int | None, str]:
    """The KV-cache size to give a CPU engine, and why.

    Args:
        engine_kwargs: The engine arguments the configuration gives (``extra``).
        environ: The process environment.
        available: Memory available now, in bytes (:func:`available_memory_bytes`).

    Returns:
        ``(bytes, reason)``; ``bytes`` is ``None`` when the user chose (or nothing can be measured) and vLLM's own
        rule applies.
    """
    chosen = [key for key in USER_CHOICES if key in engine_kwargs]
    if chosen:
        return None, f"set by model.extra.{chosen[0]}"
    if environ.get("VLLM_CPU_KVCACHE_SPACE", "") != "":
        return None, f"set by VLLM_CPU_KVCACHE_SPACE={environ['VLLM_CPU_KVCACHE_SPACE']} (GiB)"
    if available is None:
        return None, "vLLM's own rule (the memory available could not be read)"
    size = int(min(KV_MAX_BYTES, max(KV_MIN_BYTES, available * KV_SHARE_OF_AVAILABLE)))
    return size, (
        f"{size / GIB:.1f} GiB: a quarter of the {available / GIB:.1f} GiB available at start, kept within 1-8 GiB "
        "(vLLM on a CPU would otherwise reserve 92 % of all memory)"
    )


def cpu_kv_cache_for_this_machine(engine_kwargs: Mapping[str, Any]) -> tuple[int | None, str]:
    """:func:`cpu_kv_cache` with this process's environment and the memory available now."""
    return cpu_kv_cache(engine_kwargs, os.environ, available_memory_bytes())
