"""Verdicts per second of the judge in each judging mode, side by side in one run, on this machine's CPU.

The bundled SmolLM2-135M-Instruct judges the same real judge prompts — the study's human-labelled validation
samples, ``--items`` per dataset (fidelity criteria, BFI, RoleBench, XSTest) — once per mode:

  generate      the judge writes reasoning and a result line (``--max-new-tokens``, the embedded default's 64),
  distribution  one forward pass reads its probability over the allowed labels after the result prefix,
  both          both of the above in one run (the label read reuses the keys/values of the prompt that
                generation computed, so it costs little more than generate alone).

Each mode starts from an empty response store and a freshly loaded judge (so no key/value cache of an earlier mode
is reused), warmed up by one short request before the clock starts. Printed per mode: wall seconds,
verdicts per second, the share of items with a verdict (parse rate), and the ratio to ``distribution``; then the
machine the figures come from (CPU model, cores, native bfloat16, load average, dtype).

Usage:
    python benchmarks/judge_modes.py [--items 4] [--max-new-tokens 64] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from persona_lib.backends import SamplingParams, cpu_model, create_backend, native_bf16_flags
from persona_lib.config import ModelConfig, RunConfig
from persona_lib.datasets import get_dataset, load_validation_samples
from persona_lib.judging import run_judge_tasks
from persona_lib.personas import load_personas
from persona_lib.scoring import validated_datasets
from persona_lib.store import ResponseStore

MODES = ("generate", "distribution", "both")


def judge_tasks(items: int) -> list:
    """Real judge tasks: the first ``items`` human-labelled samples of every validated dataset."""
    personas = load_personas()
    tasks = []
    for dataset in validated_datasets():
        spec = get_dataset(dataset)
        tasks += [spec.validation.to_task(sample, personas) for sample in load_validation_samples(spec)[:items]]
    return tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=4, help="validation samples per dataset")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="the judge's budget in generate mode")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    tasks = judge_tasks(args.items)
    judge = ModelConfig(batch_size=args.batch_size)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for mode in MODES:
            backend = create_backend(judge)
            backend.generate([[{"role": "user", "content": "Hello"}]], SamplingParams(max_new_tokens=4))
            if mode == MODES[0]:
                print(
                    f"{len(tasks)} judge prompts ({args.items} per validated dataset), judge {judge.model}, "
                    f"{backend.version_info()['dtype']}, batch {args.batch_size}, "
                    f"generate budget {args.max_new_tokens} tokens"
                )
            config = RunConfig(
                output_dir=scratch, judge=judge, judging={"mode": mode, "max_new_tokens": args.max_new_tokens}
            )
            store = ResponseStore(Path(scratch) / f"{mode}.sqlite")
            start = time.perf_counter()
            rows = run_judge_tasks(tasks, config, backend, store, model_name="benchmark", desc=mode)
            seconds = time.perf_counter() - start
            results[mode] = (seconds, rows["parse_status"].isin(["ok", "fallback"]).mean())
    base = results["distribution"][0]
    print(f"\n{'mode':<14}{'seconds':>10}{'verdicts/s':>12}{'parse rate':>12}{'× distribution':>16}")
    for mode, (seconds, parsed) in results.items():
        print(f"{mode:<14}{seconds:>10.1f}{len(tasks) / seconds:>12.2f}{100 * parsed:>11.0f}%{seconds / base:>16.1f}")
    flags = native_bf16_flags()
    print(
        f"\nmachine: {cpu_model()}, {os.cpu_count()} cores, native bfloat16: {', '.join(flags) or 'no'}, "
        f"load average {os.getloadavg()[0]:.2f} at the end, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
