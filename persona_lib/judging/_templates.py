"""Judge prompt templates and their rendering; which template a dataset uses lives with the dataset.

A :class:`JudgeTemplate` is plain text with ``${placeholder}`` fields (:class:`string.Template`), the verdict it
asks for and the fields it needs; each judged dataset defines its own (the shipped ones are files under
``persona_lib/datasets/templates/``, in this project's own words restating the study's rubrics) and lists them in
its spec. Rendering adds what every judge prompt shares: the character paragraph (the character's name and
description; nothing about a character for the no-persona baseline) and the answer format the study's judge
(Selene-1-Mini) was trained on, a ``**Reasoning:**`` paragraph then a ``**Result:**`` line
(:mod:`persona_lib.judging._parsing`). The judge never sees the dialogue history; ``<think>…</think>`` spans are
removed from replies before rendering.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Literal

from persona_lib._text import strip_think

VerdictKind = Literal["likert", "pairwise", "binary"]

RESULT_PLACEHOLDERS: dict[VerdictKind, str] = {
    "likert": "an integer from 1 to 5",
    "pairwise": "A or B",
    "binary": "yes or no",
}
"""What the judge is told to write on its result line, per verdict kind."""

_SHARED_FIELDS = frozenset({"character_block", "answer_format"})
_RESPONSE_FIELDS = ("response", "response_a", "response_b")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class JudgeTemplate:
    """One judge prompt of a dataset.

    Attributes:
        name: A name unique among the registered datasets' templates (e.g. ``fidelity_knowledge``).
        text: The prompt with ``${field}`` placeholders, including ``${character_block}`` and ``${answer_format}``.
        verdict: The verdict it asks for: ``likert`` (1-5), ``pairwise`` (A/B) or ``binary`` (yes/no).
        fields: The fields the caller fills in (``query``, ``response``...), besides the two shared ones.
    """

    name: str
    text: str
    verdict: VerdictKind
    fields: frozenset[str]

    @classmethod
    def from_file(cls, path: str | Path, verdict: VerdictKind, fields: Iterable[str]) -> JudgeTemplate:
        """The template stored in ``path`` (UTF-8 text), named after the file."""
        path = Path(path)
        return cls(path.stem, path.read_text(encoding="utf-8"), verdict, frozenset(fields))

    def placeholders(self) -> set[str]:
        """Every ``${field}`` the text uses."""
        return {
            match.group("named") or match.group("braced")
            for match in Template.pattern.finditer(self.text)
            if match.group("named") or match.group("braced")
        }


def answer_format(kind: VerdictKind) -> str:
    """The closing instruction of every template: reasoning, then the result line for ``kind``."""
    return (
        "Reply in exactly this form:\n"
        "**Reasoning:** <a few sentences explaining your judgement>\n\n"
        f"**Result:** <{RESULT_PLACEHOLDERS[kind]}>"
    )


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
    template: JudgeTemplate, *, character_name: str | None, character_description: str | None, **fields: str
) -> str:
    """Fill one judge template.

    Args:
        template: The dataset's template.
        character_name: The character's name (``None`` for the no-persona baseline, about whom the judge is told
            nothing).
        character_description: The character's description.
        **fields: Exactly the template's :attr:`~JudgeTemplate.fields`; ``<think>`` spans are stripped from
            ``response``, ``response_a`` and ``response_b``.

    Returns:
        The prompt text, sent to the judge as a single user message.

    Raises:
        ValueError: for a missing or unexpected field.
    """
    missing = template.fields - fields.keys()
    unexpected = fields.keys() - template.fields
    if missing or unexpected:
        raise ValueError(
            f"template {template.name!r} needs fields {sorted(template.fields)}; missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}"
        )
    values = {key: str(value) for key, value in fields.items()}
    for key in _RESPONSE_FIELDS:
        if key in values:
            values[key] = strip_think(values[key]).strip()
    values["character_block"] = character_block(character_name, character_description)
    values["answer_format"] = answer_format(template.verdict)
    return _BLANK_LINES.sub("\n\n", Template(template.text).substitute(values))
