"""A study's units of work and how they are split: by worker (Ray) or by a deterministic hash (``--shard i/N``).

A unit is one dialogue of one model: model x condition x dialogue kind. Its work is the dialogue's rounds (both
replicates), then every benchmark item at its checkpoints (:func:`persona_lib.generation.generate_unit`), and
later the judge's verdicts on them. The two kinds of one model and condition ask identical questions at checkpoint
0 (no dialogue yet), so they are scheduled together as one *claim*: a worker that takes a claim runs both units
back to back and stores those questions once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from persona_lib.resolve import run_conditions
from persona_lib.study._config import StudyConfig


@dataclass(frozen=True, order=True)
class WorkUnit:
    """One dialogue of one model: the unit of work, of retries and of ``study status``.

    Attributes:
        model: The model's name in the study.
        condition: Persona name, or ``empty`` for the baseline.
        kind: ``persona_directed`` or ``goal_oriented``.
    """

    model: str
    condition: str
    kind: str

    @property
    def label(self) -> str:
        """``model / condition / kind``, for logs and tables."""
        return f"{self.model} / {self.condition} / {self.kind}"

    @property
    def claim(self) -> tuple[str, str]:
        """The units scheduled together with this one: same model and condition."""
        return (self.model, self.condition)


def study_units(config: StudyConfig) -> list[WorkUnit]:
    """Every unit of a study, in configuration order: models, then conditions (personas, baseline), then kinds."""
    protocol = config.protocol
    conditions = [condition.name for condition in run_conditions(protocol)]
    return [
        WorkUnit(model.name, condition, kind)
        for model in config.models
        for condition in conditions
        for kind in protocol.dialogue_kinds
    ]


def claims(units: list[WorkUnit]) -> list[list[WorkUnit]]:
    """Units grouped by model and condition (see the module docstring), in first-appearance order."""
    grouped: dict[tuple[str, str], list[WorkUnit]] = {}
    for unit in units:
        grouped.setdefault(unit.claim, []).append(unit)
    return list(grouped.values())


_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)``, with ``0 <= i < N`` (a SLURM array ``--array=0-(N-1)`` passes its task id).

    Raises:
        ValueError: for anything else, saying what is expected.
    """
    match = _SHARD.match(text)
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise ValueError(
            f"--shard must be i/N with 0 <= i < N (e.g. --shard ${{SLURM_ARRAY_TASK_ID}}/${{SLURM_ARRAY_TASK_COUNT}} "
            f"with --array=0-(N-1)), got {text!r}"
        )
    return int(match[1]), int(match[2])


def shard_of(unit: WorkUnit, n_shards: int) -> int:
    """The shard a unit belongs to: a stable hash (sha256) of its model and condition, modulo ``n_shards``.

    Hashing the claim rather than the whole unit keeps the two kinds of one condition in one shard, so their shared
    checkpoint-0 questions are asked once. The hash depends only on the names, so every task of a job array
    computes the same split without talking to the others, and adding a model moves no other unit.
    """
    digest = hashlib.sha256(f"{unit.model}\x00{unit.condition}".encode()).hexdigest()
    return int(digest[:16], 16) % n_shards


def select_shard(units: list[WorkUnit], index: int, n_shards: int) -> list[WorkUnit]:
    """The units of shard ``index`` of ``n_shards`` (order kept)."""
    return [unit for unit in units if shard_of(unit, n_shards) == index]
