"""Scoring a whole run: every configured dataset's scorer, one scores table, then every metric at the unit level.

Both steps are loops over the dataset registry (``persona_lib.datasets``): rule-based datasets score their answers
directly; the judge calls of every judged dataset are sent together through the run's store (cached, resumable).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from persona_lib._schema import SCORE_COLUMNS, UNIT_COLUMNS
from persona_lib.backends import Backend
from persona_lib.config import RunConfig
from persona_lib.datasets import ScoringInputs, get_dataset, load_items
from persona_lib.judging import NO_RESPONSE_REASON, run_judge_tasks, unscored_row
from persona_lib.personas import Persona, with_label_source
from persona_lib.resolve import item_file
from persona_lib.store import ResponseStore


def persona_index(personas: Mapping[str, Persona] | Iterable[Persona]) -> dict[str, Persona]:
    """Personas by name, from a mapping or an iterable."""
    values = personas.values() if isinstance(personas, Mapping) else personas
    return {persona.name: persona for persona in values}


def scoring_inputs(
    config: RunConfig,
    dataset: str,
    answers: pd.DataFrame | None,
    dialogues: pd.DataFrame | None,
    personas: Mapping[str, Persona] | Iterable[Persona],
) -> ScoringInputs:
    """What ``dataset``'s scorer needs from a run: its answers, every item (not only the asked subset), personas.

    Args:
        config: The run configuration (``dataset_files`` says where the items come from).
        dataset: A registered dataset.
        answers: The run's benchmark answers (all datasets; this dataset's rows are selected), or ``None``.
        dialogues: The run's dialogue turns, or ``None``.
        personas: The run's personas.
    """
    spec = get_dataset(dataset)
    mine = (
        answers[answers["dataset"] == dataset]
        if answers is not None and len(answers)
        else pd.DataFrame(
            columns=["condition", "kind", "checkpoint", "dataset", "item_id", "prompt", "response", "finish_reason"]
        )
    )
    items = (
        {str(item.item_id): item for item in load_items(dataset, path=item_file(config, dataset))}
        if spec.asked_at_checkpoints and len(mine)
        else {}
    )
    return ScoringInputs(
        answers=mine, dialogues=dialogues, items=items, personas=persona_index(personas), model=config.model.model
    )


def score_run(
    config: RunConfig,
    judge: Backend | None,
    store: ResponseStore,
    answers: pd.DataFrame | None,
    dialogues: pd.DataFrame | None,
    personas: Mapping[str, Persona] | Iterable[Persona],
) -> pd.DataFrame:
    """Score every configured dataset of a run into one tidy table (one row per scored item and criterion).

    Args:
        config: The run configuration (``datasets``; ``model`` names the model under test; ``judge`` and
            ``judging`` the judge).
        judge: The judge backend (``create_backend(config.judge)``), or ``None`` when no configured dataset is
            judged. Its calls are stored in ``store`` with tags ``stage="judge"``.
        store: The run's response store.
        answers: Benchmark answers from :func:`persona_lib.generation.generate_benchmarks`, or ``None``.
        dialogues: Dialogue turns from :func:`persona_lib.generation.generate_dialogues`, or ``None``.
        personas: The run's personas (every condition's persona and every RoleBench item's character; the baseline's
            dialogue turns are judged against each of them).

    Returns:
        The scores table (:data:`persona_lib._schema.SCORE_COLUMNS`), including ``no_response``, ``unparsed`` and
        ``unscorable`` rows (score NaN), so every failure can be counted (and ``fallback`` rows when
        ``judging.unparsed`` is ``study``).

    Raises:
        ValueError: when a configured dataset is judged and no judge backend is given.
    """
    parts: list[pd.DataFrame] = []
    tasks, unanswered = [], []
    for dataset in config.datasets:
        spec = get_dataset(dataset)
        inputs = scoring_inputs(config, dataset, answers, dialogues, personas)
        if spec.rule_scores is not None:
            parts.append(spec.rule_scores(inputs))
            continue
        dataset_tasks, dataset_unanswered = spec.judge_tasks(inputs)
        tasks += dataset_tasks
        unanswered += dataset_unanswered
    model = config.model.model
    if tasks or unanswered:
        if judge is None:
            raise ValueError("the configuration scores judged datasets; pass the judge backend")
        parts.append(run_judge_tasks(tasks, config, judge, store, model_name=model))
        parts.append(
            pd.DataFrame(
                [unscored_row(row, model, judge.model, "no_response", NO_RESPONSE_REASON) for row in unanswered],
                columns=SCORE_COLUMNS,
            )
        )
    parts = [part for part in parts if not part.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=SCORE_COLUMNS)


def protocol_units(
    scores: pd.DataFrame,
    personas: Mapping[str, Persona] | Iterable[Persona],
    *,
    bfi_label_source: str = "annotation",
) -> pd.DataFrame:
    """Every metric of every scored dataset at the unit level: one 0–100 score per unit and metric.

    Each dataset's spec turns its rows into units (``persona_lib.datasets``); e.g. ``dialogue`` and the three
    criteria per round (``checkpoint`` = round), ``bfi_error`` (labelled characters only, against one label
    source; the baseline against every labelled character), win rates, IFBench accuracy, ``safety`` and
    ``excess_safety``. A baseline scored against several characters has one row per character
    (``reference_persona``). Units without any scored item are left out.

    Args:
        scores: The scores table of :func:`score_run`.
        personas: The run's personas (for the BFI labels).
        bfi_label_source: The label source BFI errors are computed against (the configuration's).

    Returns:
        Columns :data:`persona_lib._schema.UNIT_COLUMNS`.
    """
    values = personas.values() if isinstance(personas, Mapping) else personas
    index = persona_index(with_label_source(values, bfi_label_source))
    parts = []
    for dataset, rows in scores.groupby("dataset", sort=False):
        if str(dataset).startswith("validation_"):
            continue
        spec = get_dataset(str(dataset))
        units = spec.units(rows, index)
        undeclared = sorted(set(units["metric"]) - {metric.name for metric in spec.metrics})
        if undeclared:
            raise ValueError(
                f"dataset {spec.name!r} produced unit metric(s) {undeclared} that its spec does not declare "
                f"(declared: {[metric.name for metric in spec.metrics]}); make its scorer's item metric one of them"
            )
        if not units.empty:
            parts.append(units)
    units = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=UNIT_COLUMNS)
    return units.dropna(subset=["score"]).reset_index(drop=True)
