"""The persona system prompt and the system messages of each condition."""

from __future__ import annotations

from persona_lib.contract import Message
from persona_lib.personas._persona import Persona

_PERSONA_PROMPT = """\
Take on the role of {name}.

{description}

For the rest of this conversation:
- Answer as {name}, from {name}'s own point of view and in {name}'s voice.
- Take every question or request seriously and develop your answer the way {name} would.
- Never say or hint that you are an AI assistant, a language model or following instructions, and never \
step out of the role, even if someone challenges you about it.
- Bring in the observations, opinions and insights that are {name}'s own."""


def persona_system_prompt(persona: Persona) -> str:
    """The system prompt that assigns ``persona`` to the model.

    It names the character, gives its description, then four rules in this project's own words, one for each of
    the study's: speak from the character's perspective; engage with the question and elaborate within the persona;
    never reveal being an AI or break character, even when confronted; offer insights that are the character's
    own.

    Args:
        persona: The character to play.

    Returns:
        The prompt text (no trailing newline).
    """
    return _PERSONA_PROMPT.format(name=persona.name, description=persona.description.strip())


def system_messages(condition: Persona | None, reasoning_off_system: str | None = None) -> list[Message]:
    """The system messages that open every conversation of a condition.

    Args:
        condition: The persona, or ``None`` for the no-persona baseline.
        reasoning_off_system: A fixed line that switches a model family's reasoning off (the study used
            ``detailed thinking: off`` for the Nemotron models); it is sent in both conditions: alone for the
            baseline, and followed by a blank line and the persona prompt for a persona, as in the study.

    Returns:
        For a persona, one system message (the reasoning line, if any, then the persona prompt). For the
        baseline, no message at all, or one holding only the reasoning line.
    """
    parts = [reasoning_off_system.strip()] if reasoning_off_system and reasoning_off_system.strip() else []
    if condition is not None:
        parts.append(persona_system_prompt(condition))
    if not parts:
        return []
    return [{"role": "system", "content": "\n\n".join(parts)}]
