"""Running units in this process, one engine at a time: a shard of a job array (``--shard i/N``), no Ray needed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from persona_lib.study._folder import Study
from persona_lib.study._units import WorkUnit, claims
from persona_lib.study._work import JUDGE_ENGINE, Failure, StudyWorker, UnitResult


def run_units_locally(
    study: Study,
    units: Sequence[WorkUnit],
    phase: str,
    worker: str,
    *,
    conditions_per_call: int = 1,
    sources: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> tuple[list[UnitResult], list[Failure]]:
    """Run units in order, loading each engine once (units are grouped by model), writing one store.

    A unit that fails is reported and the others go on; re-running resumes every unit from the store.

    Args:
        study: The study folder.
        units: The units to run.
        phase: ``generate`` or ``judge``.
        worker: The worker's name (its store is ``stores/<phase>-<worker>.sqlite``).
        conditions_per_call: A model's conditions run together (their dialogues advance side by side).
        sources: Judge phase: the generation stores to read answers from.
        log: Where progress lines go.

    Returns:
        The results of the units that finished, and the failures.
    """
    by_engine: dict[str, list[WorkUnit]] = {}
    for unit in units:
        by_engine.setdefault(JUDGE_ENGINE if phase == "judge" else unit.model, []).append(unit)
    results: list[UnitResult] = []
    failures: list[Failure] = []
    for engine, engine_units in by_engine.items():
        log(f"{phase}: loading {engine} for {len(engine_units)} unit(s)")
        try:
            holder = StudyWorker(str(study.folder), phase, engine, worker, sources)
        except Exception as err:  # noqa: BLE001 -- an engine that cannot load fails its units, not the shard
            failures += [
                (unit, phase, f"{engine} could not be loaded: {type(err).__name__}: {err}") for unit in engine_units
            ]
            log(f"{phase}: {engine} could not be loaded: {err}")
            continue
        grouped = claims(engine_units)
        batches = [
            [unit for claim in grouped[start : start + conditions_per_call] for unit in claim]
            for start in range(0, len(grouped), conditions_per_call)
        ]
        try:
            for batch in batches:
                try:
                    done = holder.run_units(batch)
                except Exception as err:  # noqa: BLE001 -- reported; the next run resumes it
                    failures += [(unit, phase, f"{type(err).__name__}: {err}") for unit in batch]
                    log(f"{phase} {', '.join(unit.label for unit in batch)}: FAILED: {err}")
                    continue
                results += done
                for result in done:
                    log(
                        f"{phase} {result.unit.label}: {result.rows} rows, {result.failed} without answer, "
                        f"{result.seconds} s"
                    )
        finally:
            holder.close()
    return results, failures
