"""Judge prompt templates and their rendering.

Every template lives in ``templates/<name>.txt`` as plain text with ``${placeholder}`` fields
(:class:`string.Template`). The judge sees the character's name and description, the user query and the
response(s) — never the dialogue history. ``<think>…</think>`` spans are removed from responses before rendering.
Every template asks for reasoning first and a final ``RESULT: …`` line (see :mod:`persona_lib.judging._parsing`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template

from persona_lib._text import strip_think

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

TEMPLATE_NAMES: tuple[str, ...] = (
    "fidelity_knowledge",
    "fidelity_style",
    "fidelity_in_character",
    "bfi_trait",
    "pairwise_role_specific",
    "pairwise_general",
    "refusal",
)
"""Names of the shipped templates (file stems under ``templates/``)."""

BIG_FIVE_GLOSSES: dict[str, str] = {
    "Extraversion": "sociable, talkative, energetic, assertive",
    "Agreeableness": "kind, trusting, cooperative, forgiving",
    "Conscientiousness": "organised, thorough, reliable, hard-working",
    "Neuroticism": "anxious, moody, easily upset, tense",
    "Openness": "curious, imaginative, artistic, open to new ideas",
}
"""Short descriptions of each Big Five dimension shown to the judge next to the dimension name."""

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
        A short paragraph naming the character and quoting the description, or a line saying the speaker has
        no assigned character.
    """
    if not name:
        return "The speaker was given no character to play: it answers as itself, a general-purpose AI assistant."
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
            ``dimension`` (a Big Five dimension name) for ``bfi_trait``; ``query``, ``response_a`` and
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
        if dimension not in BIG_FIVE_GLOSSES:
            raise ValueError(f"unknown Big Five dimension {dimension!r}; expected one of {list(BIG_FIVE_GLOSSES)}")
        values["dimension_gloss"] = BIG_FIVE_GLOSSES[dimension]
    values["character_block"] = character_block(character_name, character_description)
    return compiled.substitute(values)
