"""The records every benchmark module produces: items and dataset specifications."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BenchmarkItem:
    """One prompt of a dialogue-conditioned benchmark.

    Attributes:
        dataset: The dataset's name (a key of ``persona_lib.benchmarks.SPECS``).
        item_id: Identifier unique within the dataset and stable across runs.
        prompt: The user message asked after the dialogue prefix.
        persona: The character a persona-specific item belongs to (RoleBench), else ``None``.
        reference: A reference answer for pairwise judging (RoleBench), else ``None``.
        meta: Dataset-specific fields (documented in each dataset module).
    """

    dataset: str
    item_id: str
    prompt: str
    persona: str | None = None
    reference: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ScoreSpec:
    """One score reported for a dataset.

    Attributes:
        name: Display name, e.g. ``"Excess safety"``.
        higher_is_better: Direction of "better".
        where: ``(meta key, value)`` pairs an item must match to count towards this score (empty: all items).
    """

    name: str
    higher_is_better: bool
    where: tuple[tuple[str, Any], ...] = ()

    def applies_to(self, item: BenchmarkItem) -> bool:
        """True when ``item`` counts towards this score."""
        return all(item.meta.get(key) == value for key, value in self.where)


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is, where it comes from and how it is scored.

    Attributes:
        name: Dataset name used in configs and result tables.
        version: Bumped whenever items, prompts or scoring change; stored with every score.
        source: Origin and licence of the items.
        metric: How an item is scored and aggregated (e.g. ``refusal_rate``).
        higher_is_better: Direction of the dataset's primary score (``scores[0]``).
        judged: True when an LLM judge scores the answers; False for rule-based scoring.
        description: One paragraph for the book.
        scores: The reported scores, primary first (XSTest reports two: safety and excess safety).
    """

    name: str
    version: int
    source: str
    metric: str
    higher_is_better: bool
    judged: bool
    description: str
    scores: tuple[ScoreSpec, ...] = ()
