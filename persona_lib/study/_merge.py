"""``study merge``: the workers' stores unioned by key into one run folder per model, with the run's tables.

Each model's run folder gets the answers of its model from every generation store and the judge's verdicts on
them from every judge store (:meth:`persona_lib.store.ResponseStore.merge_from`), then the tables a single run
writes: dialogues, answers, scores and unit scores, rebuilt from the merged store by the run's own stage functions
(:mod:`persona_lib.stages`; no model is loaded: :mod:`persona_lib.study._replay`). A key two stores answered
differently is a conflict: it is listed in ``merge_conflicts.csv`` and returned, and the first store's answer (in
store-name order) is kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from persona_lib import stages
from persona_lib.run import Run
from persona_lib.store import MergeReport, ResponseStore
from persona_lib.study._folder import Study
from persona_lib.study._replay import ReplayBackend, ReplayStore, quiet
from persona_lib.study._work import not_stored

REPORT_COLUMNS = ["model", "store", "selected", "added", "replaced_errors", "identical", "conflicts"]
CONFLICT_COLUMNS = [
    "model",
    "key",
    "kept_store",
    "other_store",
    "kept_text",
    "other_text",
    "kept_finish_reason",
    "other_finish_reason",
]
MISSING_COLUMNS = ["model", "dialogue_rounds_missing", "answers_missing", "verdicts_missing"]
GENERATION_STAGES = ("dialogue", "benchmark")


@dataclass(frozen=True)
class MergeSummary:
    """What ``study merge`` did.

    Attributes:
        reports: Per model and store: keys selected, added, errors replaced, identical, conflicts.
        conflicts: Every key answered differently by two stores (columns :data:`CONFLICT_COLUMNS`).
        missing: Per model, requests of the protocol that no store answers yet.
        runs: The run folder of each model.
    """

    reports: pd.DataFrame
    conflicts: pd.DataFrame
    missing: pd.DataFrame
    runs: dict[str, Run] = field(default_factory=dict)


def write_run_tables(run: Run) -> dict[str, int]:
    """Rebuild a run's tables (dialogues, answers, scores, units) from its store, loading no model.

    Returns:
        How many dialogue rounds, answers and verdicts of the protocol the store does not hold yet.
    """
    config = run.config
    store = ReplayStore([run.store])
    with quiet():  # the stages a run's notebooks call, replaying the merged store
        dialogues = stages.dialogues(run, ReplayBackend(config.model), store=store)
        answers = stages.benchmark_answers(run, ReplayBackend(config.model), dialogues, store=store)
        scores = stages.scores(run, ReplayBackend(config.judge), answers, dialogues, store=store).scores
    return {
        "dialogue_rounds_missing": int(not_stored(dialogues, "error").sum()),
        "answers_missing": int(not_stored(answers, "error").sum()),
        "verdicts_missing": int(not_stored(scores, "parse_reason").sum()),
    }


def merge_study(study: Study, *, tables: bool = True) -> MergeSummary:
    """Union every worker's store into the per-model run folders and write their tables.

    Merging again is cheap and changes nothing already merged; run it whenever more stores have finished.

    Args:
        study: The study folder.
        tables: Also rebuild each run's tables (dialogues, answers, scores, units).

    Returns:
        The merge reports, conflicts and what is still missing; also written to ``merge_report.csv`` and
        ``merge_conflicts.csv`` in the study folder.
    """
    reports, conflicts, missing, runs = [], [], [], {}
    generation = [ResponseStore(path) for path in study.store_paths("generate")]
    judging = [ResponseStore(path) for path in study.store_paths("judge")]
    try:
        for entry in study.config.models:
            started = time.perf_counter()
            run = Run.create(
                study.config.run_config(entry.name, study.run_folder(entry.name)), study.run_folder(entry.name)
            )
            runs[entry.name] = run
            mine = {"model_under_test": entry.model.model}  # a judge request two models share: this model's tags
            selections = [
                (
                    source,
                    source.keys(backend=entry.model.backend, model=entry.model.model, stages=GENERATION_STAGES),
                    None,
                )
                for source in generation
            ] + [(source, source.keys(stages=["judge"], tags=mine), mine) for source in judging]
            kept_by: dict[str, str] = {}
            for source, keys, tags in selections:
                if not keys:
                    continue
                report: MergeReport = run.store.merge_from(source, keys, tags)
                reports.append(
                    {
                        "model": entry.name,
                        "store": source.path.name,
                        "selected": report.selected,
                        "added": report.added,
                        "replaced_errors": report.replaced_errors,
                        "identical": report.identical,
                        "conflicts": len(report.conflicts),
                    }
                )
                conflicts += [
                    {
                        "model": entry.name,
                        "key": c.key,
                        "kept_store": kept_by.get(c.key, "(an earlier merge)"),
                        "other_store": source.path.name,
                        "kept_text": c.kept_text,
                        "other_text": c.other_text,
                        "kept_finish_reason": c.kept_finish_reason,
                        "other_finish_reason": c.other_finish_reason,
                    }
                    for c in report.conflicts
                ]
                for key in keys:
                    kept_by.setdefault(key, source.path.name)
            if tables:
                missing.append({"model": entry.name, **write_run_tables(run)})
            run.record_stages({"study_merge": round(time.perf_counter() - started, 1)})
    finally:
        for store in generation + judging:
            store.close()
    summary = MergeSummary(
        reports=pd.DataFrame(reports, columns=REPORT_COLUMNS),
        conflicts=pd.DataFrame(conflicts, columns=CONFLICT_COLUMNS),
        missing=pd.DataFrame(missing, columns=MISSING_COLUMNS),
        runs=runs,
    )
    summary.reports.to_csv(study.folder / Study.MERGE_REPORT, index=False)
    summary.conflicts.to_csv(study.folder / Study.MERGE_CONFLICTS, index=False)
    return summary
