"""Prefill cost of the benchmark request stream under a vLLM-like prefix cache, for three submission orders.

Simulates the dialogue-conditioned benchmark stage of a run (default: ``configs/paper.yaml``, or the protocol's
defaults if that file does not exist) with :func:`persona_lib.generation.simulate_prefix_cache` and prints the
prefilled tokens for

  (a) this project's scheduler (:func:`persona_lib.generation.schedule`: one group per shared prefix, dialogue by
      dialogue, checkpoints ascending),
  (b) the naive per-dataset-file order (dataset outermost, then items, then condition / kind / checkpoint),
  (c) the unique-token floor (unlimited cache: every distinct block computed once),

and the ratios a/c (scheduler overhead over the floor; target <= 1.05) and b/a (speed-up of the scheduler over
the naive order; target >= 5) at a KV budget of one longest dialogue.

Token counts are estimates, not tokenizer output: dialogue prefixes come from the study's released
``round_lengths.csv`` (cumulative tokens before each round, per model, persona and dialogue kind), system prompts
and benchmark items from ``words x 1.3``. The simulation works on block identities, never on text.

Usage:
    python benchmarks/prefix_cache.py [--model Qwen3-4B-Instruct-2507] [--config configs/paper.yaml]
                                      [--kv-budget TOKENS] [--block-size 16]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from persona_lib.config import RunConfig
from persona_lib.generation import benchmark_items, schedule, simulate_prefix_cache
from persona_lib.paths import PROJECT_ROOT, released_dir
from persona_lib.personas import (
    BASELINE,
    Persona,
    persona_system_prompt,
)
from persona_lib.resolve import load_config, resolve_run_config, run_personas
from persona_lib.store import Request

TOKENS_PER_WORD = 1.3
KIND_COLUMNS = {"persona_directed": "n_tokens_persona_directed", "goal_oriented": "n_tokens_goal_oriented"}


def estimate_tokens(text: str) -> int:
    """Rough token count: words x 1.3."""
    return round(len(text.split()) * TOKENS_PER_WORD)


def item_lengths(config: RunConfig, personas: list[Persona]) -> dict[str, list[tuple[str, str, int]]]:
    """Per condition: ``(dataset, item id, estimated tokens)`` of every item it is asked (as the run asks them)."""
    items = benchmark_items(config, personas)
    return {
        condition: [(item.dataset, item.item_id, estimate_tokens(item.prompt)) for item in condition_items]
        for condition, condition_items in items.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="Qwen3-4B-Instruct-2507", help="model in round_lengths.csv")
    parser.add_argument("--config", default=str(PROJECT_ROOT / "configs" / "paper.yaml"))
    parser.add_argument("--kv-budget", type=int, default=None, help="KV cache tokens (default: longest dialogue)")
    parser.add_argument("--block-size", type=int, default=16)
    args = parser.parse_args()
    started = time.perf_counter()

    config_path = Path(args.config)
    config = load_config(config_path) if config_path.is_file() else resolve_run_config(RunConfig())
    config_source = str(config_path) if config_path.is_file() else "protocol defaults (RunConfig())"
    lengths = pd.read_csv(released_dir() / "round_lengths.csv")
    lengths = lengths[lengths["model"] == args.model]
    if lengths.empty:
        raise SystemExit(
            f"model {args.model!r} not in round_lengths.csv; choose one of "
            f"{sorted(pd.read_csv(released_dir() / 'round_lengths.csv')['model'].unique())}"
        )
    prefix = {
        (row.role, kind, int(row.pos)): int(getattr(row, column))
        for row in lengths.itertuples()
        for kind, column in KIND_COLUMNS.items()
    }
    personas = run_personas(config)
    unknown = [p.name for p in personas if (p.name, "persona_directed", 0) not in prefix]
    if unknown:
        raise SystemExit(f"round_lengths.csv has no dialogue lengths for persona(s) {unknown}")
    system = {p.name: estimate_tokens(persona_system_prompt(p)) for p in personas}
    system[BASELINE] = 0  # the baseline has no system prompt
    items = item_lengths(config, personas)
    checkpoints = config.resolved_checkpoints()

    segments: dict[tuple, tuple] = {}
    requests = []
    for condition, condition_items in items.items():
        for kind in config.dialogue_kinds:
            for checkpoint in checkpoints:
                for dataset, item_id, n_tokens in condition_items:
                    tags = {
                        "condition": condition,
                        "kind": kind,
                        "checkpoint": checkpoint,
                        "dataset": dataset,
                        "item_id": item_id,
                    }
                    requests.append(Request([], tags))
                    segments[(condition, kind, checkpoint, dataset, item_id)] = (
                        (("system", condition), system[condition]),
                        (("dialogue", condition, kind), prefix[(condition, kind, checkpoint)]),
                        (("item", dataset, item_id), n_tokens),
                    )

    def stream(ordered: list[Request]) -> list[tuple]:
        """Segments of each request in order; identical requests (same key) are sent once, as the store does."""
        seen, out = set(), []
        for request in ordered:
            tags = request.tags
            request_segments = tuple(
                segment
                for segment in segments[
                    (tags["condition"], tags["kind"], tags["checkpoint"], tags["dataset"], tags["item_id"])
                ]
                if segment[1] > 0
            )
            if request_segments not in seen:
                seen.add(request_segments)
                out.append(request_segments)
        return out

    dataset_rank = {dataset: rank for rank, dataset in enumerate(config.datasets)}
    item_rank = {}
    for condition_items in items.values():
        for dataset, item_id, _ in condition_items:
            item_rank.setdefault((dataset, item_id), len(item_rank))
    condition_rank = {condition: rank for rank, condition in enumerate(items)}
    kind_rank = {kind: rank for rank, kind in enumerate(config.dialogue_kinds)}
    naive = sorted(
        requests,
        key=lambda r: (
            dataset_rank[r.tags["dataset"]],
            item_rank[(r.tags["dataset"], r.tags["item_id"])],
            condition_rank[r.tags["condition"]],
            kind_rank[r.tags["kind"]],
            r.tags["checkpoint"],
        ),
    )
    scheduled = [request for group in schedule(requests) for request in group]

    longest = max(system[c] + prefix[(c, k, config.n_rounds)] for c in items for k in config.dialogue_kinds)
    budget = args.kv_budget or longest
    a = simulate_prefix_cache(stream(scheduled), budget, args.block_size)
    b = simulate_prefix_cache(stream(naive), budget, args.block_size)
    c = simulate_prefix_cache(stream(scheduled), None, args.block_size)

    print(f"config: {config_source}; dialogue lengths of {args.model}; system prompts and items: words x 1.3")
    print(f"requests: {len(requests):,} ({a.requests:,} distinct); checkpoints {checkpoints}")
    print(
        f"KV budget: {budget:,} tokens ({'one longest dialogue' if not args.kv_budget else 'user-set'}), "
        f"block size {args.block_size}"
    )
    print(f"prompt tokens (no cache):        {a.prompt_tokens:>16,}")
    print(f"(a) prefill, scheduler:          {a.prefill_tokens:>16,}")
    print(f"(b) prefill, naive dataset order:{b.prefill_tokens:>16,}")
    print(f"(c) prefill floor (unique):      {c.prefill_tokens:>16,}")
    print(f"a/c = {a.prefill_tokens / c.prefill_tokens:.3f}   (target <= 1.05)")
    print(f"b/a = {b.prefill_tokens / a.prefill_tokens:.1f}   (target >= 5)")
    print(f"runtime: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
