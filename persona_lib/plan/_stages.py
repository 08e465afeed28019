"""What each stage of a run sends to a model: requests, prompt tokens, prefill with prefix caching, answers.

Requests are built the way the pipeline builds them (``dialogue_specs``, ``benchmark_items``, ``schedule``, each
dataset's judge tasks, the validation samples) but without any model: answers are a placeholder whose length is
estimated (:mod:`persona_lib.plan._tokens`). Prefill with prefix caching comes from the simulator of
:mod:`persona_lib.generation._prefix_cache_sim`, each stage with an empty cache (the stages run in separate
processes), in the order the pipeline submits requests.
"""

from __future__ import annotations

import os
import random
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from persona_lib.config import RunConfig
from persona_lib.datasets import BenchmarkItem, ScoringInputs, dataset_names, get_dataset, load_validation_samples
from persona_lib.generation import benchmark_items, dialogue_specs, schedule, simulate_prefix_cache
from persona_lib.generation._common import ORIGINAL
from persona_lib.personas import Persona, load_personas
from persona_lib.plan._tokens import ReleasedLengths, TokenCounter, answer_lengths
from persona_lib.store import Request

ANSWER = "\u27e6answer\u27e7"
"""Placeholder standing for a model answer in a rendered judge prompt (replaced by its estimated length)."""

JUDGE_OUTPUT_TOKENS = 200
"""Assumed length of a judge's output (a short reasoning, then the verdict): an assumption, capped by
``judging.max_new_tokens``."""

Segments = tuple[tuple[Hashable, int], ...]
_IDENT_TAGS = ("condition", "kind", "checkpoint", "dataset", "item_id")


