"""The persona record and the names the study uses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

BASELINE = "empty"
"""Name of the no-persona condition (no system prompt), as in the study's files."""

STUDY_PERSONAS: tuple[str, ...] = (
    "Gaston",
    "Michael Scott",
    "Blair Waldorf",
    "Lestat de Lioncourt",
    "Queen Catherine",
    "HAL 9000",
    "Juno MacGuff",
    "Mary Sibley",
)
"""The study's eight RoleBench characters, in ``data/roles.json`` order."""

BFI_DIMENSIONS: tuple[str, ...] = ("Extraversion", "Agreeableness", "Conscientiousness", "Neuroticism", "Openness")
"""The Big-Five dimensions, in InCharacter's order."""

BFI_LABEL_SOURCES: tuple[str, ...] = ("annotation", "pdb")
"""InCharacter's two sources of ground-truth Big-Five labels."""


@dataclass(frozen=True)
class Persona:
    """A character the model is asked to play.

    Attributes:
        name: The character's name (filled into the interview script and the system prompt).
        description: A second-person description of the character ("You are known for ...").
        bfi_labels: Ground-truth Big-Five profiles on the 1-5 scale, keyed by label source (``"annotation"``,
            ``"pdb"`` or a custom file's ``bfi_source``) and then by dimension; ``None`` when the character has
            no labels (BFI error is then undefined for it).
    """

    name: str
    description: str
    bfi_labels: dict[str, dict[str, float]] | None = field(default=None, hash=False)

    @property
    def has_bfi_labels(self) -> bool:
        """True when a Big-Five ground truth exists, i.e. BFI error can be computed for this persona."""
        return bool(self.bfi_labels)


def with_label_source(personas: Iterable[Persona], source: str) -> list[Persona]:
    """The personas with Big-Five labels from one source only, so errors from two sources are never averaged.

    A study character keeps its ``source`` labels (``annotation`` or ``pdb``); a custom persona whose labels come
    from a single source of its own keeps them as they are.

    Args:
        personas: The personas.
        source: The label source to keep.
    """
    restricted = []
    for persona in personas:
        labels = persona.bfi_labels or {}
        if source in labels:
            labels = {source: labels[source]}
        elif len(labels) != 1 or set(labels) & set(BFI_LABEL_SOURCES):
            labels = {}
        restricted.append(replace(persona, bfi_labels=labels or None))
    return restricted
