"""Generation stages: self-generated dialogues, then benchmark questions conditioned on them.

Public API:
    generate_dialogues(config, backend, store) -> DataFrame: every dialogue of a run, turn-synchronous, resumable.
    run_dialogues(specs, backend, store, params, run_info) -> DataFrame: the engine behind it.
    DialogueSpec, dialogue_specs(config): what is generated.
    load_dialogue(store, condition, kind, replicate) -> list[Message]: a stored dialogue.
    dialogue_prefix_lengths(dialogues, model) -> DataFrame: prefix tokens after each round (length control).
    build_benchmark_requests(config, dialogues) -> list[Request]; conditioned_requests(...): the builder core.
    generate_benchmarks(config, backend, store) -> DataFrame: every item at every checkpoint, resumable.
    schedule(requests) -> list[list[Request]]: prefix-cache-friendly submission order.
    generate_unit(config, backend, store, condition, kind) -> (dialogues, answers): one dialogue and the questions
        asked along it (a study's unit of work); unit_dialogue_specs(...): its dialogues;
        generate_unit_dialogues(config, backend, store, units): several units' dialogues side by side.
    simulate_prefix_cache(...): the LRU prefix-cache simulator used by ``benchmarks/prefix_cache.py``.
"""

from persona_lib.generation._benchmarks import (
    ANSWER_COLUMNS,
    benchmark_items,
    build_benchmark_requests,
    conditioned_requests,
    generate_benchmarks,
)
from persona_lib.generation._common import ORIGINAL, SHUFFLED, sampling_params
from persona_lib.generation._dialogues import (
    DialogueSpec,
    dialogue_prefix_lengths,
    dialogue_specs,
    generate_dialogues,
    load_dialogue,
    round_request,
    run_dialogues,
)
from persona_lib.generation._prefix_cache_sim import (
    CacheStats,
    Segment,
    simulate_prefix_cache,
)
from persona_lib.generation._schedule import schedule
from persona_lib.generation._unit import generate_unit, generate_unit_dialogues, unit_dialogue_specs

__all__ = [
    "ANSWER_COLUMNS",
    "ORIGINAL",
    "SHUFFLED",
    "CacheStats",
    "DialogueSpec",
    "Segment",
    "benchmark_items",
    "build_benchmark_requests",
    "conditioned_requests",
    "dialogue_prefix_lengths",
    "dialogue_specs",
    "generate_benchmarks",
    "generate_dialogues",
    "generate_unit",
    "generate_unit_dialogues",
    "load_dialogue",
    "round_request",
    "run_dialogues",
    "sampling_params",
    "schedule",
    "simulate_prefix_cache",
    "unit_dialogue_specs",
]
