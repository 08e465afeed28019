"""What each stage of a run sends to a model: requests, prompt tokens, prefill with prefix caching, answers.

Requests are built by the pipeline's own builders — dialogue rounds by :func:`persona_lib.generation.round_request`,
benchmark questions by :func:`persona_lib.generation.conditioned_requests` in :func:`persona_lib.generation.schedule`'s
order, judge calls by each dataset's scorer and :func:`persona_lib.judging.judge_call_groups` — but without any
model. An answer that does not exist yet is a placeholder
naming the answer's identity — two requests with the same content get the same answer, as in the content-addressed
store — so identical requests and identical judge calls are counted once, as the store sends them once. Placeholders
count as the answer's estimated length (:mod:`persona_lib.plan._tokens`). Prefill with prefix caching comes from the
simulator of :mod:`persona_lib.generation._prefix_cache_sim`, each stage with an empty cache (the stages run in
separate processes), in the order the pipeline submits requests.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from persona_lib.config import ModelConfig, RunConfig
from persona_lib.datasets import BenchmarkItem, ScoringInputs, dataset_names, get_dataset, load_validation_samples
from persona_lib.generation import (
    ORIGINAL,
    conditioned_requests,
    dialogue_specs,
    round_request,
    schedule,
    simulate_prefix_cache,
)
from persona_lib.judging import JudgeTask, judge_call_groups
from persona_lib.personas import Persona, load_personas
from persona_lib.plan._tokens import ReleasedLengths, TokenCounter, answer_lengths
from persona_lib.resolve import item_file
from persona_lib.store import Request

ANSWER = "\u27e6answer\u27e7"
"""What an answer placeholder is counted as before its estimated length is added."""
_PLACEHOLDER = re.compile("\u27e6answer ([0-9a-f]+)\u27e7")

JUDGE_OUTPUT_TOKENS = 200
"""Assumed length of a judge's output (a short reasoning, then the verdict): an assumption, capped by
``judging.max_new_tokens``."""
DEFAULT_BLOCK_SIZE = 16
"""Tokens per KV-cache block when the engine's ``block_size`` is not configured: vLLM's default on a GPU (vLLM on a
CPU uses 128)."""


Segments = tuple[tuple[Hashable, int], ...]


@dataclass(frozen=True)
class StagePlan:
    """What one step of a run sends to a model.

    Attributes:
        stage: The pipeline stage (``generate``, ``score``, ``validate``).
        step: What is sent (``dialogues``, ``benchmarks``, ``judge``, ``rules``).
        model: ``model`` (under test), ``judge``, or ``none`` (rule-based scoring on the CPU).
        requests: Requests as the protocol counts them.
        sent: Distinct requests (identical ones — e.g. a checkpoint-0 question of both dialogue kinds — are
            answered once).
        prompt_tokens: Prompt tokens of the distinct requests: the prefill without prefix caching.
        prefill_tokens: Prompt tokens computed with prefix caching (simulated).
        generated_tokens: Estimated answer tokens.
    """

    stage: str
    step: str
    model: str
    requests: int
    sent: int
    prompt_tokens: int
    prefill_tokens: int
    generated_tokens: int


def cache_block_size(model: ModelConfig) -> int:
    """Tokens per KV-cache block of ``model``'s engine: ``model.extra.block_size`` (a vLLM engine argument), else
    :data:`DEFAULT_BLOCK_SIZE`."""
    return int(model.extra.get("block_size", DEFAULT_BLOCK_SIZE))


def _identity(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:16]


def placeholder(identity: str) -> str:
    """The stand-in text of the answer with this identity."""
    return f"\u27e6answer {identity}\u27e7"


def _distinct(stream: Sequence[Segments]) -> list[Segments]:
    """The requests of ``stream`` that differ (identical prompts are answered once), zero-length segments dropped."""
    seen: set[Segments] = set()
    out = []
    for segments in stream:
        kept = tuple(segment for segment in segments if segment[1] > 0)
        if kept not in seen:
            seen.add(kept)
            out.append(kept)
    return out


def _system_tokens(messages: Sequence[Mapping[str, str]], counter: TokenCounter) -> int:
    return sum(counter.count_many([message["content"] for message in messages]))


def _message_segments(
    messages: Sequence[Mapping[str, str]], counter: TokenCounter, answer_tokens: Mapping[str, int]
) -> Segments:
    """A request's messages as cache segments, one per message: its text, counted (an answer placeholder counts as
    the answer's estimated length). The simulator keys each block by everything before it, so two requests share
    exactly their identical leading messages."""
    segments = []
    for message in messages:
        identity = _PLACEHOLDER.fullmatch(message["content"])
        tokens = answer_tokens[identity.group(1)] if identity else counter.count(message["content"])
        segments.append(((message["role"], message["content"]), tokens))
    return tuple(segments)


@dataclass(frozen=True)
class DialogueEstimate:
    """The estimated shape of every dialogue of a run.

    Attributes:
        prefixes: Tokens of dialogue before each round ``0..n_rounds``, per (condition, kind), original order.
        answers: Estimated answer tokens per round and the answer's identity, per (condition, kind, replicate).
    """

    prefixes: dict[tuple[str, str], list[int]]
    answers: dict[tuple[str, str, str], list[tuple[int, str]]]


def dialogue_plan(
    config: RunConfig, counter: TokenCounter, lengths: ReleasedLengths, kv_budget: int | None
) -> tuple[StagePlan, DialogueEstimate]:
    """The dialogue stage: every dialogue advances one round per batch (turn-synchronous), as generated.

    A shuffled replicate shares its opening rounds with the original while their user turns agree (the interview
    keeps its introductory remark first), so those requests are the original's and are sent once.
    """
    cap = config.generation.max_new_tokens
    specs = dialogue_specs(config)
    prefixes, answers = {}, {}
    for spec in specs:
        user = counter.count_many(spec.user_turns)
        answer = answer_lengths(lengths.for_condition(spec.condition, spec.kind), user, cap)
        if spec.replicate == ORIGINAL:
            prefixes[(spec.condition, spec.kind)] = [0, *itertools.accumulate(map(sum, zip(user, answer)))]
        turns = spec.user_turns
        answers[(spec.condition, spec.kind, spec.replicate)] = [
            (tokens, _identity(spec.condition, spec.kind, tuple(turns[: number + 1])))
            for number, tokens in enumerate(answer)
        ]
    answer_tokens = {identity: tokens for values in answers.values() for tokens, identity in values}
    # The requests run_dialogues sends, round by round (every dialogue answered, none stopping early), with each
    # answer a placeholder: a shuffled replicate's opening rounds that agree with the original are the same request.
    histories: dict[int, list] = {index: [] for index in range(len(specs))}
    stream: list[Segments] = []
    for round_number in range(1, config.n_rounds + 1):
        for index, spec in enumerate(specs):
            request = round_request(spec, histories[index], round_number)
            stream.append(_message_segments(request.messages, counter, answer_tokens))
            identity = answers[(spec.condition, spec.kind, spec.replicate)][round_number - 1][1]
            histories[index] += [request.messages[-1], {"role": "assistant", "content": placeholder(identity)}]
    distinct = _distinct(stream)
    stats = simulate_prefix_cache(distinct, kv_budget, cache_block_size(config.model))
    sent_answers = {identity: tokens for values in answers.values() for tokens, identity in values}
    plan = StagePlan(
        "generate",
        "dialogues",
        "model",
        len(stream),
        len(distinct),
        stats.prompt_tokens,
        stats.prefill_tokens,
        sum(sent_answers.values()),
    )
    return plan, DialogueEstimate(prefixes, answers)


def _benchmark_identity(condition: str, kind: str, checkpoint: int, prompt: str) -> str:
    """Identical requests get identical answers: at checkpoint 0 there is no dialogue, so the kind does not matter."""
    return _identity(condition, kind if checkpoint else None, checkpoint, prompt)


def benchmark_plan(
    config: RunConfig,
    items: Mapping[str, list[BenchmarkItem]],
    counter: TokenCounter,
    dialogues: DialogueEstimate,
    answer_tokens: int,
    kv_budget: int | None,
) -> StagePlan:
    """The benchmark stage: every item at every checkpoint of every dialogue, in the scheduler's order.

    The requests are the pipeline's own (:func:`persona_lib.generation.conditioned_requests` on the estimated
    dialogues, submitted in :func:`persona_lib.generation.schedule`'s order). For the cache simulation each request
    is three segments: its system messages, the dialogue's first ``checkpoint`` rounds (one stream per dialogue,
    so a later checkpoint extends an earlier one's prefix) and the item.

    Args:
        config: The run configuration.
        items: The items each condition is asked (``benchmark_items``).
        counter: Token counter.
        dialogues: The estimated dialogues (:func:`dialogue_plan`).
        answer_tokens: Estimated tokens of one benchmark answer.
        kv_budget: KV-cache size in tokens for the simulation (``None``: unlimited).
    """
    systems = {spec.condition: spec.system for spec in dialogue_specs(config) if spec.replicate == ORIGINAL}
    requests, _ = conditioned_requests(
        _dialogue_table(config, dialogues), systems, items, config.dialogue_kinds, config.resolved_checkpoints()
    )
    system_tokens = {condition: _system_tokens(system, counter) for condition, system in systems.items()}
    prompts = list(dict.fromkeys(request.messages[-1]["content"] for request in requests))
    item_tokens = dict(zip(prompts, counter.count_many(prompts)))

    def segments(request: Request) -> Segments:
        tags, prompt = request.tags, request.messages[-1]["content"]
        condition, kind = tags["condition"], tags["kind"]
        return (
            (("system", condition), system_tokens[condition]),
            (("dialogue", condition, kind, ORIGINAL), dialogues.prefixes[(condition, kind)][tags["checkpoint"]]),
            (("item", prompt), item_tokens[prompt]),
        )

    stream = [segments(request) for group in schedule(requests) for request in group]
    distinct = _distinct(stream)
    stats = simulate_prefix_cache(distinct, kv_budget, cache_block_size(config.model))
    return StagePlan(
        "generate",
        "benchmarks",
        "model",
        len(requests),
        len(distinct),
        stats.prompt_tokens,
        stats.prefill_tokens,
        len(distinct) * answer_tokens,
    )


def _answers_table(config: RunConfig, items: Mapping[str, list[BenchmarkItem]]) -> pd.DataFrame:
    """Every benchmark answer of the run, its text a placeholder naming the answer."""
    rows = [
        {
            "condition": condition,
            "kind": kind,
            "checkpoint": checkpoint,
            "replicate": ORIGINAL,
            "dataset": item.dataset,
            "item_id": item.item_id,
            "prompt": item.prompt,
            "finish_reason": "stop",
            "response": placeholder(_benchmark_identity(condition, kind, checkpoint, item.prompt)),
        }
        for condition, condition_items in items.items()
        for kind in config.dialogue_kinds
        for checkpoint in config.resolved_checkpoints()
        for item in condition_items
    ]
    return pd.DataFrame(rows)


def _dialogue_table(config: RunConfig, dialogues: DialogueEstimate) -> pd.DataFrame:
    rows = [
        {
            "condition": spec.condition,
            "kind": spec.kind,
            "replicate": spec.replicate,
            "round": number,
            "user": user,
            "finish_reason": "stop",
            "assistant": placeholder(dialogues.answers[(spec.condition, spec.kind, spec.replicate)][number - 1][1]),
            "prompt_tokens": None,
            "completion_tokens": None,
        }
        for spec in dialogue_specs(config)
        for number, user in enumerate(spec.user_turns, start=1)
    ]
    return pd.DataFrame(rows)


def _judge_calls(config: RunConfig, tasks: Sequence[JudgeTask]) -> list[tuple[str, str, JudgeTask]]:
    """``(mode, prompt, task)`` of every judge request the tasks make, in the order
    :func:`persona_lib.judging.run_judge_tasks` sends them (:func:`persona_lib.judging.judge_call_groups`)."""
    _, groups = judge_call_groups(tasks, config)
    return [(call.mode, call.prompt, tasks[call.task]) for group in groups for call in group.calls]


def _judge_output_tokens(config: RunConfig, modes: Sequence[str]) -> int:
    """Tokens the judge generates: an assumed reasoning and verdict per generated judgement, none per distribution."""
    per_call = min(JUDGE_OUTPUT_TOKENS, config.judging.max_new_tokens)
    return sum(per_call for mode in modes if mode == "generate")


def _judge_stream(
    prompts: Sequence[tuple[str, Hashable, int | None]], counter: TokenCounter, answer_tokens: Mapping[str, int]
) -> list[Segments]:
    """Judge requests as segments: the instructions every prompt of a template shares, then the rest.

    Args:
        prompts: ``(prompt with answer placeholders, template key, prompt-token limit or None)``.
        counter: Token counter.
        answer_tokens: Estimated tokens of each answer, by identity.
    """
    generic = [_PLACEHOLDER.sub(ANSWER, prompt) for prompt, _, _ in prompts]
    heads: dict[Hashable, str] = {}
    for text, (_, template, _) in zip(generic, prompts):
        heads[template] = os.path.commonprefix([heads.get(template, text), text])
    head_tokens = {template: counter.count(head) for template, head in heads.items()}
    slot = counter.count(ANSWER)
    totals = counter.count_many(generic)
    stream = []
    for index, ((prompt, template, limit), total) in enumerate(zip(prompts, totals)):
        tokens = total + sum(answer_tokens[identity] - slot for identity in _PLACEHOLDER.findall(prompt))
        if limit is not None and tokens > limit:  # only the prompt's last tokens are kept: no shared head
            stream.append(((("judge", index), limit),))
            continue
        head = min(head_tokens[template], tokens)
        stream.append(((("judge-head", template), head), (("judge", index), tokens - head)))
    return stream


def judge_plan(
    config: RunConfig,
    personas: Sequence[Persona],
    items: Mapping[str, list[BenchmarkItem]],
    counter: TokenCounter,
    dialogues: DialogueEstimate,
    answer_tokens: int,
    kv_budget: int | None,
) -> list[StagePlan]:
    """The score stage: every configured dataset's scorer run on placeholder answers, as
    :func:`persona_lib.scoring.score_run` runs them.

    Judge calls with identical prompts (the same question answered identically) are sent once; benchmark prompts
    over ``judging.truncate_prompt_tokens`` are cut to it, as the judge backend does.
    """
    index = {persona.name: persona for persona in personas}
    answers = _answers_table(config, items)
    dialogue_table = _dialogue_table(config, dialogues)
    lengths = {identity: tokens for values in dialogues.answers.values() for tokens, identity in values}
    lengths.update(
        {_PLACEHOLDER.fullmatch(text).group(1): answer_tokens for text in answers["response"]} if len(answers) else {}
    )
    tasks = []
    rule_requests = rule_sent = 0
    for dataset in config.datasets:
        spec = get_dataset(dataset)
        mine = answers[answers["dataset"] == dataset] if len(answers) else answers
        all_items = (
            {item.item_id: item for item in spec.load(item_file(config, dataset))}
            if spec.asked_at_checkpoints and len(mine)
            else {}
        )
        inputs = ScoringInputs(
            answers=mine, dialogues=dialogue_table, items=all_items, personas=index, model=config.model.model
        )
        if spec.rule_scores is not None:
            rule_requests += len(mine)
            rule_sent += mine["response"].nunique() if len(mine) else 0
            continue
        tasks += spec.judge_tasks(inputs)[0]
    limit = config.judging.truncate_prompt_tokens
    calls = _judge_calls(config, tasks)
    unique = {(mode, text, task.truncate_prompt): (mode, text, task) for mode, text, task in calls}.values()
    prompts = [
        (text, (task.row.get("dataset"), task.row.get("metric")), limit if task.truncate_prompt else None)
        for _, text, task in unique
    ]
    stats = simulate_prefix_cache(_judge_stream(prompts, counter, lengths), kv_budget, cache_block_size(config.judge))
    generated = _judge_output_tokens(config, [mode for mode, _, _ in unique])
    plans = [
        StagePlan(
            "score", "judge", "judge", len(calls), len(prompts), stats.prompt_tokens, stats.prefill_tokens, generated
        )
    ]
    if rule_requests:
        plans.append(StagePlan("score", "rules", "none", rule_requests, rule_sent, 0, 0, 0))
    return plans


def validation_plan(config: RunConfig, counter: TokenCounter, kv_budget: int | None) -> StagePlan:
    """The validate stage: the judge on the human-labelled samples of every dataset that has them."""
    personas = load_personas()
    prompts: list[tuple[str, Hashable, int | None]] = []
    modes: list[str] = []
    limit = config.judge_validation_items
    for dataset in dataset_names():
        spec = get_dataset(dataset)
        if spec.validation is None:
            continue
        samples = load_validation_samples(spec)
        if limit is not None and limit < len(samples):
            keep = sorted(random.Random(config.seed).sample(range(len(samples)), limit))
            samples = [samples[i] for i in keep]
        for mode, text, task in _judge_calls(config, [spec.validation.to_task(sample, personas) for sample in samples]):
            cap = config.judging.truncate_prompt_tokens if task.truncate_prompt else None
            prompts.append((text, (dataset, task.row.get("metric")), cap))
            modes.append(mode)
    generated = _judge_output_tokens(config, modes)
    stats = simulate_prefix_cache(_judge_stream(prompts, counter, {}), kv_budget, cache_block_size(config.judge))
    return StagePlan(
        "validate", "judge", "judge", len(prompts), len(prompts), stats.prompt_tokens, stats.prefill_tokens, generated
    )
