"""Throughput assumptions that turn a run plan's token counts into GPU-hours.

A GPU's time on this workload is modelled as ``prefill tokens / prefill rate + generated tokens / decode rate``
(aggregate rates over a batch). The defaults below are ROUGH ASSUMPTIONS, not measurements (this project's machines
have no GPU): back-of-envelope figures for an ~8B-parameter model in bf16 served by vLLM, at contexts averaging
~25k tokens (the benchmark prefixes of a 102-round dialogue).

* prefill: ~45% of the GPU's peak dense bf16 FLOP/s divided by ``2 x 8e9`` FLOPs per token, rounded down for the
  attention cost of long prefixes;
* decode: memory-bandwidth bound: each step reads the weights (16 GB) and the KV cache of every sequence in the
  batch (~131 kB per token for a Llama-3.1-8B-like model, so ~3.3 GB per 25k-token sequence); the batch is as large
  as the GPU's memory allows.

Peak figures are the vendors' data-sheet values (NVIDIA A100: 312 TFLOP/s bf16, 2.0 TB/s for 80 GB and 1.6 TB/s for
40 GB; H100 SXM: 989 TFLOP/s, 3.35 TB/s; L40S: 362 TFLOP/s, 0.86 TB/s). Measure your own rates with a short run and
pass them instead (``persona-eval plan --tokens-per-second``).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFILL_RATIO = 20
"""Prefill rate as a multiple of the decode rate when only ``--tokens-per-second`` is given (an assumption)."""


@dataclass(frozen=True)
class Throughput:
    """Aggregate token rates of one GPU on this workload.

    Attributes:
        name: The GPU (or ``custom``).
        prefill_tokens_per_second: Prompt tokens computed per second.
        decode_tokens_per_second: Generated tokens per second, over the whole batch.
        source: Where the figures come from.
    """

    name: str
    prefill_tokens_per_second: float
    decode_tokens_per_second: float
    source: str

    def hours(self, prefill_tokens: float, generated_tokens: float) -> float:
        """GPU-hours for this many computed prompt tokens and generated tokens."""
        seconds = prefill_tokens / self.prefill_tokens_per_second + generated_tokens / self.decode_tokens_per_second
        return seconds / 3600


_ASSUMED = "rough assumption for an ~8B bf16 model in vLLM (see persona_lib/plan/_throughput.py), not measured"

GPU_THROUGHPUT: dict[str, Throughput] = {
    "H100-80GB": Throughput("H100-80GB", 20_000, 800, _ASSUMED),
    "A100-80GB": Throughput("A100-80GB", 8_000, 450, _ASSUMED),
    "A100-40GB": Throughput("A100-40GB", 8_000, 250, _ASSUMED),
    "L40S-48GB": Throughput("L40S-48GB", 7_000, 150, _ASSUMED),
}
"""Default rates per GPU type (rough assumptions; see the module docstring)."""


def resolve_throughput(
    gpu: str | None = None,
    tokens_per_second: float | None = None,
    prefill_tokens_per_second: float | None = None,
) -> Throughput | None:
    """The throughput to estimate GPU-hours with, from a GPU name or explicit rates (``None``: no estimate).

    Args:
        gpu: A key of :data:`GPU_THROUGHPUT` (case-insensitive).
        tokens_per_second: Generated tokens per second (overrides the GPU's decode rate).
        prefill_tokens_per_second: Prompt tokens per second (default: the GPU's, or ``20 x tokens_per_second``).

    Raises:
        ValueError: for an unknown GPU name or a rate that is not positive.
    """
    base = None
    if gpu is not None:
        by_name = {name.lower(): value for name, value in GPU_THROUGHPUT.items()}
        base = by_name.get(gpu.lower())
        if base is None:
            raise ValueError(
                f"unknown GPU {gpu!r}; choose one of {', '.join(GPU_THROUGHPUT)} or give --tokens-per-second"
            )
    if tokens_per_second is None and prefill_tokens_per_second is None:
        return base
    for rate in (tokens_per_second, prefill_tokens_per_second):
        if rate is not None and not rate > 0:
            raise ValueError(f"token rates must be positive, got {rate}")
    if base is None and tokens_per_second is None:
        raise ValueError("give the decode rate (--tokens-per-second) or a GPU (--gpu) with the prefill rate")
    decode = tokens_per_second if tokens_per_second is not None else base.decode_tokens_per_second
    if prefill_tokens_per_second is not None:
        prefill, source = prefill_tokens_per_second, "given"
    elif base is not None:
        prefill, source = base.prefill_tokens_per_second, f"decode given, prefill {base.source}"
    else:
        prefill, source = DEFAULT_PREFILL_RATIO * decode, f"decode given, prefill assumed {DEFAULT_PREFILL_RATIO}x it"
    return Throughput(base.name if base else "custom", prefill, decode, source)
