"""The pipeline's stages as functions: each computes its tables from the run's store and writes them into the run.

A notebook calls its stage's function and displays what it returns; ``study merge`` calls the same functions to
rebuild each model's run folder from the merged stores (with a replaying backend, so no model is loaded); nothing
else computes a stage's tables, so a rule of the protocol (e.g. the BFI label source the unit scores use) is applied
in one place.

==================  =====================================  ==========================================
stage               function                               writes
==================  =====================================  ==========================================
generate            :func:`dialogues`                      ``dialogues.jsonl``
generate            :func:`benchmark_answers`              ``benchmark_answers.jsonl``
score               :func:`scores`                         ``scores.csv``, ``units.csv``
score               :func:`similarity`                     ``tables/baseline_similarity.csv``
validate            :func:`judge_validation`               ``tables/judge_validation.csv``, ``judge_pairs``
analyse             :func:`analysis`                       curves, differences, model fits, XSTest tables
==================  =====================================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from persona_lib import generation, scoring, stats
from persona_lib.contract import Backend
from persona_lib.datasets import split_turn_level
from persona_lib.datasets.bfi import errors_by_label_source
from persona_lib.datasets.xstest import refusal_agreement, refusal_changes
from persona_lib.run import Run
from persona_lib.store import ResponseStore


def dialogues(run: Run, backend: Backend, *, store: ResponseStore | None = None) -> pd.DataFrame:
    """Generate (or resume) every dialogue of the run and write the dialogue table.

    Args:
        run: The run folder.
        backend: The model under test.
        store: The store to read and write (default: the run's own).

    Returns:
        The dialogue table (:func:`persona_lib.generation.generate_dialogues`).
    """
    table = generation.generate_dialogues(run.config, backend, store or run.store)
    run.write_dialogues(table)
    return table


def benchmark_answers(
    run: Run, backend: Backend, dialogue_table: pd.DataFrame, *, store: ResponseStore | None = None
) -> pd.DataFrame:
    """Ask every benchmark item at every checkpoint of the run's dialogues and write the answer table.

    Args:
        run: The run folder.
        backend: The model under test.
        dialogue_table: The run's dialogues (:func:`dialogues`).
        store: The store to read and write (default: the run's own).

    Returns:
        The answer table (:func:`persona_lib.generation.generate_benchmarks`; its ``attrs["skipped_checkpoints"]``
        lists checkpoints beyond where a dialogue stopped).
    """
    table = generation.generate_benchmarks(run.config, backend, store or run.store, dialogue_table)
    run.write_answers(table)
    return table


@dataclass(frozen=True)
class ScoreTables:
    """What the score stage writes.

    Attributes:
        scores: One row per scored item (and criterion): the scores table.
        units: One 0-100 score per unit and metric, BFI errors against the run's ``bfi_label_source``.
    """

    scores: pd.DataFrame
    units: pd.DataFrame


def scores(
    run: Run,
    judge: Backend | None,
    answers: pd.DataFrame,
    dialogue_table: pd.DataFrame,
    *,
    store: ResponseStore | None = None,
) -> ScoreTables:
    """Score every configured dataset of the run, then every metric at the unit level, and write both tables.

    Args:
        run: The run folder.
        judge: The judge backend (``None`` when no configured dataset is judged).
        answers: The run's benchmark answers.
        dialogue_table: The run's dialogues.
        store: The store to read and write (default: the run's own).
    """
    personas = run.personas()
    table = scoring.score_run(run.config, judge, store or run.store, answers, dialogue_table, personas)
    run.write_scores(table)
    units = scoring.protocol_units(table, personas, bfi_label_source=run.config.bfi_label_source)
    run.write_units(units)
    return ScoreTables(table, units)


def similarity(run: Run, answers: pd.DataFrame, encoder: scoring.Encoder | None = None) -> pd.DataFrame:
    """How close each persona answer is to the baseline's answer to the same item, per unit; written to the run.

    Args:
        run: The run folder.
        answers: The run's benchmark answers.
        encoder: Texts to embeddings (default: all-MiniLM-L6-v2, :func:`persona_lib.scoring.minilm_encoder`).

    Returns:
        Unit scores of the ``baseline_similarity`` metric.
    """
    pairs = scoring.baseline_similarity(answers.assign(model=run.config.model.model), encoder)
    units = scoring.similarity_units(pairs)
    run.write_similarity(units)
    return units


@dataclass(frozen=True)
class ValidationTables:
    """What the validate stage writes.

    Attributes:
        judgements: Every verdict of every judge on the human-labelled samples, beside the human label.
        agreement: Each judge's and mode's agreement with people, per dataset.
        judge_pairs: Each pair of judges' agreement with each other (empty with one judge).
    """

    judgements: pd.DataFrame
    agreement: pd.DataFrame
    judge_pairs: pd.DataFrame


def judge_validation(run: Run) -> ValidationTables:
    """Judge the study's human-labelled samples with the run's judge (and comparison judges); write the agreement.

    ``judge_validation_items`` samples per dataset are judged (all when unset), through the run's store.
    """
    judgements = scoring.validation_judgements(run.config, run.store, limit=run.config.judge_validation_items)
    agreement = scoring.agreement_summary(judgements)
    run.write_judge_validation(agreement)
    pairs = scoring.judge_pair_agreement(judgements)
    run.write_table("judge_pairs", pairs)
    return ValidationTables(judgements, agreement, pairs)


@dataclass(frozen=True)
class AnalysisTables:
    """What the analyse stage computes (the tables it writes are named in brackets).

    Attributes:
        metrics: The benchmark metrics with unit scores, sorted.
        curves: Every benchmark metric over the checkpoints, persona and baseline, bootstrap CIs
            (``checkpoint_curves``).
        fidelity_curves: Dialogue fidelity and its criteria over the rounds (``fidelity_curves``; empty when no turn
            has a parsed verdict).
        contrasts: The study's paired differences that the run supports, by name: ``kind``, ``length``,
            ``persona`` (``difference_<name>``).
        bfi_errors: The BFI error under both InCharacter label sources.
        xstest_changes: XSTest verdicts that flip between the first and the last checkpoint (``xstest_changes``).
        refusal_agreement: The judge's refusals against the refusal-phrase rule (``xstest_refusal_agreement``).
        similarity_curves: Similarity of persona answers to the baseline's, over the checkpoints.
        slopes: The length slope per model x kind, benchmarks and dialogue fidelity (``length_slopes``).
        effects: The persona effect per model x kind (``persona_effects``).
        length_curves: IFBench accuracy against the tokens of dialogue in front of the prompt.
    """

    metrics: list[str]
    curves: pd.DataFrame
    fidelity_curves: pd.DataFrame
    contrasts: dict[str, pd.DataFrame]
    bfi_errors: pd.DataFrame
    xstest_changes: pd.DataFrame
    refusal_agreement: pd.DataFrame
    similarity_curves: pd.DataFrame
    slopes: pd.DataFrame
    effects: pd.DataFrame
    length_curves: pd.DataFrame


def _fit_or_empty(fit, units: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """The fits, or an empty table where the run has nothing they can be fitted on (e.g. no baseline)."""
    try:
        return fit(units, metrics=metrics)
    except ValueError:
        return pd.DataFrame(columns=["dataset", "metric", "model", "kind", "term", "coef", "ci_low", "ci_high"])


def analysis(run: Run) -> AnalysisTables:
    """The study's questions asked of the run's unit scores; every table of the analyse stage written to the run.

    Bootstrap intervals are seeded with the run's ``seed``. The model fits take benchmark units over checkpoints and
    dialogue fidelity (its mean, ``dialogue``) over rounds, as the study fitted them.
    """
    seed = run.config.seed
    units = run.units()
    turn_units, benchmark_units = split_turn_level(units)
    metrics = sorted(benchmark_units["metric"].unique())
    curves = stats.checkpoint_curves(benchmark_units, seed=seed)
    run.write_table("checkpoint_curves", curves)
    fidelity_curves = pd.DataFrame()
    if not turn_units.empty:
        fidelity_curves = stats.checkpoint_curves(turn_units, seed=seed).rename(columns={"checkpoint": "round"})
        run.write_table("fidelity_curves", fidelity_curves)
    contrasts = stats.difference_curves(benchmark_units, seed=seed)
    for contrast, differences in contrasts.items():
        run.write_table(f"difference_{contrast}", differences)
    scores, answers = run.scores(), run.answers()
    changes = refusal_changes(scores)
    run.write_table("xstest_changes", changes)
    refusals = refusal_agreement(scores, answers)
    run.write_table("xstest_refusal_agreement", refusals)
    slopes = _fit_or_empty(stats.length_slope, units, [*metrics, "dialogue"])
    run.write_table("length_slopes", slopes)
    effects = _fit_or_empty(stats.persona_effect, units, [*metrics, "dialogue"])  # none without a baseline
    run.write_table("persona_effects", effects)
    lengths = generation.dialogue_prefix_lengths(run.dialogues(), run.config.model)
    with_tokens = stats.attach_prefix_tokens(benchmark_units[benchmark_units["metric"] == "ifbench"], lengths)
    return AnalysisTables(
        metrics=metrics,
        curves=curves,
        fidelity_curves=fidelity_curves,
        contrasts=contrasts,
        bfi_errors=errors_by_label_source(scores, run.personas()),
        xstest_changes=changes,
        refusal_agreement=refusals,
        similarity_curves=stats.checkpoint_curves(run.similarity(), seed=seed),
        slopes=slopes,
        effects=effects,
        length_curves=stats.length_control_curves(with_tokens, seed=seed),
    )
