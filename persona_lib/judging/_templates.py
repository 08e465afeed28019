"""Judge prompt templates and their rendering.

Every template lives in ``templates/<name>.txt`` as plain text with ``${placeholder}`` fields
(:class:`string.Template`); the wording is this project's own, restating the study's rubrics. The judge sees the
character's name and description (nothing about a character for the no-persona baseline), the user query and the
reply or replies — never the dialogue history. ``<think>…</think>`` spans are removed from replies before rendering.
Every template ends with the same answer format, the one the study's judge (Selene-1-Mini) was trained on: a
``**Reasoning:**`` paragraph, then a ``**Result:**`` line (see :mod:`persona_lib.judging._parsing`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Literal

from persona_lib._text import strip_think

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

VerdictKind = Literal["likert", "pairwise", "binary"]

TEMPLATE_VERDICTS: dict[str, VerdictKind] = {
    "fidelity_knowledge": "likert",
    "fidelity_style": "likert",
    "fidelity_in_character": "likert",
    "bfi_trait": "likert",
    "pairwise_role_specific": "pairwise",
    "pairwise_general": "pairwise",
    "refusal": "binary",
}
"""The shipped templates (file stems under ``templates/``) and the verdict each asks for."""

TEMPLATE_NAMES: tuple[str, ...] = tuple(TEMPLATE_VERDICTS)

RESULT_PLACEHOLDERS: dict[VerdictKind, str] = {
    "likert": "an integer from 1 to 5",
    "pairwise": "A or B",
    "binary": "yes or no",
}
"""What the judge is told to write on its result line, per verdict kind."""


@dataclass(frozen=True)
class BigFiveDimension:
    """A Big Five dimension as the BFI judge sees it: its six facets and its two poles.

    Attributes:
        facets: The dimension's six facets (NEO-PI-R).
        low_pole: One or two words for the low end (used in the scale: "strongly <low_pole>").
        low_description: The low end, facet by facet.
        high_pole: One or two words for the high end.
        high_description: The high end, facet by facet.
    """

    facets: tuple[str, ...]
    low_pole: str
    low_description: str
    high_pole: str
    high_description: str


BIG_FIVE: dict[str, BigFiveDimension] = {
    "Extraversion": BigFiveDimension(
        ("warmth", "gregariousness", "assertiveness", "activity", "excitement seeking", "positive emotions"),
        "introverted",
        "reserved and distant, prefers solitude or a few people, leaves the lead to others, keeps a slow pace, "
        "avoids thrills, rarely shows exuberance",
        "extroverted",
        "warm and friendly, seeks company, takes charge, lives at a brisk pace, looks for excitement, often cheerful "
        "and enthusiastic",
    ),
    "Agreeableness": BigFiveDimension(
        ("trust", "straightforwardness", "altruism", "compliance", "modesty", "tender-mindedness"),
        "egocentric",
        "suspicious of others' motives, willing to manipulate, puts own interests first, quick to fight, boastful, "
        "hard-headed and unsentimental",
        "agreeable",
        "trusting, frank and sincere, generous and helpful, yields rather than fights, humble, moved by others' needs",
    ),
    "Conscientiousness": BigFiveDimension(
        ("competence", "order", "dutifulness", "achievement striving", "self-discipline", "deliberation"),
        "unstructured",
        "doubts own ability, untidy and unsystematic, casual about obligations, unambitious, easily distracted, acts "
        "on impulse",
        "organized",
        "capable, orderly and methodical, dependable, ambitious and hard-working, persistent, thinks before acting",
    ),
    "Neuroticism": BigFiveDimension(
        ("anxiety", "angry hostility", "depression", "self-consciousness", "impulsiveness", "vulnerability"),
        "calm",
        "relaxed, slow to anger, contented, at ease with others, in control of urges, copes well with stress",
        "limbic (easily upset)",
        "worried and tense, quick to anger, prone to sadness, easily embarrassed, gives in to urges, overwhelmed by "
        "stress",
    ),
    "Openness": BigFiveDimension(
        ("fantasy", "aesthetics", "feelings", "actions", "ideas", "values"),
        "non-curious",
        "down-to-earth, indifferent to art, pays little heed to feelings, prefers the familiar, uninterested in "
        "abstract ideas, holds to tradition and authority",
        "inquisitive",
        "imaginative, moved by art and beauty, attentive to feelings, eager for new experiences, intellectually "
        "curious, questions received values",
    ),
}
"""How the BFI judge is told what each dimension means. The study described each dimension by its six facets and
contrasted high with low scorers; its scale runs from "strongly <low pole>" to "strongly <high pole>" with the pole
terms of the SLOAN Big-Five typology, which are used here too (the protocol chapter maps every anchor)."""

_FIELDS: dict[str, frozenset[str]] = {
    "fidelity_knowledge": frozenset({"query", "response"}),
    "fidelity_style": frozenset({"query", "response"}),
    "fidelity_in_character": frozenset({"query", "response"}),
    "bfi_trait": frozenset({"query", "response", "dimension"}),
    "pairwise_role_specific": frozenset({"query", "response_a", "response_b"}),
    "pairwise_general": frozenset({"query", "response_a", "response_b"}),
    "refusal": frozenset({"query", "response"}),
}
_RESPONSE_FIELDS = ("response", "response_a", "response_b")
_BLANK_LINES = re.compile(r"\n{3,}")


def answer_format(kind: VerdictKind) -> str:
    """The closing instruction of every template: reasoning, then the result line for ``kind``."""
    return (
        "Reply in exactly this form:\n"
        "**Reasoning:** <a few sentences explaining your judgement>\n\n"
        f"**Result:** <{RESULT_PLACEHOLDERS[kind]}>"
    )


@cache
def _load_template(name: str) -> Template:
    if name not in TEMPLATE_NAMES:
        raise ValueError(f"unknown judge template {name!r}; choose from {', '.join(TEMPLATE_NAMES)}")
    return Template((TEMPLATE_DIR / f"{name}.txt").read_text(encoding="utf-8"))


def character_block(name: str | None, description: str | None) -> str:
    """The paragraph that introduces the character to the judge.

    Args:
        name: The character's name; ``None`` or ``""`` for the no-persona baseline.
        description: The character's description (may be empty).

    Returns:
        A short paragraph naming the character and quoting the description; empty for the baseline, about whom the
        judge is told nothing.
    """
    if not name:
        return ""
    text = f"The character is {name}."
    if description and description.strip():
        text += f" Their description:\n<<<DESCRIPTION\n{description.strip()}\nDESCRIPTION>>>"
    return text


def render_judge_prompt(
    template: str, *, character_name: str | None, character_description: str | None, **fields: str
) -> str:
    """Fill one judge template.

    Args:
        template: One of :data:`TEMPLATE_NAMES`.
        character_name: The character's name (``None`` for the baseline; only BFI, refusal and pairwise
            judgements are made for the baseline).
        character_description: The character's description.
        **fields: The template's fields: ``query`` and ``response`` (Likert and binary templates), plus
            ``dimension`` (a Big Five dimension name, see :data:`BIG_FIVE`) for ``bfi_trait``; ``query``,
            ``response_a`` and
            ``response_b`` for the pairwise templates. ``<think>`` spans are stripped from responses.

    Returns:
        The prompt text, sent to the judge as a single user message.

    Raises:
        ValueError: for an unknown template, a missing or unexpected field, or an unknown Big Five dimension.
    """
    compiled = _load_template(template)
    expected = _FIELDS[template]
    missing = expected - fields.keys()
    unexpected = fields.keys() - expected
    if missing or unexpected:
        raise ValueError(
            f"template {template!r} needs fields {sorted(expected)}; missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}"
        )
    values = {key: str(value) for key, value in fields.items()}
    for key in _RESPONSE_FIELDS:
        if key in values:
            values[key] = strip_think(values[key]).strip()
    if template == "bfi_trait":
        dimension = values["dimension"]
        if dimension not in BIG_FIVE:
            raise ValueError(f"unknown Big Five dimension {dimension!r}; expected one of {list(BIG_FIVE)}")
        poles = BIG_FIVE[dimension]
        values.update(facets=", ".join(poles.facets), low_pole=poles.low_pole, high_pole=poles.high_pole,
                      low_description=poles.low_description, high_description=poles.high_description)
    values["character_block"] = character_block(character_name, character_description)
    values["answer_format"] = answer_format(TEMPLATE_VERDICTS[template])
    return _BLANK_LINES.sub("\n\n", compiled.substitute(values))
