"""``study run``: generate every unit, then judge every unit, on Ray or as one shard of a job array; then merge."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from persona_lib.study._config import StudyConfig
from persona_lib.study._folder import PHASES, Study
from persona_lib.study._local import run_units_locally
from persona_lib.study._merge import MergeSummary, merge_study
from persona_lib.study._status import study_status
from persona_lib.study._units import WorkUnit, select_shard, study_units
from persona_lib.study._work import Failure, UnitResult, generation_sources


@dataclass
class StudyRun:
    """What ``study run`` did.

    Attributes:
        study: The study folder.
        results: Every unit finished in this call (both phases).
        failures: ``(unit, phase, error)`` for every unit that failed.
        skipped: Per phase, the units that were already complete in the stores (nothing was redone).
        loads: ``(phase, engine, worker)`` for every engine loaded.
        merge: The merge summary (``None`` for a shard, which leaves merging to ``study merge``).
    """

    study: Study
    results: list[UnitResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    skipped: dict[str, list[WorkUnit]] = field(default_factory=dict)
    loads: list[tuple[str, str, str]] = field(default_factory=list)
    merge: MergeSummary | None = None


def default_workers() -> int:
    """Workers when ``--workers`` is not given: one per GPU of the Ray cluster, else one."""
    from persona_lib.study._ray import require_ray

    return max(1, int(require_ray().cluster_resources().get("GPU", 0)))


def run_study(
    config: StudyConfig,
    folder: str | os.PathLike | None = None,
    *,
    shard: tuple[int, int] | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
    judge_workers: int | None = None,
    phases: Sequence[str] = PHASES,
    retries: int = 3,
    conditions_per_call: int = 1,
    log: Callable[[str], None] = print,
) -> StudyRun:
    """Run a study: every unit's answers, then every unit's verdicts, skipping whatever the stores already hold.

    Args:
        config: The study configuration.
        folder: The study folder (default: the configuration's ``output_dir``).
        shard: ``(i, N)``: run only shard ``i`` of ``N`` in this process, no Ray (a task of a job array); its
            stores are ``stores/<phase>-shard-i-of-N.sqlite``. Run ``study merge`` once every shard is done.
        ray_address: A Ray cluster to join (default: ``RAY_ADDRESS``, else a local Ray instance).
        workers: Generation actors at a time (default: one per GPU, else one).
        judge_workers: Judge actors at a time (default: ``workers``).
        phases: ``generate`` and/or ``judge``.
        retries: Ray actor restarts and call retries after a worker dies.
        conditions_per_call: Conditions of one model a worker takes at once: their dialogues (both kinds, both
            replicates) advance together, one batched call per round, before each unit's questions. 1 keeps the
            units small; on a GPU, the model's whole grid (e.g. 9) keeps the engine's batch full.
        log: Where progress lines go.

    Returns:
        A :class:`StudyRun`. Failed units are listed, never raised; re-running resumes them.
    """
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise ValueError(f"unknown phase(s) {unknown}; choose from {', '.join(PHASES)}")
    study = Study.create(config, folder)
    units = study_units(config)
    outcome = StudyRun(study)
    worker = None
    if shard is not None:
        units = select_shard(units, *shard)
        worker = f"shard-{shard[0]}-of-{shard[1]}"
        log(f"shard {shard[0]} of {shard[1]}: {len(units)} unit(s)")
    started_ray = False
    try:
        for phase in [name for name in PHASES if name in phases]:
            sources = generation_sources(study, worker)
            status = study_status(
                study,
                units,
                generation_stores=sources,
                judge_stores=[study.store_path("judge", worker)] if worker else None,
            )
            todo_states = {"not started", "generating"} if phase == "generate" else {"generated"}
            todo = [unit for unit, state in zip(units, status["state"]) if state in todo_states]
            failed = {failure[0] for failure in outcome.failures}
            todo = [unit for unit in todo if unit not in failed]
            done_states = {"generated", "done"} if phase == "generate" else {"done"}
            outcome.skipped[phase] = [unit for unit, state in zip(units, status["state"]) if state in done_states]
            log(f"{phase}: {len(todo)} unit(s) to do, {len(outcome.skipped[phase])} already stored")
            if not todo:
                continue
            if shard is not None:
                results, failures = run_units_locally(
                    study, todo, phase, worker, sources=sources, log=log, conditions_per_call=conditions_per_call
                )
                outcome.loads += [(phase, engine, worker) for engine in dict.fromkeys(r.engine for r in results)]
            else:
                from persona_lib.study._ray import connect, run_units_on_ray

                started_ray = connect(ray_address) or started_ray
                workers = workers or default_workers()
                count = (judge_workers or workers) if phase == "judge" else workers
                ray_phase = run_units_on_ray(
                    study,
                    todo,
                    phase,
                    count,
                    retries=retries,
                    sources=sources,
                    log=log,
                    conditions_per_call=conditions_per_call,
                )
                results, failures = ray_phase.results, ray_phase.failures
                outcome.loads += [(phase, engine, name) for engine, name in ray_phase.loads]
            outcome.results += results
            outcome.failures += failures
    finally:
        if started_ray:
            from persona_lib.study._ray import require_ray

            require_ray().shutdown()
    if shard is None:
        log("merging the workers' stores into runs/<model>/ ...")
        outcome.merge = merge_study(study)
    return outcome
