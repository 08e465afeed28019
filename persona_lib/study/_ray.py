"""Running units on Ray: one actor per engine (a GPU, or a tensor-parallel group), loaded once and reused.

The driver keeps ``workers`` slots. A free slot takes the next claim (the units of one model and condition) of the
engine it already holds; when that engine has no work left it lets the actor go and takes the engine with the
most work that no slot holds (or, if every engine with work is held, joins one that has more claims left than
holders). So a model's units go to the worker that already holds that model, and a model is loaded again only to
share a large remainder of work.

Faults: an actor that dies (a killed process, a lost node) is restarted by Ray with the same arguments — the same
engine and the same store — and its unfinished call is retried (``max_restarts``, ``max_task_retries``); the unit
resumes from what its store holds. A unit that still fails is reported and the others go on.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from persona_lib.study._folder import Study
from persona_lib.study._units import WorkUnit, claims
from persona_lib.study._work import JUDGE_ENGINE, Failure, StudyWorker, UnitResult

#: Environment variables every worker gets from the driver (offline switches, caches, the vLLM CPU cache size).
FORWARDED_ENV = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HOME",
    "HF_HUB_CACHE",
    "PERSONA_LIB_CACHE",
    "TOKENIZERS_PARALLELISM",
    "VLLM_CPU_KVCACHE_SPACE",
)


def require_ray():
    """The ``ray`` module, or an ImportError saying how to install it or run without it."""
    try:
        import ray
    except ImportError:
        raise ImportError(
            "running a study on Ray needs the ray package: pip install -e '.[ray]'. Without Ray, run it as shards "
            "(--shard i/N; --shard 0/1 runs everything in this process)"
        ) from None
    return ray


def connect(address: str | None = None) -> bool:
    """Join a Ray cluster (``address``, else ``RAY_ADDRESS``), or start a local instance without a dashboard.

    Returns:
        True if this call connected (the caller shuts Ray down), False if Ray was already initialised.
    """
    ray = require_ray()
    if ray.is_initialized():
        return False
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address or os.environ["RAY_ADDRESS"])
    else:
        ray.init(include_dashboard=False)
    return True


def worker_env(study: Study) -> dict[str, str]:
    """The environment passed to every actor: :data:`FORWARDED_ENV` and the API-key variables the configuration
    names, when they are set here."""
    names = [*FORWARDED_ENV, *(m.model.api_key_env for m in study.config.models), study.config.judge.model.api_key_env]
    return {name: os.environ[name] for name in dict.fromkeys(names) if name in os.environ}


@dataclass
class _Slot:
    index: int
    engine: str | None = None
    actor: object | None = None
    busy: int = 0
    finished: int = 0
    worker: str = ""
    dead: bool = False


@dataclass
class RayPhase:
    """What one phase did on Ray.

    Attributes:
        results: Every finished unit.
        failures: Every unit that failed after its retries.
        loads: ``(engine, worker)`` for every engine loaded, in order.
    """

    results: list[UnitResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    loads: list[tuple[str, str]] = field(default_factory=list)


def actor_options(study: Study, engine: str, retries: int, has_gpus: bool) -> dict:
    """Ray options of the actor holding ``engine``: one CPU, its GPUs (and GPU type) when the cluster has GPUs,
    restarts and retries, and the forwarded environment."""
    entry = study.config.judge if engine == JUDGE_ENGINE else study.config.entry(engine)
    options = {
        "num_cpus": 1,
        "max_restarts": retries,
        "max_task_retries": retries,
        "runtime_env": {"env_vars": worker_env(study)},
    }
    if has_gpus and entry.gpus:
        options["num_gpus"] = entry.gpus
        if entry.accelerator_type:
            options["accelerator_type"] = entry.accelerator_type
    return options


def run_units_on_ray(
    study: Study,
    units: Sequence[WorkUnit],
    phase: str,
    workers: int,
    *,
    retries: int = 3,
    conditions_per_call: int = 1,
    sources: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> RayPhase:
    """Run one phase's units on ``workers`` Ray actors (see the module docstring for the policy).

    Args:
        study: The study folder (every node must see it).
        units: The units to run.
        phase: ``generate`` (an engine per model) or ``judge`` (judge engines).
        workers: Actors at a time.
        retries: Actor restarts and call retries after a worker dies.
        conditions_per_call: Claims (a model's condition, both kinds) a worker is given at once; their dialogues
            advance together, one batched call per round.
        sources: Judge phase: the generation stores to read answers from.
        log: Where progress lines go.
    """
    ray = require_ray()
    if workers < 1 or conditions_per_call < 1:
        raise ValueError(f"workers and conditions_per_call must be >= 1, got {workers} and {conditions_per_call}")
    remote_worker = ray.remote(StudyWorker)
    largest_node = max((node["Resources"].get("GPU", 0) for node in ray.nodes() if node.get("Alive")), default=0)
    has_gpus = largest_node > 0
    queues: dict[str, deque[list[WorkUnit]]] = {}
    for claim in claims(list(units)):
        queues.setdefault(JUDGE_ENGINE if phase == "judge" else claim[0].model, deque()).append(claim)
    order = list(queues)
    holders: Counter[str] = Counter()
    slots = [_Slot(index) for index in range(workers)]
    inflight: dict[object, tuple[_Slot, list[WorkUnit]]] = {}
    outcome = RayPhase()
    total = sum(len(claim) for queue in queues.values() for claim in queue)

    def release(slot: _Slot) -> None:
        if slot.actor is not None:
            if not slot.dead:
                try:  # shut the engine down cleanly (vLLM's engine process frees its GPU memory), then end the actor
                    ray.get(slot.actor.close.remote(), timeout=300)
                except Exception:  # noqa: BLE001 -- the actor is ended below either way
                    pass
            ray.kill(slot.actor, no_restart=True)
            holders[slot.engine] -= 1
        slot.actor, slot.engine, slot.finished, slot.dead = None, None, 0, False

    def choose(slot: _Slot) -> str | None:
        if slot.engine is not None and queues.get(slot.engine):
            return slot.engine
        waiting = [engine for engine in order if queues[engine] and engine != slot.engine]
        unheld = [engine for engine in waiting if holders[engine] == 0]
        if unheld:
            return max(unheld, key=lambda engine: len(queues[engine]))
        crowded = [engine for engine in waiting if len(queues[engine]) > holders[engine]]
        return max(crowded, key=lambda engine: len(queues[engine]) - holders[engine]) if crowded else None

    def fail_engine(engine: str, message: str) -> None:
        for claim in queues.pop(engine, deque()):
            outcome.failures.extend((unit, phase, message) for unit in claim)
        queues[engine] = deque()

    for engine in order:
        needed = study.config.judge.gpus if engine == JUDGE_ENGINE else study.config.entry(engine).gpus
        if has_gpus and needed > largest_node:
            fail_engine(
                engine,
                f"{engine} needs {needed} GPUs for one engine (its `gpus`), but the largest node of "
                f"the Ray cluster has {int(largest_node)}; lower its tensor_parallel_size and gpus, or add a "
                "larger node",
            )
            log(f"{phase}: {engine} cannot be placed: it needs {needed} GPUs on one node")
    try:
        while inflight or any(queues.values()):
            for slot in slots:
                if slot.busy:
                    continue
                if slot.dead:
                    release(slot)
                engine = choose(slot)
                if engine is None:
                    release(slot)
                    continue
                if engine != slot.engine:
                    release(slot)
                    slot.engine = engine
                    slot.worker = f"w{slot.index}" if phase == "judge" else f"{engine}-w{slot.index}"
                    options = actor_options(study, engine, retries, has_gpus)
                    slot.actor = remote_worker.options(**options).remote(
                        str(study.folder), phase, engine, slot.worker, list(sources), quiet=True
                    )
                    holders[engine] += 1
                    outcome.loads.append((engine, slot.worker))
                    log(f"{phase}: worker {slot.worker} loads {engine}")
                taken = [queues[engine].popleft() for _ in range(min(conditions_per_call, len(queues[engine])))]
                batch = [unit for claim in taken for unit in claim]
                inflight[slot.actor.run_units.remote(batch)] = (slot, batch)
                slot.busy += 1
            if not inflight:
                break
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                slot, batch = inflight.pop(ref)
                slot.busy -= 1
                try:
                    results = ray.get(ref)
                except Exception as err:  # noqa: BLE001 -- the units failed after their retries: report, go on
                    message = f"{type(err).__name__}: {err}".splitlines()[0][:500]
                    outcome.failures += [(unit, phase, message) for unit in batch]
                    log(f"{phase} {', '.join(unit.label for unit in batch)}: FAILED on {slot.worker}: {message}")
                    slot.dead = slot.dead or isinstance(err, ray.exceptions.RayActorError)
                    if slot.finished == 0 and slot.engine is not None:
                        fail_engine(slot.engine, f"engine {slot.engine} failed before finishing a unit: {message}")
                    continue
                slot.finished += len(results)
                for result in results:
                    outcome.results.append(result)
                    log(
                        f"{phase} [{len(outcome.results)}/{total}] {result.unit.label} on {result.worker} "
                        f"(pid {result.pid}): {result.rows} rows, {result.failed} without answer, {result.seconds} s"
                    )
    finally:
        for slot in slots:
            release(slot)
    return outcome
