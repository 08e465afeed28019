"""What a run will do before it does it: requests, tokens, what is already stored, and GPU-hours.

``persona-eval plan --config FILE [--gpu NAME | --tokens-per-second N]`` prints, per stage, the requests sent to the
model under test and to the judge, their prompt tokens without prefix caching and the tokens actually prefilled
with it (simulated in the pipeline's submission order), the estimated generated tokens, how many answers the run's
store already holds, and — given a throughput — GPU-hours. :func:`plan_run` returns the same as a :class:`RunPlan`
(``plan.table()`` is a DataFrame) for the book.

Counts follow the pipeline: dialogues = conditions x kinds x replicates, one request per round; benchmark requests
= each condition's items x kinds x checkpoints; judge calls = judged datasets' answers (items x conditions x kinds x
checkpoints) plus 3 per persona turn for dialogue fidelity (both replicates); validation = ``judge_validation_items``
(or all 50) per dataset with human labels. Token counts are estimates (:mod:`persona_lib.plan._tokens`); GPU-hours
rest on stated throughput assumptions (:mod:`persona_lib.plan._throughput`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from persona_lib.config import RunConfig
from persona_lib.generation import benchmark_items
from persona_lib.plan._machine import (
    CONFIRM_ABOVE_REQUESTS,
    GPU_BACKENDS,
    STAGE_REQUESTS,
    MeasuredRate,
    estimate_lines,
    known_rates,
    measure_stage,
    rate_key,
    record_rate,
)
from persona_lib.plan._stages import (
    JUDGE_OUTPUT_TOKENS,
    StagePlan,
    benchmark_plan,
    cache_block_size,
    dialogue_plan,
    judge_plan,
    validation_plan,
)
from persona_lib.plan._throughput import GPU_THROUGHPUT, Throughput, resolve_throughput
from persona_lib.plan._tokens import TokenCounter, released_lengths, token_counter
from persona_lib.resolve import run_personas
from persona_lib.store import connect_read_only

_STORE_STAGES = {
    "dialogue": ("generate", "dialogues"),
    "benchmark": ("generate", "benchmarks"),
    "judge": ("score", "judge"),
    "validate": ("validate", "judge"),
}
_VALIDATION_MODEL = "released-validation-sample"


def stored_answers(folder: str | Path) -> dict[tuple[str, str], int]:
    """Final answers (not errors) already in a run folder's store, per (stage, step); ``{}`` without a store.

    The store is opened read-only. Answers of any configuration count (the store is content-addressed: those the
    run asks again are reused, the others are kept).
    """
    path = Path(folder) / "responses.sqlite"
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    db = connect_read_only(path)
    try:
        rows = db.execute(
            "SELECT CASE WHEN t.stage = 'judge' AND json_extract(t.tags, '$.model_under_test') = ? THEN 'validate' "
            "ELSE t.stage END AS part, COUNT(DISTINCT r.key) FROM responses r JOIN tags t ON t.key = r.key "
            "WHERE r.finish_reason != 'error' GROUP BY part",
            (_VALIDATION_MODEL,),
        ).fetchall()
    except sqlite3.DatabaseError:
        return {}
    finally:
        db.close()
    return {_STORE_STAGES[part]: count for part, count in rows if part in _STORE_STAGES}


@dataclass(frozen=True)
class RunPlan:
    """The plan of one run.

    Attributes:
        name: The run's name.
        output_dir: Its run folder.
        steps: What each stage sends (see :class:`StagePlan`).
        stored: Final answers already stored, per (stage, step).
        throughput: The rates GPU-hours are estimated with (``None``: no estimate).
        notes: How the numbers were made (token source, answer lengths, assumptions).
    """

    name: str
    output_dir: str
    steps: tuple[StagePlan, ...]
    stored: dict[tuple[str, str], int]
    throughput: Throughput | None
    notes: tuple[str, ...]

    def table(self) -> pd.DataFrame:
        """One row per step: stage, step, model, requests, sent, prompt_tokens, prefill_tokens,
        generated_tokens, stored, gpu_hours (NaN without a throughput)."""
        rows = []
        for step in self.steps:
            row = asdict(step)
            row["stored"] = self.stored.get((step.stage, step.step), 0)
            if self.throughput is None:
                row["gpu_hours"] = float("nan")
            elif step.model == "none":  # rule-based scoring runs on the CPU
                row["gpu_hours"] = 0.0
            else:
                row["gpu_hours"] = self.throughput.hours(step.prefill_tokens, step.generated_tokens)
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def gpu_hours(self) -> float:
        """Total estimated GPU-hours (NaN without a throughput)."""
        return float(self.table()["gpu_hours"].sum(min_count=1))

    def format(self) -> str:
        """The plan as a text table with totals and the notes on how it was estimated."""
        table = self.table()
        totals = table.sum(numeric_only=True)
        table = pd.concat(
            [table, pd.DataFrame([{**totals.to_dict(), "stage": "total", "step": "", "model": ""}])], ignore_index=True
        )
        shown = pd.DataFrame(
            {
                "stage": table["stage"],
                "step": table["step"],
                "model": table["model"],
                "requests": table["requests"].map("{:,.0f}".format),
                "sent": table["sent"].map("{:,.0f}".format),
                "prompt tokens (no cache)": table["prompt_tokens"].map("{:,.0f}".format),
                "prefill (prefix cache)": table["prefill_tokens"].map("{:,.0f}".format),
                "generated": table["generated_tokens"].map("{:,.0f}".format),
                "stored": table["stored"].map("{:,.0f}".format),
            }
        )
        if self.throughput is not None:
            shown["GPU-hours"] = table["gpu_hours"].map("{:,.1f}".format)
        heading = f"plan of run {self.name!r} (run folder {_shown(self.output_dir)})"
        lines = [heading, "", shown.to_string(index=False), ""]
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)


def _shown(folder: str) -> str:
    """A run folder as the command line shows it: relative to the current folder when inside it."""
    try:
        return Path(folder).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return folder


def plan_run(
    config: RunConfig,
    throughput: Throughput | None = None,
    kv_budget_tokens: int | None = None,
    use_tokenizer: bool = True,
) -> RunPlan:
    """Plan a run: what every stage will send, at what token cost, and (given a throughput) how many GPU-hours.

    Args:
        config: The run configuration.
        throughput: Token rates for the GPU-hour estimate (:func:`resolve_throughput`); ``None``: no estimate.
        kv_budget_tokens: KV-cache size (tokens) for the prefix-cache simulation; ``None`` simulates an unlimited
            cache, the lower bound where every distinct prompt block is computed once.
        use_tokenizer: Count tokens with the model's tokenizer when it is on this machine.

    Returns:
        The plan.
    """
    personas = run_personas(config)
    counter = token_counter(config.model, use_tokenizer)
    judge_counter = counter if config.judge == config.model else token_counter(config.judge, use_tokenizer)
    lengths = released_lengths(config.model)
    dialogues, shape = dialogue_plan(config, counter, lengths, kv_budget_tokens)
    per_round = [tokens for values in shape.answers.values() for tokens, _ in values]
    answer_tokens = round(sum(per_round) / len(per_round)) if per_round else 1
    items = benchmark_items(config, personas)
    steps = [dialogues, benchmark_plan(config, items, counter, shape, answer_tokens, kv_budget_tokens)]
    steps += judge_plan(config, personas, items, judge_counter, shape, answer_tokens, kv_budget_tokens)
    steps.append(validation_plan(config, judge_counter, kv_budget_tokens))
    return RunPlan(
        name=config.name,
        output_dir=config.output_dir,
        steps=tuple(steps),
        stored=stored_answers(config.output_dir),
        throughput=throughput,
        notes=_notes(config, counter, judge_counter, lengths.source, answer_tokens, throughput, kv_budget_tokens),
    )


def _judge_output_note(config: RunConfig) -> str:
    generated = f"{min(JUDGE_OUTPUT_TOKENS, config.judging.max_new_tokens)} tokens each"
    orders = "; RoleBench comparisons judged in both answer orders" if config.judging.pairwise_orders == 2 else ""
    if config.judging.mode == "distribution":
        return f"judge read by its label distribution: one forward pass per call, no generated tokens{orders}"
    if config.judging.mode == "both":
        return (
            f"judge read both ways: generated verdicts assumed {generated}, plus one label-distribution pass per "
            f"call{orders}"
        )
    return f"judge outputs assumed {generated}{orders}"


def _notes(
    config: RunConfig,
    counter: TokenCounter,
    judge_counter: TokenCounter,
    lengths: str,
    answer_tokens: int,
    throughput: Throughput | None,
    kv_budget: int | None,
) -> tuple[str, ...]:
    cache = (
        f"a {kv_budget:,}-token KV cache"
        if kv_budget
        else "an unlimited cache: the floor, every distinct prompt block computed once"
    )
    notes = [
        f"texts counted with {counter.label}"
        + (f"; judge prompts with {judge_counter.label}" if judge_counter is not counter else ""),
        f"answer lengths from {lengths}: dialogue answers per round (capped at max_new_tokens="
        f"{config.generation.max_new_tokens}); each benchmark answer assumed {answer_tokens:,} tokens (their mean)",
        _judge_output_note(config),
        f"prefill with prefix caching: vLLM-like block cache simulated per stage with {cache}, in the pipeline's "
        f"submission order, {cache_block_size(config.model)}-token blocks (model.extra.block_size, else vLLM's GPU "
        "default); dialogue counts assume no dialogue stops early",
        "stored: final answers already in the run's store (persona-eval run reuses those it asks again)",
    ]
    if throughput is not None:
        notes.append(
            f"GPU-hours = prefill / {throughput.prefill_tokens_per_second:,.0f} tok/s + generated / "
            f"{throughput.decode_tokens_per_second:,.0f} tok/s ({throughput.name}: {throughput.source}); the judge "
            "is assumed to run at the same rates"
        )
    else:
        notes.append(f"no GPU-hours: give --gpu ({', '.join(GPU_THROUGHPUT)}) or --tokens-per-second")
    return tuple(notes)


def large_run_summary(config: RunConfig) -> str | None:
    """What to show before a long run on this machine's CPU, or None when no confirmation is needed.

    None when the model under test or the judge runs on a GPU backend (:data:`GPU_BACKENDS`) or the run sends at most
    :data:`CONFIRM_ABOVE_REQUESTS` requests; else the plan's size (counted without the tokenizer, in seconds) and,
    where an earlier run measured this machine's rate for the same model, the hours it implies
    (:func:`estimate_lines`).
    """
    if {config.model.backend, config.judge.backend} & GPU_BACKENDS:
        return None
    table = plan_run(config, use_tokenizer=False).table()
    requests = int(table["requests"].sum())
    if requests <= CONFIRM_ABOVE_REQUESTS:
        return None
    generated = table.groupby("stage")["generated_tokens"].sum()
    models = {"generate": config.model, "score": config.judge}
    lines = [
        f"this run sends {requests:,} requests ({int(generated.sum()):,} generated tokens, estimated) to models on "
        f"this machine's CPU ({config.model.backend}: {config.model.model}; judge {config.judge.backend}: "
        f"{config.judge.model}); `persona-eval plan --config ...` shows them stage by stage",
        *estimate_lines({stage: float(generated.get(stage, 0)) for stage in models}, models),
    ]
    return "\n".join(lines)


__all__ = [
    "CONFIRM_ABOVE_REQUESTS",
    "GPU_BACKENDS",
    "GPU_THROUGHPUT",
    "MeasuredRate",
    "STAGE_REQUESTS",
    "estimate_lines",
    "known_rates",
    "large_run_summary",
    "measure_stage",
    "rate_key",
    "record_rate",
    "JUDGE_OUTPUT_TOKENS",
    "RunPlan",
    "StagePlan",
    "Throughput",
    "plan_run",
    "resolve_throughput",
    "stored_answers",
]
