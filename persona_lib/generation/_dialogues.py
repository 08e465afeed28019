"""Self-generated dialogues: every dialogue advances one round per batched backend call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tqdm import tqdm  # text bars: notebooks run without ipywidgets, and the pipeline forwards them

from persona_lib.config import ModelConfig, RunConfig
from persona_lib.contract import Backend, Message, SamplingParams
from persona_lib.dialogues import load_script
from persona_lib.generation._common import ORIGINAL, SHUFFLED, sampling_params
from persona_lib.personas import system_messages
from persona_lib.resolve import run_conditions
from persona_lib.store import (
    Request,
    ResponseStore,
    complete_requests,
    make_run_info,
    request_keys,
)

DIALOGUE_COLUMNS = [
    "condition",
    "kind",
    "replicate",
    "round",
    "user",
    "assistant",
    "prompt_tokens",
    "completion_tokens",
    "finish_reason",
    "error",
    "key",
    "status",
    "stopped_at_round",
    "stop_reason",
]


@dataclass(frozen=True)
class DialogueSpec:
    """One dialogue to generate.

    Attributes:
        condition: Persona name, or ``empty`` for the baseline.
        kind: ``persona_directed`` or ``goal_oriented``.
        replicate: ``original`` or ``shuffled`` (user turns in shuffled order).
        system: The system messages opening every request (empty for the baseline unless a reasoning-off line).
        user_turns: The scripted user turns, one per round.
    """

    condition: str
    kind: str
    replicate: str
    system: list[Message]
    user_turns: list[str]


def dialogue_specs(config: RunConfig) -> list[DialogueSpec]:
    """Every dialogue a run needs: conditions × kinds × replicates, in that nesting order.

    Conditions are the selected personas, then the baseline (``empty``) if ``include_baseline``. The baseline's
    persona-directed interview addresses the model by ``config.model.name_in_dialogue``; a persona's interview
    addresses the persona by name. The shuffled replicate (if enabled) asks the questions in the order of
    ``config.shuffle_seed`` (the study's, 42, by default).
    """
    replicates: list[tuple[str, int | None]] = [(ORIGINAL, None)]
    if config.shuffled_replicate:
        replicates.append((SHUFFLED, config.shuffle_seed))

    specs = []
    for condition, persona in run_conditions(config):
        system = system_messages(persona, config.model.reasoning_off_system)
        addressed_as = persona.name if persona is not None else config.model.name_in_dialogue
        for kind in config.dialogue_kinds:
            for replicate, shuffle_seed in replicates:
                turns = load_script(kind, addressed_as, n_rounds=config.n_rounds, shuffle_seed=shuffle_seed)
                specs.append(DialogueSpec(condition, kind, replicate, list(system), list(turns)))
    return specs


def round_request(spec: DialogueSpec, history: Sequence[Message], round_number: int) -> Request:
    """The request of one dialogue round: the system messages, the dialogue's own rounds so far, the round's user turn.

    Args:
        spec: The dialogue.
        history: Its earlier rounds as messages (user, assistant, ...).
        round_number: The round (1 = the first user turn).
    """
    user = {"role": "user", "content": spec.user_turns[round_number - 1]}
    tags = {
        "stage": "dialogue",
        "condition": spec.condition,
        "kind": spec.kind,
        "replicate": spec.replicate,
        "round": round_number,
    }
    return Request(spec.system + list(history) + [user], tags)


def run_dialogues(
    specs: Sequence[DialogueSpec],
    backend: Backend,
    store: ResponseStore,
    params: SamplingParams,
    run_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Generate dialogues turn-synchronously: all active dialogues advance one round per batched call.

    Round ``r``'s request is the dialogue's system messages, its own rounds ``1..r-1`` (user, assistant) and user
    turn ``r``. A dialogue whose round ends in ``context_overflow`` or ``error`` stops there (recorded, never
    raised); the others continue. Every round is committed to the store before the next, and request keys are
    content addresses, so a re-run reuses every stored round and makes no backend call for them (stored errors
    are retried).

    Args:
        specs: The dialogues.
        backend: The model under test.
        store: The response store.
        params: Decoding parameters.
        run_info: Provenance stored with each new response.

    Returns:
        One row per attempted round (see ``DIALOGUE_COLUMNS``); ``status`` is ``completed`` or ``stopped``, with
        ``stopped_at_round`` and ``stop_reason`` (the finish reason and error message) for stopped dialogues.
    """
    histories: list[list[Message]] = [[] for _ in specs]
    stopped: dict[int, tuple[int, str]] = {}
    rows: list[dict[str, Any]] = []
    n_rounds = max((len(spec.user_turns) for spec in specs), default=0)
    with tqdm(total=n_rounds, desc="dialogues (rounds)", unit="round", dynamic_ncols=True) as bar:
        for round_number in range(1, n_rounds + 1):
            active = [
                index
                for index, spec in enumerate(specs)
                if index not in stopped and round_number <= len(spec.user_turns)
            ]
            if not active:
                break
            requests = [round_request(specs[index], histories[index], round_number) for index in active]
            records = complete_requests(
                store,
                backend,
                requests,
                params,
                run_info,
                batch_size=len(requests),
                desc=f"dialogues round {round_number}",
                show_progress=False,
            )
            keys = request_keys(backend.name, backend.model, params.as_dict(), (r.messages for r in requests))
            for index, request, key in zip(active, requests, keys):
                spec = specs[index]
                record = records[key]
                rows.append(
                    {
                        "condition": spec.condition,
                        "kind": spec.kind,
                        "replicate": spec.replicate,
                        "round": round_number,
                        "user": request.messages[-1]["content"],
                        "assistant": record.text if record.ok else None,
                        "prompt_tokens": record.prompt_tokens,
                        "completion_tokens": record.completion_tokens,
                        "finish_reason": record.finish_reason,
                        "error": record.error,
                        "key": key,
                    }
                )
                if record.ok:
                    histories[index] += [request.messages[-1], {"role": "assistant", "content": record.text}]
                else:
                    reason = record.finish_reason + (f": {record.error}" if record.error else "")
                    stopped[index] = (round_number, reason)
            bar.update(1)
            bar.set_postfix(active=len(active), stopped=len(stopped), refresh=False)

    table = pd.DataFrame(rows, columns=DIALOGUE_COLUMNS[:-3])
    status, stopped_at, reason = {}, {}, {}
    for index, spec in enumerate(specs):
        ident = (spec.condition, spec.kind, spec.replicate)
        status[ident] = "stopped" if index in stopped else "completed"
        stopped_at[ident] = stopped[index][0] if index in stopped else None
        reason[ident] = stopped[index][1] if index in stopped else None
    idents = list(zip(table["condition"], table["kind"], table["replicate"]))
    table["status"] = [status[ident] for ident in idents]
    table["stopped_at_round"] = pd.array([stopped_at[ident] for ident in idents], dtype="Int64")
    table["stop_reason"] = [reason[ident] for ident in idents]
    return table


def generate_dialogues(config: RunConfig, backend: Backend, store: ResponseStore) -> pd.DataFrame:
    """Generate (or resume) every dialogue of a run; see :func:`run_dialogues` for the contract.

    Args:
        config: The run configuration (personas, baseline, kinds, rounds, shuffled replicate, seed, sampling).
        backend: The model under test (``config.model``).
        store: The run's response store.

    Returns:
        The tidy dialogue table: condition, kind, replicate, round, user, assistant, prompt_tokens,
        completion_tokens, finish_reason, error, key, status, stopped_at_round, stop_reason.
    """
    return run_dialogues(
        dialogue_specs(config), backend, store, sampling_params(config.generation), make_run_info(backend, config)
    )


def load_dialogue(
    store: ResponseStore,
    condition: str,
    kind: str,
    replicate: str = ORIGINAL,
    model: str | None = None,
) -> list[Message]:
    """A stored dialogue as messages: system messages, then every answered round (user, assistant).

    Args:
        store: The response store.
        condition: Persona name or ``empty``.
        kind: ``persona_directed`` or ``goal_oriented``.
        replicate: ``original`` or ``shuffled``.
        model: Restrict to one model (needed when a store holds dialogues of several models).

    Returns:
        The messages up to the last answered round (the newest stored answer if rounds were stored twice).

    Raises:
        KeyError: if the store has no answered round for this dialogue.
    """
    table = store.to_dataframe(stage="dialogue")
    if table.empty:
        raise KeyError(f"{store.path}: no dialogue rounds stored")
    chosen = table[
        (table["condition"] == condition)
        & (table["kind"] == kind)
        & (table["replicate"] == replicate)
        & table["finish_reason"].isin(["stop", "length"])
    ]
    if model is not None:
        chosen = chosen[chosen["model"] == model]
    if chosen.empty:
        raise KeyError(
            f"{store.path}: no answered round for condition={condition!r}, kind={kind!r}, replicate={replicate!r}"
            + (f", model={model!r}" if model else "")
            + "; run generate_dialogues first"
        )
    last = chosen.sort_values(["round", "created"]).iloc[-1]
    record = store.get(last["key"])
    return list(record.messages) + [{"role": "assistant", "content": record.text}]


def dialogue_prefix_lengths(dialogues: pd.DataFrame, model: ModelConfig) -> pd.DataFrame:
    """Tokens of dialogue in front of an item asked after each round (original order), for length control.

    Counted as the study counted them: each round's user message and answer rendered alone with the model's chat
    template, summed over rounds, the system prompt excluded (:meth:`persona_lib.backends.PromptRenderer.round_tokens`),
    and 0 before round 1, so ``round`` matches the study's ``pos`` in ``round_lengths.csv``. When the model's
    tokenizer is not available locally (an API model), the backend's own counts are used instead: the prompt and
    answer tokens of the round, which include the system prompt and the chat template's framing (``counted_by``
    says which).

    Args:
        dialogues: The table of :func:`generate_dialogues`.
        model: The model under test (its name fills the ``model`` column; its tokenizer counts, when local).

    Returns:
        Columns model, condition, kind, round, prefix_tokens, counted_by (rounds 0 to the last answered round).
    """
    from persona_lib.backends import local_renderer

    original = dialogues[(dialogues["replicate"] == ORIGINAL) & dialogues["finish_reason"].isin(["stop", "length"])]
    original = original.sort_values(["condition", "kind", "round"])
    renderer = local_renderer(model)
    if renderer is not None:
        rounds = [
            renderer.round_tokens(row.user, row.assistant, first=row.round == 1)
            for row in original.itertuples(index=False)
        ]
        counted = original.assign(tokens=rounds)
        counted["prefix_tokens"] = counted.groupby(["condition", "kind"])["tokens"].cumsum()
        method = "chat template, system prompt excluded (the study's count)"
    else:
        counted = original.assign(prefix_tokens=original["prompt_tokens"] + original["completion_tokens"])
        method = "backend counts: system prompt and template framing included"
    starts = original[["condition", "kind"]].drop_duplicates().assign(round=0, prefix_tokens=0)
    table = pd.concat([starts, counted[["condition", "kind", "round", "prefix_tokens"]]], ignore_index=True)
    table = table.assign(model=model.model, counted_by=method).dropna()
    return table[["model", "condition", "kind", "round", "prefix_tokens", "counted_by"]].reset_index(drop=True)
