"""What a worker does with a unit: generate it on the model's engine, or judge it on the judge's engine.

A :class:`StudyWorker` holds one engine (loaded once, reused for every unit it is given) and writes one store. The
same class runs inside a Ray actor (``persona_lib.study._ray``) and in a plain process for ``--shard i/N``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from persona_lib.backends import create_backend
from persona_lib.config import RunConfig
from persona_lib.datasets import get_dataset
from persona_lib.generation import generate_unit, generate_unit_dialogues
from persona_lib.resolve import run_personas
from persona_lib.scoring import score_run
from persona_lib.store import ResponseStore
from persona_lib.study._config import StudyConfig
from persona_lib.study._folder import Study
from persona_lib.study._replay import NOT_STORED, ReplayBackend, ReplayStore, quiet
from persona_lib.study._units import WorkUnit

JUDGE_ENGINE = "judge"
"""The engine name of the judge (model engines are named after their study model)."""

Failure = tuple[WorkUnit, str, str]
"""A unit that failed: ``(unit, phase, error message)``."""


@dataclass(frozen=True)
class UnitResult:
    """What a worker reports for one unit.

    Attributes:
        unit: The unit.
        phase: ``generate`` or ``judge``.
        engine: The model (or ``judge``) whose engine did the work.
        worker: The worker's name (its store is ``stores/<phase>-<worker>.sqlite``).
        pid: The worker's process id.
        seconds: Wall time of the unit.
        rows: Rows the unit produced (dialogue rounds + answers, or judge verdicts).
        failed: Rows without an answer (errors, context overflows; for judging: judge errors).
    """

    unit: WorkUnit
    phase: str
    engine: str
    worker: str
    pid: int
    seconds: float
    rows: int
    failed: int


def judged_only(config: RunConfig) -> RunConfig:
    """The run configuration restricted to datasets scored by the judge (rule scoring happens at merge)."""
    judged = [name for name in config.datasets if get_dataset(name).rule_scores is None]
    return config.model_copy(
        update={
            "datasets": judged,
            "item_limit": {name: limit for name, limit in config.item_limit.items() if name in judged},
        }
    )


def unit_tables(config: StudyConfig, unit: WorkUnit, sources: ReplayStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A unit's dialogue and answer tables read back from stores (missing requests marked :data:`NOT_STORED`)."""
    run_config = config.run_config(unit.model)
    return generate_unit(run_config, ReplayBackend(run_config.model), sources, unit.condition, unit.kind)


def judge_unit_scores(
    config: StudyConfig,
    unit: WorkUnit,
    judge,
    store: ResponseStore | ReplayStore,
    dialogues: pd.DataFrame,
    answers: pd.DataFrame,
) -> pd.DataFrame:
    """The judge's verdicts on one unit (judged datasets only), sent through ``store``.

    Args:
        config: The study configuration.
        unit: The unit.
        judge: The judge backend (a :class:`ReplayBackend` to read verdicts back).
        store: Where verdicts are stored and reused.
        dialogues: The unit's dialogue table.
        answers: The unit's answer table.
    """
    run_config = judged_only(config.run_config(unit.model))
    return score_run(run_config, judge, store, answers, dialogues, run_personas(run_config))


def not_stored(table: pd.DataFrame, column: str) -> pd.Series:
    """Rows of a replayed table whose request no worker has answered yet."""
    if table.empty or column not in table.columns:
        return pd.Series(False, index=table.index)
    return table[column].fillna("").astype(str).eq(NOT_STORED)


