"""One unit of work: one dialogue (condition x kind) and every benchmark question asked along it, on one engine.

A study splits its generation into such units so that a worker keeps one long prefix hot in its engine's prefix
cache: the dialogue's rounds (original order and, if configured, the shuffled replicate) are generated first, then
every item at each checkpoint of that dialogue, checkpoints ascending. Both steps are the run's own generation code
restricted to the unit, so a unit stores exactly the answers a single run of the same configuration would store.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from persona_lib.config import RunConfig
from persona_lib.contract import Backend
from persona_lib.generation._benchmarks import generate_benchmarks
from persona_lib.generation._common import sampling_params
from persona_lib.generation._dialogues import DialogueSpec, dialogue_specs, run_dialogues
from persona_lib.store import ResponseStore, make_run_info


def unit_dialogue_specs(config: RunConfig, condition: str, kind: str) -> list[DialogueSpec]:
    """The dialogues of one unit: its original order and (if ``shuffled_replicate``) its shuffled replicate.

    Raises:
        ValueError: if the run has no dialogue of this condition and kind (names the ones it has).
    """
    specs = [spec for spec in dialogue_specs(config) if spec.condition == condition and spec.kind == kind]
    if not specs:
        conditions = sorted({spec.condition for spec in dialogue_specs(config)})
        raise ValueError(
            f"the run has no dialogue ({condition!r}, {kind!r}); its conditions are {conditions} and its kinds "
            f"{config.dialogue_kinds}"
        )
    return specs


def generate_unit_dialogues(
    config: RunConfig, backend: Backend, store: ResponseStore, units: Sequence[tuple[str, str]]
) -> pd.DataFrame:
    """The dialogues of several units side by side: every round is one batched call for all of them.

    A unit's dialogue is a chain of calls (each round needs the previous answer), so one unit alone keeps only its
    replicates in flight; generating several units' dialogues together fills the engine's batch. Their questions
    are asked afterwards, unit by unit (:func:`generate_unit` then finds the rounds stored).

    Args:
        config: The run configuration of the model under test.
        backend: The model under test.
        store: Where the rounds are stored (stored rounds are reused).
        units: ``(condition, kind)`` of each unit.

    Returns:
        The dialogue table of these units (:func:`~persona_lib.generation.run_dialogues`).
    """
    specs = [spec for condition, kind in units for spec in unit_dialogue_specs(config, condition, kind)]
    return run_dialogues(specs, backend, store, sampling_params(config.generation), make_run_info(backend, config))


def generate_unit(
    config: RunConfig,
    backend: Backend,
    store: ResponseStore,
    condition: str,
    kind: str,
    *,
    batch_size: int = 256,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate (or resume) one unit: its dialogue rounds, then every benchmark item at its checkpoints.

    Args:
        config: The run configuration of the model under test.
        backend: The model under test.
        store: Where answers are stored (stored answers are reused; each batch is committed before the next).
        condition: Persona name or ``empty``.
        kind: ``persona_directed`` or ``goal_oriented``.
        batch_size: Maximum benchmark requests per backend call and per commit.

    Returns:
        The unit's rows of the dialogue table (:func:`~persona_lib.generation.generate_dialogues`) and of the
        answer table (:func:`~persona_lib.generation.generate_benchmarks`).
    """
    dialogues = generate_unit_dialogues(config, backend, store, [(condition, kind)])
    answers = generate_benchmarks(
        config, backend, store, dialogues, batch_size=batch_size, conditions=[condition], kinds=[kind]
    )
    return dialogues, answers
