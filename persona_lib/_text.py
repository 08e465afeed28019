"""Small text helpers shared by the scorers."""

from __future__ import annotations

import re

_CLOSED_THINK_SPAN = re.compile(r"<think>.*?</think>", flags=re.DOTALL)
_THINK_MARKUP = ("<think>", "</think>")


def strip_think(text: str) -> str:
    """Remove reasoning-model ``<think>…</think>`` spans from a response.

    Rules, in order: every closed ``<think>…</think>`` span is removed; text up to a stray ``</think>`` (its
    opening tag was part of the prompt template) is removed; an unclosed ``<think>`` removes everything after it
    (the model never finished reasoning, so there is no answer). When something was removed, leading whitespace
    of what remains is dropped too. Text without think markup is returned unchanged, byte for byte, because
    some IFBench checkers look at whitespace.

    Args:
        text: The raw model response.

    Returns:
        The response the user would see.
    """
    if not any(tag in text for tag in _THINK_MARKUP):
        return text
    visible = _CLOSED_THINK_SPAN.sub("", text)
    if "</think>" in visible:
        visible = visible.rsplit("</think>", 1)[1]
    if "<think>" in visible:
        visible = visible.split("<think>", 1)[0]
    return visible.lstrip()