@dataclass(frozen=True)
class StagePlan:
    """What one step of a run sends to a model.

    Attributes:
        stage: The pipeline stage (``generate``, ``score``, ``validate``).
        step: What is sent (``dialogues``, ``benchmarks``, ``judge``, ``rules``).
        model: ``model`` (under test), ``judge``, or ``none`` (rule-based scoring on the CPU).
        requests: Requests as the protocol counts them.
        sent: Distinct requests (identical ones, e.g. a checkpoint-0 question of both dialogue kinds, are answered
            once).
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


def _plan(stage: str, step: str, model: str, requests: int, stream: list[Segments], generated: int,
          kv_budget: int | None) -> StagePlan:
    distinct = _distinct(stream)
    stats = simulate_prefix_cache(distinct, kv_budget)
    return StagePlan(stage, step, model, requests, len(distinct), stats.prompt_tokens, stats.prefill_tokens,
                     generated)


def _system_tokens(messages: Sequence[Mapping[str, str]], counter: TokenCounter) -> int:
    return sum(counter.count_many([message["content"] for message in messages]))


def dialogue_plan(
    config: RunConfig, counter: TokenCounter, lengths: ReleasedLengths, kv_budget: int | None
) -> tuple[StagePlan, dict[tuple[str, str], list[int]], dict[tuple[str, str], list[int]]]:
    """The dialogue stage: every dialogue advances one round per batch (turn-synchronous), as generated.

    Returns:
        The stage plan; the estimated dialogue prefix before each round ``0..n_rounds`` per (condition, kind) of
        the original order; and the estimated answer tokens per round per (condition, kind).
    """
    cap = config.generation.max_new_tokens
    dialogues = []
    prefixes: dict[tuple[str, str], list[int]] = {}
    answers: dict[tuple[str, str], list[int]] = {}
    for spec in dialogue_specs(config):
        user = counter.count_many(spec.user_turns)
        answer = answer_lengths(lengths.for_condition(spec.condition, spec.kind), user, cap)
        prefix = [0]
        for user_tokens, answer_tokens in zip(user, answer):
            prefix.append(prefix[-1] + user_tokens + answer_tokens)
        if spec.replicate == ORIGINAL:
            prefixes[(spec.condition, spec.kind)] = prefix
            answers[(spec.condition, spec.kind)] = answer
        dialogues.append((spec, _system_tokens(spec.system, counter), user, answer, prefix))
    stream: list[Segments] = []
    for round_index in range(config.n_rounds):
        for spec, system, user, _, prefix in dialogues:
            stream.append(((("system", spec.condition), system),
                           (("dialogue", spec.condition, spec.kind, spec.replicate),
                            prefix[round_index] + user[round_index])))
    generated = sum(sum(answer) for *_, answer, _ in dialogues)
    plan = _plan("generate", "dialogues", "model", len(stream), stream, generated, kv_budget)
    return plan, prefixes, answers


def benchmark_plan(
    config: RunConfig,
    personas: Sequence[Persona],
    counter: TokenCounter,
    prefixes: Mapping[tuple[str, str], list[int]],
    answer_tokens: int,
    kv_budget: int | None,
) -> tuple[StagePlan, dict[str, list[BenchmarkItem]]]:
    """The benchmark stage: every item at every checkpoint of every dialogue, in the scheduler's order.

    Args:
        config: The run configuration.
        personas: The run's personas.
        counter: Token counter.
        prefixes: Estimated dialogue prefix before each round, per (condition, kind).
        answer_tokens: Estimated tokens of one benchmark answer.
        kv_budget: KV-cache size in tokens for the simulation (``None``: unlimited).

    Returns:
        The stage plan, and the items each condition is asked.
    """
    items = benchmark_items(config, personas)
    systems = {spec.condition: _system_tokens(spec.system, counter) for spec in dialogue_specs(config)}
    requests, segments = [], {}
    for condition, condition_items in items.items():
        item_tokens = counter.count_many([item.prompt for item in condition_items])
        for kind in config.dialogue_kinds:
            for checkpoint in config.resolved_checkpoints():
                for item, tokens in zip(condition_items, item_tokens):
                    ident = (condition, kind, checkpoint, item.dataset, item.item_id)
                    requests.append(Request([], dict(zip(_IDENT_TAGS, ident))))
                    segments[ident] = (
                        (("system", condition), systems[condition]),
                        (("dialogue", condition, kind, ORIGINAL), prefixes[(condition, kind)][checkpoint]),
                        (("item", item.dataset, item.item_id, item.prompt), tokens),
                    )
    stream = [segments[tuple(request.tags[tag] for tag in _IDENT_TAGS)]
              for group in schedule(requests) for request in group]
    plan = _plan("generate", "benchmarks", "model", len(requests), stream, 0, kv_budget)
    return StagePlan(**{**plan.__dict__, "generated_tokens": plan.sent * answer_tokens}), items


def _judge_stream(prompts: Sequence[tuple[str, Hashable, int]], counter: TokenCounter) -> list[Segments]:
    """Judge requests as segments: the instructions every prompt of a template shares, then the rest.

    Args:
        prompts: ``(rendered prompt with ANSWER placeholders, template key, tokens of one answer)``.
        counter: Token counter.
    """
    heads: dict[Hashable, str] = {}
    for prompt, template, _ in prompts:
        heads[template] = os.path.commonprefix([heads.get(template, prompt), prompt])
    head_tokens = {template: counter.count(head) for template, head in heads.items()}
    placeholder = counter.count(ANSWER)
    totals = counter.count_many([prompt for prompt, _, _ in prompts])
    stream = []
    for index, ((prompt, template, answer), total) in enumerate(zip(prompts, totals)):
        slots = prompt.count(ANSWER)
        tokens = total + slots * (answer - placeholder)
        head = min(head_tokens[template], tokens)
        stream.append(((("judge-head", template), head), (("judge", index), tokens - head)))
    return stream


def _answers_table(items: Mapping[str, list[BenchmarkItem]], dataset: str, kind: str, checkpoint: int) -> (
    pd.DataFrame
):
    rows = [
        {"condition": condition, "kind": kind, "checkpoint": checkpoint, "replicate": ORIGINAL, "dataset": dataset,
         "item_id": item.item_id, "prompt": item.prompt, "response": ANSWER, "finish_reason": "stop"}
        for condition, condition_items in items.items() for item in condition_items if item.dataset == dataset
    ]
    return pd.DataFrame(rows)


def _dialogue_table(config: RunConfig) -> pd.DataFrame:
    rows = [
        {"condition": spec.condition, "kind": spec.kind, "replicate": spec.replicate, "round": number, "user": user,
         "assistant": ANSWER, "finish_reason": "stop"}
        for spec in dialogue_specs(config) for number, user in enumerate(spec.user_turns, start=1)
    ]
    return pd.DataFrame(rows)


def judge_plan(
    config: RunConfig,
    personas: Sequence[Persona],
    items: Mapping[str, list[BenchmarkItem]],
    counter: TokenCounter,
    dialogue_answers: Mapping[tuple[str, str], list[int]],
    answer_tokens: int,
    kv_budget: int | None,
) -> list[StagePlan]:
    """The score stage: the judge's calls for every judged dataset, and the rule checks of the others.

    A benchmark answer's judge prompt does not depend on the dialogue kind or checkpoint (only the answer does),
    so each (condition, item) prompt is rendered once and counted once per kind and checkpoint; at checkpoint 0
    both kinds ask the same question, get the same answer and the same judge call.
    """
    index = {persona.name: persona for persona in personas}
    kinds, checkpoints = config.dialogue_kinds, config.resolved_checkpoints()
    per_prompt = len(kinds) * len(checkpoints)
    sent_per_prompt = per_prompt - (len(kinds) - 1 if 0 in checkpoints else 0)
    prompts: list[tuple[str, Hashable, int]] = []
    requests = sent = 0
    rule_requests = rule_checks = 0
    for dataset in config.datasets:
        spec = get_dataset(dataset)
        if not spec.asked_at_checkpoints:
            continue
        answers = _answers_table(items, dataset, kinds[0], checkpoints[0])
        if spec.rule_scores is not None:
            rule_requests += len(answers) * per_prompt
            rule_checks += len(answers) * sent_per_prompt
            continue
        all_items = {item.item_id: item for item in spec.load(config.dataset_file(dataset))} if len(answers) else {}
        inputs = ScoringInputs(answers=answers, dialogues=None, items=all_items, personas=index,
                               model=config.model.model)
        tasks, _ = spec.judge_tasks(inputs)
        for task in tasks:
            prompts += [(task.prompt, (dataset, task.row.get("metric")), answer_tokens)] * sent_per_prompt
        requests += len(tasks) * per_prompt
        sent += len(tasks) * sent_per_prompt
    if "fidelity" in config.datasets:
        inputs = ScoringInputs(answers=pd.DataFrame(), dialogues=_dialogue_table(config), items={}, personas=index,
                               model=config.model.model)
        tasks, _ = get_dataset("fidelity").judge_tasks(inputs)
        for task in tasks:
            row = task.row
            answer = dialogue_answers[(row["condition"], row["kind"])][row["checkpoint"] - 1]
            prompts.append((task.prompt, ("fidelity", row["metric"]), answer))
        requests += len(tasks)
        sent += len(tasks)
    generated = sent * min(JUDGE_OUTPUT_TOKENS, config.judging.max_new_tokens)
    stream = _judge_stream(prompts, counter)
    stats = simulate_prefix_cache(stream, kv_budget)
    plans = [StagePlan("score", "judge", "judge", requests, sent, stats.prompt_tokens, stats.prefill_tokens,
                       generated)]
    if rule_checks:
        plans.append(StagePlan("score", "rules", "none", rule_requests, rule_checks, 0, 0, 0))
    return plans


def validation_plan(config: RunConfig, counter: TokenCounter, kv_budget: int | None) -> StagePlan:
    """The validate stage: the judge on the human-labelled samples of every dataset that has them."""
    personas = load_personas()
    prompts: list[tuple[str, Hashable, int]] = []
    limit = config.judge_validation_items
    for dataset in dataset_names():
        spec = get_dataset(dataset)
        if spec.validation is None:
            continue
        samples = load_validation_samples(spec)
        if limit is not None and limit < len(samples):
            keep = sorted(random.Random(config.seed).sample(range(len(samples)), limit))
            samples = [samples[i] for i in keep]
        prompts += [(spec.validation.to_task(sample, personas).prompt, (dataset, sample.criterion), 0)
                    for sample in samples]
    generated = len(prompts) * min(JUDGE_OUTPUT_TOKENS, config.judging.max_new_tokens)
    stats = simulate_prefix_cache(_judge_stream(prompts, counter), kv_budget)
    return StagePlan("validate", "judge", "judge", len(prompts), len(prompts), stats.prompt_tokens,
                     stats.prefill_tokens, generated)
