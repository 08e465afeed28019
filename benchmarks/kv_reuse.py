"""Speed of the generate stage with the transformers backend's prefix key/value reuse off and on.

Runs the generate workload of a config (default: ``configs/default.yaml``): every self-generated dialogue, then every
benchmark item at every checkpoint, each variant with a fresh response store in a temporary folder and a fresh
backend, in one process. "Reuse on" is everything the backend does with cached keys/values: prefixes taken from the
cache, and item batches whose rows share a cached dialogue prefix reading it once per step. Both variants load the
model in float32 unless ``--dtype`` says otherwise, so the comparison isolates reuse. Both variants prefill prompts
of very different lengths in separate passes (less padding). Prints a side-by-side table (prefilled and reused
tokens, wall time per stage and in total), how many answers are identical between the variants, the generate-stage
speed-up (target >= 3x), the machine facts, and float32 vs bfloat16 wall time for one fixed batch (the figure
behind ``dtype: auto``).

Timings on a shared machine are noisy: the load average before and after is printed, and the process CPU time of
each stage next to its wall time (with ``--threads 1`` it measures the work done, little affected by other load).

Usage:
    python benchmarks/kv_reuse.py [--config configs/default.yaml] [--quick] [--dtype float32] [--threads N]
                                  [--batch-size N] [--prefix-cache-mb 2048] [--skip-dtype-check]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

from persona_lib.backends import SamplingParams, cpu_model, create_backend, native_bf16_flags, resolve_dtype
from persona_lib.backends._local_model import DEFAULT_PREFIX_CACHE_MB, default_num_threads
from persona_lib.config import RunConfig
from persona_lib.generation import generate_benchmarks, generate_dialogues
from persona_lib.paths import PROJECT_ROOT
from persona_lib.resolve import load_config
from persona_lib.store import ResponseStore


def variant_config(config: RunConfig, dtype: str | None, reuse: bool, threads: int, budget_mb: float) -> RunConfig:
    """``config`` with the model's dtype (``None`` keeps it), prefix reuse switch, threads and cache budget set."""
    extra = dict(config.model.extra) | {"prefix_cache": reuse, "prefix_cache_mb": budget_mb, "num_threads": threads}
    model = config.model.model_copy(update={"extra": extra} | ({"dtype": dtype} if dtype else {}))
    return config.model_copy(update={"model": model})


def with_batch_size(config: RunConfig, batch_size: int | None) -> RunConfig:
    """``config`` with ``model.batch_size`` replaced (``None`` keeps it)."""
    if batch_size is None:
        return config
    return config.model_copy(update={"model": config.model.model_copy(update={"batch_size": batch_size})})


def run_variant(config: RunConfig) -> dict:
    """Generate dialogues then benchmarks with a fresh backend and store; wall times, token counters, answers."""
    backend = create_backend(config.model)
    with tempfile.TemporaryDirectory(prefix="kv_reuse_") as folder:
        store = ResponseStore(Path(folder) / "responses.sqlite")
        started, cpu_started = time.perf_counter(), time.process_time()
        dialogues = generate_dialogues(config, backend, store)
        dialogues_done, cpu_dialogues_done = time.perf_counter(), time.process_time()
        benchmarks = generate_benchmarks(config, backend, store, dialogues)
        finished, cpu_finished = time.perf_counter(), time.process_time()
        store.close()
    result = {
        "dtype": backend.version_info()["dtype"],
        "stats": backend.stats.as_dict(),
        "dialogues_s": dialogues_done - started,
        "benchmarks_s": finished - dialogues_done,
        "total_s": finished - started,
        "cpu_dialogues_s": cpu_dialogues_done - cpu_started,
        "cpu_benchmarks_s": cpu_finished - cpu_dialogues_done,
        "cpu_total_s": cpu_finished - cpu_started,
        "requests": (len(dialogues), len(benchmarks)),
        "answers": list(dialogues["assistant"]) + list(benchmarks["response"]),
        "cached_mib": backend.prefix_cache.nbytes / 2**20 if backend.prefix_cache is not None else 0.0,
        "evicted_tokens": backend.prefix_cache.evicted_tokens if backend.prefix_cache is not None else 0,
    }
    del backend
    gc.collect()
    return result


def dtype_wall_times(config: RunConfig, threads: int, repeats: int = 2) -> dict[str, float]:
    """Best-of-``repeats`` wall time of one fixed batch (4 prompts of ~400 tokens, 16 new tokens) per dtype."""
    text = "The lighthouse keeper wrote in his log that the sea was calm and the ships passed safely. "
    conversations = [[{"role": "user", "content": f"Note {i}. " + text * (20 + 2 * i)}] for i in range(4)]
    params = SamplingParams(max_new_tokens=16)
    times = {}
    for dtype in ("float32", "bfloat16"):
        backend = create_backend(variant_config(config, dtype, False, threads, 0).model)
        backend.generate(conversations[:1], SamplingParams(max_new_tokens=2))  # warm-up
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            backend.generate(conversations, params)
            best = min(best, time.perf_counter() - started)
        times[dtype] = best
        del backend
        gc.collect()
    return times