class StudyWorker:
    """One engine and one store: generates or judges the units it is given.

    Args:
        study_folder: The study folder (its ``study.yaml`` is read).
        phase: ``generate`` (the engine is ``engine``'s model) or ``judge`` (the judge's engine).
        engine: The model's name in the study, or :data:`JUDGE_ENGINE`.
        worker: The worker's name; it writes ``stores/<phase>-<worker>.sqlite``. A restarted worker (same name)
            reopens that store and resumes from what it holds.
        sources: Judge phase: the generation stores the units' answers are read from.
        quiet: Hide progress bars (workers of a pool, whose driver prints one line per unit).
    """

    def __init__(
        self,
        study_folder: str,
        phase: str,
        engine: str,
        worker: str,
        sources: Sequence[str] = (),
        quiet: bool = False,
    ) -> None:
        self.study = Study.open(study_folder)
        self.phase, self.engine, self.worker = phase, engine, worker
        config = self.study.config
        model = config.judge.model if phase == "judge" else config.entry(engine).model
        self.backend = create_backend(model)
        self.store = ResponseStore(self.study.store_path(phase, worker))
        self.sources = [str(path) for path in sources]
        self.quiet = quiet

    def pid(self) -> int:
        """The worker's process id."""
        return os.getpid()

    def run_unit(self, unit: WorkUnit) -> UnitResult:
        """Generate or judge one unit (resuming from this worker's store) and report it."""
        return self.run_units([unit])[0]

    def run_units(self, units: Sequence[WorkUnit]) -> list[UnitResult]:
        """Generate or judge several units of this worker's engine, in order, and report each.

        Generating several units first advances all their dialogues together (one batched call per round, see
        :func:`persona_lib.generation.generate_unit_dialogues`), then asks each unit's questions in turn.
        """
        with quiet() if self.quiet else contextlib.nullcontext():
            if self.phase == "generate" and len(units) > 1:
                for unit in units:
                    self._check(unit)
                generate_unit_dialogues(
                    self.study.config.run_config(self.engine),
                    self.backend,
                    self.store,
                    [(unit.condition, unit.kind) for unit in units],
                )
            return [self._run_unit(unit) for unit in units]

    def _check(self, unit: WorkUnit) -> None:
        if unit.model != self.engine:
            raise ValueError(f"worker {self.worker} holds {self.engine}, not {unit.model} (unit {unit.label})")

    def _run_unit(self, unit: WorkUnit) -> UnitResult:
        started = time.perf_counter()
        config = self.study.config
        if self.phase == "generate":
            self._check(unit)
            dialogues, answers = generate_unit(
                config.run_config(unit.model), self.backend, self.store, unit.condition, unit.kind
            )
            rows = len(dialogues) + len(answers)
            failed = int((~dialogues["finish_reason"].isin(["stop", "length"])).sum()) + int(
                (~answers["finish_reason"].isin(["stop", "length"])).sum() if len(answers) else 0
            )
        else:
            sources = ReplayStore(self.sources)
            try:
                with quiet():
                    dialogues, answers = unit_tables(config, unit, sources)
            finally:
                sources.close()
            missing = int(not_stored(dialogues, "error").sum() + not_stored(answers, "error").sum())
            if missing:
                raise RuntimeError(
                    f"unit {unit.label}: {missing} answer(s) are not in the generation stores {self.sources}; "
                    "generate the unit before judging it"
                )
            scores = judge_unit_scores(config, unit, self.backend, self.store, dialogues, answers)
            rows, failed = len(scores), int((scores["parse_status"] == "judge_error").sum()) if len(scores) else 0
        return UnitResult(
            unit=unit,
            phase=self.phase,
            engine=self.engine,
            worker=self.worker,
            pid=os.getpid(),
            seconds=round(time.perf_counter() - started, 3),
            rows=rows,
            failed=failed,
        )

    def close(self) -> None:
        """Free the engine and close the store."""
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()
        self.store.close()


def generation_sources(study: Study, worker: str | None = None) -> list[str]:
    """The generation stores a judge reads: every one of the study, or only ``worker``'s (a shard reads its own,
    since other shards may still be writing theirs)."""
    if worker is not None:
        path = study.store_path("generate", worker)
        return [str(path)] if Path(path).is_file() else []
    return [str(path) for path in study.store_paths("generate")]
