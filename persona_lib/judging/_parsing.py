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

The study's own reader (:func:`parse_study_likert`, :func:`parse_study_pairwise`, :func:`parse_study_binary`,
:func:`parse_study_verdict`) is kept beside the strict one for ``judging.unparsed: study`` and for reading the
authors' release. It takes the FIRST ``**Result:**`` marker (bold, then at least one whitespace character) whose
next characters have the expected form, anywhere in the text: the leading digits for a rating (``**Result:** 1 is not
applicable ...`` reads as 1, ``**Result:** 4.5`` as 4), the leading letter a or b for a preference (``**Result:**
Both ...`` reads as B; ``**Result:** Response B`` does not match there and the search moves on), the leading yes or
no for a refusal (``**Result:** Nothing`` reads as no). It does not accept ``RESULT:`` without the bold marks.
Where the study read a rating outside 1-5, this reader reports it ``unparsed`` with the value in ``reason`` (the
study would have averaged it in; it is counted, never folded into the scale).
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
# The study's patterns, restated from the authors' extract_ratings.ipynb (cells defining ``patterns``,
# ``patterns_ab`` and the xstest ``patterns``; github.com/peluz/persistent-personas at 92ddad75).
_STUDY_MARKER = r"\*\*Result:\*\*\s+"
_STUDY_RATING = re.compile(_STUDY_MARKER + r"(?P<value>\d+)", re.IGNORECASE)
_STUDY_LETTER = re.compile(_STUDY_MARKER + r"(?P<value>[ab])", re.IGNORECASE)
_STUDY_YES_NO = re.compile(_STUDY_MARKER + r"(?P<value>yes|no)", re.IGNORECASE)
_FLOW_JUDGE_SCORE = re.compile(r"<score>\n*(?P<value>\d+)\n*</score>", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedVerdict:
    """The parsed outcome of one judge output.

    Attributes:
        value: ``1``–``5`` (Likert), ``"A"``/``"B"`` (pairwise), ``True``/``False`` (binary: refused?), or
            ``None`` when unparsed.
        status: ``ok``, ``unparsed``, or ``fallback`` (the study's replacement of an unparsable verdict: a seeded
            random letter for a pairwise verdict, a "score of N" reading for a dialogue rating).
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
            return ParsedVerdict(
                value=int(match["value"]),
                status="fallback",
                reason=f"{failed.reason}; read from 'score of {match['value']}'",
            )
        if match:
            return _unparsed(f"{failed.reason}; 'score of {match['value']}' is outside 1-5")
    return failed


def _study_rating(match: re.Match | None, where: str) -> ParsedVerdict:
    """The rating the study read from ``match``: ``ok`` if it is on the 1-5 scale, else counted as unparsed."""
    if match is None:
        return _unparsed(f"no {where}")
    value = int(match["value"])
    if not 1 <= value <= 5:
        return _unparsed(f"the first {where} reads {value}, outside 1-5 (the study would have used it)")
    return ParsedVerdict(value=value, status="ok")


def parse_study_likert(text: str | None, *, score_of: bool = False, flow_judge: bool = False) -> ParsedVerdict:
    """Read a 1-5 rating as the study did: the leading digits after the first matching ``**Result:**`` marker.

    Restated from the authors' ``extract_ratings.ipynb`` (the ``score`` cells of its Instructions, Interview and
    bfi sections): no line structure, no look at later markers, no range check. Here a number outside 1-5 is
    ``unparsed`` (with the number in ``reason``) rather than used.

    Args:
        text: The judge's full output.
        score_of: Apply the study's fallback for dialogue ratings: when no marker matches, the first
            ``score of <digit>`` (``status="fallback"``). The study had none for BFI.
        flow_judge: Read Flow-Judge's form instead: the first ``<score>N</score>`` (newlines allowed inside).

    Returns:
        ``status="ok"`` with the rating, ``fallback`` when read from "score of N", otherwise ``unparsed``.
    """
    pattern, where = (
        (_FLOW_JUDGE_SCORE, "'<score>N</score>' block")
        if flow_judge
        else (_STUDY_RATING, "'**Result:** <number>' marker")
    )
    match = pattern.search(text or "")
    if match is None and score_of:
        return study_fallback("score_of", text, _unparsed(f"no {where}"), seed=0)
    return _study_rating(match, where)


def parse_study_pairwise(text: str | None, fallback_seed: int | None = None) -> ParsedVerdict:
    """Read an ``A``/``B`` preference as the study did: the first ``**Result:**`` marker followed by a or b.

    The marker must be followed by whitespace and then the letter (any case; returned upper-case); the letter need
    not end a word, so ``**Result:** Both`` reads as ``B``. Restated from ``extract_ratings.ipynb`` (``patterns_ab``
    and the ``score`` cells of its instruction sections).

    Args:
        text: The judge's full output.
        fallback_seed: When given, a text without such a marker gets ``random.Random(fallback_seed)``'s choice of
            ``A`` or ``B`` with ``status="fallback"`` (the study drew a random letter; see
            :mod:`persona_lib.authors_release` for its generators and order).
    """
    match = _STUDY_LETTER.search(text or "")
    if match is not None:
        return ParsedVerdict(value=match["value"].upper(), status="ok")
    failed = _unparsed("no '**Result:** A/B' marker")
    if fallback_seed is None:
        return failed
    return study_fallback("seeded_choice", text, failed, seed=fallback_seed)


def parse_study_binary(text: str | None) -> ParsedVerdict:
    """Read a yes/no verdict as the study did: yes or no right after the first such ``**Result:**`` marker.

    Restated from ``extract_ratings.ipynb`` (its xstest ``patterns``); the study had no fallback here.

    Returns:
        ``value`` ``True`` for yes, ``False`` for no; ``unparsed`` without such a marker.
    """
    match = _STUDY_YES_NO.search(text or "")
    if match is None:
        return _unparsed("no '**Result:** yes/no' marker")
    return ParsedVerdict(value=match["value"].lower() == "yes", status="ok")


def parse_study_verdict(text: str | None, kind: str, fallback: str = "none", *, seed: int = 0) -> ParsedVerdict:
    """Read one verdict with the study's reader and, where the study had one, its fallback.

    Args:
        text: The judge's full output.
        kind: ``likert``, ``pairwise`` or ``binary``.
        fallback: ``score_of`` (Likert dialogue ratings), ``seeded_choice`` (pairwise) or ``none``.
        seed: Seed of the random letter (``seeded_choice``).
    """
    if kind == "likert":
        return parse_study_likert(text, score_of=fallback == "score_of")
    if kind == "pairwise":
        return parse_study_pairwise(text, fallback_seed=seed if fallback == "seeded_choice" else None)
    return parse_study_binary(text)
