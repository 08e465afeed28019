"""Dialogue-conditioned benchmark questions: ``system + first t rounds + [user: item]`` at every checkpoint."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

import pandas as pd

from persona_lib.config import RunConfig
from persona_lib.contract import Backend, Message
from persona_lib.datasets import BenchmarkItem, get_dataset, load_items
from persona_lib.generation._common import ORIGINAL, sampling_params
from persona_lib.generation._dialogues import generate_dialogues
from persona_lib.generation._schedule import schedule
from persona_lib.personas import Persona, system_messages
from persona_lib.resolve import item_file, item_limit, run_conditions, run_personas
from persona_lib.store import (
    Request,
    ResponseStore,
    complete_groups,
    make_run_info,
    request_keys,
)

logger = logging.getLogger(__name__)

SKIPPED_COLUMNS = ["condition", "kind", "checkpoint", "rounds_available", "reason"]
#: Columns of the answer table (:func:`generate_benchmarks`), also when the run asks no benchmark item.
ANSWER_COLUMNS = [
    "condition",
    "kind",
    "checkpoint",
    "dataset",
    "item_id",
    "item_persona",
    "prefix_tokens",
    "prompt",
    "reference",
    "meta",
    "response",
    "prompt_tokens",
    "completion_tokens",
    "finish_reason",
    "error",
    "key",
]


class Item(Protocol):
    """What the request builder needs from a benchmark item (``persona_lib.datasets.BenchmarkItem``)."""

    dataset: str
    item_id: str
    prompt: str
    persona: str | None


def benchmark_items(config: RunConfig, personas: Sequence[Persona]) -> dict[str, list[BenchmarkItem]]:
    """The items each condition is asked, keyed by condition name, each with its prompt as that condition is asked.

    Every configured dataset asked at checkpoints contributes (dialogue fidelity scores the dialogue turns
    instead). Per-character datasets (RoleBench) give a persona its own character's items and the baseline every
    item of the selected personas' characters; the other datasets give every condition the same items. The
    dataset's ``ask`` decides the prompt per condition (RoleBench addresses the character by name, the baseline
    is asked without the address).

    Args:
        config: The run configuration (datasets, item limits, seed, dataset files).
        personas: The selected personas.
    """

    def load(dataset: str, persona: str | None) -> list[BenchmarkItem]:
        return load_items(
            dataset,
            persona=persona,
            limit=item_limit(config, dataset),
            seed=config.seed,
            path=item_file(config, dataset),
        )

    def asked(items: list[BenchmarkItem], persona: Persona | None, ask) -> list[BenchmarkItem]:
        return [replace(item, prompt=ask(item, persona)) for item in items]

    conditions = run_conditions(config, list(personas))
    items: dict[str, list[BenchmarkItem]] = {name: [] for name, _ in conditions}
    for dataset in config.datasets:
        spec = get_dataset(dataset)
        if not spec.asked_at_checkpoints:
            continue
        if spec.per_character:
            own = {persona.name: load(dataset, persona.name) for persona in personas}
            for name, persona in conditions:
                chosen = own[name] if persona is not None else [item for group in own.values() for item in group]
                items[name] += asked(chosen, persona, spec.ask)
        else:
            shared = load(dataset, None)
            for name, persona in conditions:
                items[name] += asked(shared, persona, spec.ask)
    return items


def conditioned_requests(
    dialogues: pd.DataFrame,
    systems: Mapping[str, list[Message]],
    items: Mapping[str, Sequence[Item]],
    kinds: Sequence[str],
    checkpoints: Sequence[int],
) -> tuple[list[Request], pd.DataFrame]:
    """Build every benchmark request from generated dialogues.

    For each condition (in ``systems`` order) × kind × checkpoint ``t`` × item: messages are the condition's
    system messages, the first ``t`` rounds of its original-order dialogue of that kind, and the item prompt as
    the last user turn. Checkpoints beyond the last answered round of a dialogue (stopped by context overflow or
    an error, or not generated) are skipped and listed.

    Args:
        dialogues: The table of :func:`~persona_lib.generation.generate_dialogues`.
        systems: System messages per condition.
        items: Items per condition.
        kinds: Dialogue kinds.
        checkpoints: Rounds before the question.

    Returns:
        The requests (tags: stage, condition, kind, checkpoint, dataset, item_id, item_persona, prefix_tokens)
        and the skipped checkpoints (condition, kind, checkpoint, rounds_available, reason).
    """
    original = dialogues[dialogues["replicate"] == ORIGINAL] if len(dialogues) else dialogues
    requests: list[Request] = []
    skipped: list[dict[str, Any]] = []
    for condition, system in systems.items():
        for kind in kinds:
            rounds = (
                original[(original["condition"] == condition) & (original["kind"] == kind)].sort_values("round")
                if len(original)
                else original
            )
            history: list[Message] = []
            prefix_tokens: dict[int, int | None] = {0: None}
            reason = "dialogue not generated"
            for row in rounds.itertuples(index=False):
                if row.finish_reason not in ("stop", "length") or row.round != len(history) // 2 + 1:
                    reason = f"dialogue stopped at round {row.round} ({row.finish_reason})"
                    break
                history += [{"role": "user", "content": row.user}, {"role": "assistant", "content": row.assistant}]
                if pd.notna(row.prompt_tokens) and pd.notna(row.completion_tokens):
                    prefix_tokens[row.round] = int(row.prompt_tokens) + int(row.completion_tokens)
                else:
                    prefix_tokens[row.round] = None
            rounds_available = len(history) // 2
            for checkpoint in checkpoints:
                if checkpoint > rounds_available:
                    skipped.append(
                        {
                            "condition": condition,
                            "kind": kind,
                            "checkpoint": checkpoint,
                            "rounds_available": rounds_available,
                            "reason": reason,
                        }
                    )
                    continue
                prefix = list(system) + history[: 2 * checkpoint]
                for item in items.get(condition, ()):
                    tags = {
                        "stage": "benchmark",
                        "condition": condition,
                        "kind": kind,
                        "checkpoint": checkpoint,
                        "dataset": item.dataset,
                        "item_id": item.item_id,
                        "item_persona": item.persona,
                        "prefix_tokens": prefix_tokens.get(checkpoint),
                    }
                    requests.append(Request(prefix + [{"role": "user", "content": item.prompt}], tags))
    return requests, pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)


def _build(
    config: RunConfig,
    dialogues: pd.DataFrame,
    conditions: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
) -> tuple[list[Request], pd.DataFrame, dict]:
    personas = run_personas(config)
    systems = {
        condition.name: system_messages(condition.persona, config.model.reasoning_off_system)
        for condition in run_conditions(config, personas)
    }
    unknown = sorted(set(conditions or ()) - set(systems)) + sorted(set(kinds or ()) - set(config.dialogue_kinds))
    if unknown:
        raise ValueError(
            f"{unknown} not in this run's conditions {list(systems)} or dialogue kinds {config.dialogue_kinds}"
        )
    if conditions is not None:
        systems = {name: system for name, system in systems.items() if name in conditions}
    chosen_kinds = [kind for kind in config.dialogue_kinds if kinds is None or kind in kinds]
    items = benchmark_items(config, personas)
    requests, skipped = conditioned_requests(dialogues, systems, items, chosen_kinds, config.resolved_checkpoints())
    if len(skipped):
        logger.warning(
            "skipping %d checkpoint(s) beyond where dialogues stopped:\n%s", len(skipped), skipped.to_string()
        )
    lookup = {(item.dataset, item.item_id): item for group in items.values() for item in group}  # reference, meta
    return requests, skipped, lookup


def build_benchmark_requests(config: RunConfig, dialogues: pd.DataFrame) -> list[Request]:
    """Every dialogue-conditioned benchmark request of a run (see :func:`conditioned_requests`).

    Skipped checkpoints (beyond where a dialogue stopped) are logged as a warning; ``generate_benchmarks``
    also returns them in ``table.attrs["skipped_checkpoints"]``.

    Args:
        config: The run configuration.
        dialogues: The table returned by :func:`~persona_lib.generation.generate_dialogues`.
    """
    return _build(config, dialogues)[0]


def generate_benchmarks(
    config: RunConfig,
    backend: Backend,
    store: ResponseStore,
    dialogues: pd.DataFrame | None = None,
    batch_size: int = 256,
    *,
    conditions: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
) -> pd.DataFrame:
    """Ask every benchmark item at every checkpoint of every dialogue (resumable, prefix-cache ordered).

    Requests are grouped by shared prefix and submitted dialogue by dialogue with ascending checkpoints
    (:func:`~persona_lib.generation.schedule`); a group larger than ``batch_size`` is sent as consecutive
    batches, each committed before the next.

    Args:
        config: The run configuration.
        backend: The model under test.
        store: The run's response store.
        dialogues: The dialogue table; if ``None`` it is obtained from :func:`generate_dialogues` (which reuses
            stored rounds and generates missing ones).
        batch_size: Maximum requests per backend call and per commit.
        conditions: Ask only these conditions' dialogues (default: every condition of the run).
        kinds: Ask only these dialogue kinds (default: the run's ``dialogue_kinds``).

    Returns:
        One row per request: condition, kind, checkpoint, dataset, item_id, item_persona, prefix_tokens,
        prompt, reference, meta, response, prompt_tokens, completion_tokens, finish_reason, error, key.
        ``attrs["skipped_checkpoints"]`` lists checkpoints not asked because the dialogue stopped earlier.
    """
    if dialogues is None:
        dialogues = generate_dialogues(config, backend, store)
    requests, skipped, lookup = _build(config, dialogues, conditions, kinds)
    params = sampling_params(config.generation)
    records = complete_groups(
        store,
        backend,
        schedule(requests),
        params,
        make_run_info(backend, config),
        batch_size=batch_size,
        desc="benchmarks",
    )
    keys = request_keys(backend.name, backend.model, params.as_dict(), (r.messages for r in requests))
    rows = []
    for request, key in zip(requests, keys):
        tags = request.tags
        record = records[key]
        item = lookup.get((tags["dataset"], tags["item_id"]))
        rows.append(
            {
                "condition": tags["condition"],
                "kind": tags["kind"],
                "checkpoint": tags["checkpoint"],
                "dataset": tags["dataset"],
                "item_id": tags["item_id"],
                "item_persona": tags["item_persona"],
                "prefix_tokens": tags["prefix_tokens"],
                "prompt": request.messages[-1]["content"],
                "reference": getattr(item, "reference", None),
                "meta": getattr(item, "meta", None),
                "response": record.text,
                "prompt_tokens": record.prompt_tokens,
                "completion_tokens": record.completion_tokens,
                "finish_reason": record.finish_reason,
                "error": record.error,
                "key": key,
            }
        )
    table = pd.DataFrame(rows, columns=ANSWER_COLUMNS)
    table.attrs["skipped_checkpoints"] = skipped
    return table