def print_table(off: dict, on: dict) -> None:
    """The side-by-side table of the two variants."""
    rows = [
        ("dialogue requests", *(f"{r['requests'][0]:,}" for r in (off, on))),
        ("benchmark requests", *(f"{r['requests'][1]:,}" for r in (off, on))),
        ("prompt tokens", *(f"{r['stats']['prompt_tokens']:,}" for r in (off, on))),
        ("prefilled tokens", *(f"{r['stats']['prefilled_tokens']:,}" for r in (off, on))),
        ("reused tokens", *(f"{r['stats']['reused_tokens']:,}" for r in (off, on))),
        ("generated tokens", *(f"{r['stats']['generated_tokens']:,}" for r in (off, on))),
        ("batches sharing a prefix", *(f"{r['stats']['shared_prefix_batches']:,}" for r in (off, on))),
        ("cache held at end (MiB)", *(f"{r['cached_mib']:,.0f}" for r in (off, on))),
        ("tokens evicted", *(f"{r['evicted_tokens']:,}" for r in (off, on))),
        ("wall: dialogues (s)", *(f"{r['dialogues_s']:.1f}" for r in (off, on))),
        ("wall: benchmarks (s)", *(f"{r['benchmarks_s']:.1f}" for r in (off, on))),
        ("wall: generate stage (s)", *(f"{r['total_s']:.1f}" for r in (off, on))),
        ("CPU: dialogues (s)", *(f"{r['cpu_dialogues_s']:.1f}" for r in (off, on))),
        ("CPU: benchmarks (s)", *(f"{r['cpu_benchmarks_s']:.1f}" for r in (off, on))),
        ("CPU: generate stage (s)", *(f"{r['cpu_total_s']:.1f}" for r in (off, on))),
    ]
    print(f"{'':<26}{'reuse off':>14}{'reuse on':>14}")
    for label, a, b in rows:
        print(f"{label:<26}{a:>14}{b:>14}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(PROJECT_ROOT / "configs" / "default.yaml"))
    parser.add_argument("--quick", action="store_true", help="4 rounds, checkpoints 0/2/4, one persona + baseline")
    parser.add_argument("--dtype", default="float32", help="dtype of both variants; 'config' keeps the config's")
    parser.add_argument("--threads", type=int, default=default_num_threads(), help="torch CPU threads")
    parser.add_argument("--prefix-cache-mb", type=float, default=DEFAULT_PREFIX_CACHE_MB)
    parser.add_argument("--batch-size", type=int, default=None, help="model.batch_size of both variants")
    parser.add_argument("--skip-dtype-check", action="store_true", help="skip the float32 vs bfloat16 timing")
    args = parser.parse_args()

    config = load_config(args.config)
    if config.model.backend != "transformers":
        raise SystemExit(f"{args.config}: model.backend is {config.model.backend!r}; this benchmark needs transformers")
    if args.quick:
        config = config.model_copy(update={"n_rounds": 4, "checkpoints": [0, 2, 4], "personas": config.personas[:1]})
    config = with_batch_size(config, args.batch_size)
    dtype = None if args.dtype == "config" else args.dtype
    native = native_bf16_flags()
    auto = resolve_dtype("auto", "cpu")
    print(
        f"config: {args.config}{' (--quick)' if args.quick else ''}; model {config.model.model}; "
        f"{config.n_rounds} rounds, checkpoints {config.resolved_checkpoints()}, "
        f"max_new_tokens {config.generation.max_new_tokens}, batch_size {config.model.batch_size}"
    )
    print(
        f"machine: {cpu_model()}; {os.cpu_count()} cores, torch threads {args.threads}; "
        f"native bf16: {', '.join(native) if native else 'no'}; dtype auto -> {auto.dtype} ({auto.reason})"
    )
    print(f"variants run in dtype: {dtype or config.model.dtype}; prefix cache budget {args.prefix_cache_mb:g} MiB")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    off = run_variant(variant_config(config, dtype, False, args.threads, args.prefix_cache_mb))
    on = run_variant(variant_config(config, dtype, True, args.threads, args.prefix_cache_mb))
    print()
    print_table(off, on)
    same = sum(a == b for a, b in zip(off["answers"], on["answers"]))
    print(f"identical answers (reuse on vs off): {same}/{len(off['answers'])}")
    print(
        f"prefilled tokens: {off['stats']['prefilled_tokens'] / max(on['stats']['prefilled_tokens'], 1):.1f}x fewer "
        "with reuse"
    )
    print(f"generate stage speed-up: {off['total_s'] / on['total_s']:.2f}x (reuse on vs off; target >= 3x)")
    print(
        f"generate stage CPU-time ratio: {off['cpu_total_s'] / on['cpu_total_s']:.2f}x (process CPU time, less "
        "sensitive to other load than wall time)"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.skip_dtype_check:
        times = dtype_wall_times(config, args.threads)
        print(
            f"dtype check (4 prompts of ~400 tokens + 16 new, reuse off, best of 2): float32 "
            f"{times['float32']:.1f} s, bfloat16 {times['bfloat16']:.1f} s "
            f"(bfloat16 / float32 = {times['bfloat16'] / times['float32']:.2f})"
        )


if __name__ == "__main__":
    main()
