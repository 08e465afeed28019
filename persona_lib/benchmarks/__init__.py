"""Dialogue-conditioned benchmarks: one module per dataset, each with a ``SPEC`` and a loader.

=====================  ===============================================  =========================
dataset                items                                            score
=====================  ===============================================  =========================
``bfi``                44 BFI items as open questions                   BFI error (lower better)
``rolebench_specific`` 400 role-specific questions (50 per character)   win rate vs reference
``rolebench_general``  user-supplied general instructions               win rate vs reference
``ifbench``            294 verifiable-constraint prompts                accuracy (rule-based)
``xstest``             250 safe + 200 unsafe prompts                    refusal rates
=====================  ===============================================  =========================

>>> from persona_lib.benchmarks import load_items
>>> sorted(item.meta["label"] for item in load_items("xstest", limit=4))
['safe', 'safe', 'unsafe', 'unsafe']
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from persona_lib._records import DataFileError, MissingDataFileError
from persona_lib.benchmarks import bfi, ifbench, rolebench, xstest
from persona_lib.benchmarks._spec import BenchmarkItem, DatasetSpec, ScoreSpec
from persona_lib.benchmarks._subset import seeded_subset

SPECS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (bfi.SPEC, rolebench.SPEC_SPECIFIC, rolebench.SPEC_GENERAL, ifbench.SPEC, xstest.SPEC)
}
"""Dataset name → specification, in the protocol's order."""

_STRATUM: dict[str, Callable[[BenchmarkItem], object] | None] = {
    "bfi": lambda item: item.meta["dimension"],
    "rolebench_specific": lambda item: item.persona,
    "rolebench_general": lambda item: item.persona,
    "ifbench": None,
    "xstest": lambda item: item.meta["label"],
}


def _load_all(dataset: str, general_instructions_file: str | Path | None) -> list[BenchmarkItem]:
    if dataset == "bfi":
        return bfi.load()
    if dataset == "rolebench_specific":
        return rolebench.load_specific()
    if dataset == "rolebench_general":
        return rolebench.load_general(general_instructions_file)
    if dataset == "ifbench":
        return ifbench.load()
    return xstest.load()


def load_items(
    dataset: str,
    persona: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    general_instructions_file: str | Path | None = None,
) -> list[BenchmarkItem]:
    """The items of one dataset, optionally for one character and limited to a seeded subset.

    Args:
        dataset: A key of :data:`SPECS`.
        persona: For the RoleBench datasets, keep only this character's items (``None``: all characters; a
            character without items, e.g. a custom persona, gets an empty list). Ignored by the other
            datasets, whose items are the same for every persona.
        limit: At most this many items (``None``: all). The subset is random but fixed by ``seed`` and
            stratified so every group keeps its share: by Big-Five dimension (BFI), by safe/unsafe label
            (XSTest), by character (RoleBench); IFBench is sampled uniformly. Items keep file order. The
            persona filter is applied before the limit.
        seed: Seed of the subset.
        general_instructions_file: The user-supplied RoleBench general-instruction file (``rolebench_general``).

    Raises:
        ValueError: for an unknown dataset name (the message lists the valid ones) or a limit below 1.
        DataFileError: for a missing or malformed data file (``MissingDataFileError`` for a missing one).
    """
    if dataset not in SPECS:
        raise ValueError(f"unknown dataset {dataset!r}; valid datasets: {', '.join(SPECS)}")
    items = _load_all(dataset, general_instructions_file)
    if persona is not None and dataset.startswith("rolebench"):
        items = [item for item in items if item.persona == persona]
    return seeded_subset(items, limit, seed, _STRATUM[dataset])


__all__ = [
    "SPECS",
    "BenchmarkItem",
    "DataFileError",
    "DatasetSpec",
    "MissingDataFileError",
    "ScoreSpec",
    "load_items",
    "seeded_subset",
]
