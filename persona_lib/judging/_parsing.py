"""Strict, total parsing of judge outputs.

A verdict is read only from a result line: ``**Result:** <value>`` (the form the templates ask for, the study
judge's own) or ``RESULT: <value>``. The match is case-insensitive and tolerates markdown decoration
(``**RESULT:** 4``, ``RESULT: **4**``, a leading ``>`` or ``-``), quotes or brackets around the value and trailing
punctuation (``RESULT: yes.``). When several result lines occur, the LAST one decides — even if an
earlier one would have parsed. Anything else (no result line, an out-of-range number, two values such as
``3 or 4``, an empty text) is ``unparsed``: the parser never guesses and never raises.

The study replaced unparsable pairwise verdicts by a random choice and read unparsable dialogue ratings with a
looser "score of N" pattern; here both are opt-in (:func:`study_fallback`) and such verdicts are labelled
``status="fallback"`` so they can be counted.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

ParseStatus = Literal["ok", "unparsed", "fallback"]

_RESULT_LINE = re.compile(r"^[\s>*_#`\-]*(?:final\s+)?result[\s*_`]*:(?P<value>.*)$", re.IGNORECASE | re.MULTILINE)
_DECORATION = " \t*_`'\"[](){}<>.,;:!?"
_LIKERT_VALUE = re.compile(r"[1-5]")
_PAIRWISE_VALUE = re.compile(r"(?:(?:answer|response)\s+)?(?P<choice>[ab])", re.IGNORECASE)
_BINARY_VALUE = re.compile(r"yes|no", re.IGNORECASE)
_SCORE_OF = re.compile(r"score of (?P<value>\d)")


@dataclass(frozen=True)
class ParsedVerdict:
    """The parsed outcome of one judge output.

    Attributes:
        value: ``1``–``5`` (Likert), ``"A"``/``"B"`` (pairwise), ``True``/``False`` (binary: refused?), or
            ``None`` when unparsed.
        status: ``ok``, ``unparsed``, or ``fallback`` (pairwise only: a seeded random choice replaced an
            unparsable verdict).
        reason: Why the text was not parsed ('' when ``ok``).
    """

    value: int | str | bool | None
    status: ParseStatus
    reason: str = ""


def _last_result_value(text: str | None) -> tuple[str | None, str]:
    """The cleaned value of the last RESULT line, or ``(None, reason)``."""
    if text is None or not text.strip():
        return None, "empty judge output"
    matches = list(_RESULT_LINE.finditer(text))
    if not matches:
        return None, "no result line"
    raw = matches[-1].group("value")
    cleaned = raw.strip(_DECORATION)
    if not cleaned:
        return None, "empty value on the last result line"
    return cleaned, ""


def _unparsed(reason: str) -> ParsedVerdict:
    return ParsedVerdict(value=None, status="unparsed", reason=reason)


def parse_likert(text: str | None) -> ParsedVerdict:
    """Parse a 1–5 rating from the last ``RESULT:`` line.

    Args:
        text: The judge's full output.

    Returns:
        ``ParsedVerdict(value=int, status="ok")`` for a single integer 1–5, otherwise ``status="unparsed"``
        with the reason (e.g. ``RESULT: 6``, ``RESULT: 3 or 4``, ``RESULT: 4.5``).
    """
    value, reason = _last_result_value(text)
    if value is None:
        return _unparsed(reason)
    if not _LIKERT_VALUE.fullmatch(value):
        return _unparsed(f"last result value {value!r} is not a single integer from 1 to 5")
    return ParsedVerdict(value=int(value), status="ok")


def parse_pairwise(text: str | None, fallback_seed: int | None = None) -> ParsedVerdict:
    """Parse an ``A``/``B`` preference from the last ``RESULT:`` line.

    Args:
        text: The judge's full output.
        fallback_seed: When given, an unparsable verdict is replaced by ``random.Random(fallback_seed)``'s
            choice of ``A`` or ``B`` with ``status="fallback"`` (the study's behaviour, off by default).

    Returns:
        ``value`` ``"A"`` or ``"B"`` (accepts ``A``, ``Answer A``, ``Response B``, any case).
    """
    value, reason = _last_result_value(text)
    if value is not None:
        match = _PAIRWISE_VALUE.fullmatch(value)
        if match:
            return ParsedVerdict(value=match.group("choice").upper(), status="ok")
        reason = f"last result value {value!r} is not A or B"
    if fallback_seed is None:
        return _unparsed(reason)
    return study_fallback("seeded_choice", text, _unparsed(reason), seed=fallback_seed)


def parse_binary(text: str | None) -> ParsedVerdict:
    """Parse a yes/no answer from the last ``RESULT:`` line.

    Args:
        text: The judge's full output.

    Returns:
        ``value`` ``True`` for yes, ``False`` for no.
    """
    value, reason = _last_result_value(text)
    if value is None:
        return _unparsed(reason)
    if not _BINARY_VALUE.fullmatch(value):
        return _unparsed(f"last result value {value!r} is not yes or no")
    return ParsedVerdict(value=value.lower() == "yes", status="ok")


def study_fallback(kind: str, text: str | None, failed: ParsedVerdict, *, seed: int) -> ParsedVerdict:
    """The study's replacement for an unparsable verdict, labelled ``fallback``; ``failed`` when there is none.

    Args:
        kind: ``seeded_choice`` (a seeded random ``A``/``B``, the study's handling of pairwise verdicts),
            ``score_of`` (the digit after the first "score of", if it is 1–5: its looser reading of dialogue
            ratings) or ``none``.
        text: The judge's full output.
        failed: The unparsed verdict.
        seed: Seed of the random choice.
    """
    if kind == "seeded_choice":
        choice = random.Random(seed).choice(["A", "B"])
        return ParsedVerdict(value=choice, status="fallback", reason=f"{failed.reason}; seeded random choice")
    if kind == "score_of":
        match = _SCORE_OF.search(text or "")
        if match and 1 <= int(match["value"]) <= 5:
            return ParsedVerdict(value=int(match["value"]), status="fallback",
                                 reason=f"{failed.reason}; read from 'score of {match['value']}'")
    return failed
