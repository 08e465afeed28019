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
==================  =====================================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from persona_lib import generation, scoring
from persona_lib.contract import Backend
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
