"""From what the judge returned to one verdict and one 0–100 score, in each judging mode and pairwise order.

Two ways to read a judge (``judging.mode``):

- ``generate`` (the study's): the judge writes its reasoning and a ``**Result:**`` line, parsed strictly
  (:mod:`persona_lib.judging._parsing`). Likert 1–5 → ``(v − 1) / 4 · 100``; binary yes → 100, no → 0; pairwise:
  100 when the model's answer (not the reference) is preferred.
- ``distribution``: the judge's probability over the allowed labels right after the result prefix
  (:data:`RESULT_PREFIX`), read in one forward pass. Likert: the expected rating ``E[v] = Σ v·p(v)`` on the same
  0–100 scale, and the verdict is ``E[v]`` rounded half up; binary: ``100 · p(yes)``, verdict yes when
  ``p(yes) ≥ 0.5``; pairwise: ``100 · p(model's answer)``, verdict the more probable letter (``A`` on a tie). It
  always gives a verdict.

Pairwise comparisons can be judged in both orders (``judging.pairwise_orders: 2``): the second call has the two
answers swapped. In ``generate`` mode a verdict that follows the position rather than the answer (``A`` both times,
say) is a **tie** (score 50, verdict ``tie``); in ``distribution`` mode the two calls' probabilities for each
*answer* are averaged. Either way ``order_flipped`` records whether the two orders disagreed — the judge's position
bias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from persona_lib.judging._parsing import ParsedVerdict
from persona_lib.judging._templates import VerdictKind

RESULT_PREFIX = "**Result:**"
"""What the judge's answer is made to begin with when its label distribution is read (the templates' result line)."""

VERDICT_LABELS: dict[VerdictKind, tuple[str, ...]] = {
    "likert": (" 1", " 2", " 3", " 4", " 5"),
    "binary": (" yes", " no"),
    "pairwise": (" A", " B"),
}
"""The labels whose probabilities are read after :data:`RESULT_PREFIX`, per verdict kind (as the templates ask)."""

TIE = "tie"
"""The pairwise verdict when the two orders disagree (``generate`` mode)."""


@dataclass(frozen=True)
class Verdict:
    """One judged item's verdict in one mode.

    Attributes:
        value: 1–5, ``"A"``/``"B"``/``"tie"``, ``True``/``False``, or ``None`` when there is none.
        score: 0–100, NaN when there is none.
        status: ``ok``, ``fallback``, ``unparsed`` or ``judge_error``.
        reason: Why there is no verdict, or how it was reached ('' for a plain verdict).
        order_flipped: For pairwise items judged in both orders: whether the orders disagreed (``None`` otherwise).
    """

    value: int | str | bool | None
    score: float
    status: str
    reason: str = ""
    order_flipped: bool | None = None


def likert_score(value: float) -> float:
    """A 1–5 rating (or an expected rating) on the 0–100 scale: ``(value - 1) / 4 * 100``."""
    return (value - 1) / 4 * 100


def _other(position: str) -> str:
    return "B" if position == "A" else "A"


def generated_verdict(kind: VerdictKind, parsed: ParsedVerdict, reference_position: str | None) -> Verdict:
    """The verdict and score of one parsed generated judgement.

    Args:
        kind: The verdict kind.
        parsed: The parsed result line.
        reference_position: Where the reference answer was (pairwise), ``None`` when there is none.
    """
    if parsed.value is None:
        return Verdict(None, float("nan"), parsed.status, parsed.reason)
    if kind == "likert":
        score = likert_score(int(parsed.value))
    elif kind == "binary":
        score = 100.0 if parsed.value else 0.0
    else:
        score = float("nan") if reference_position is None else (0.0 if parsed.value == reference_position else 100.0)
    return Verdict(parsed.value, score, parsed.status, parsed.reason)


def distribution_verdict(kind: VerdictKind, probs: dict[str, float], reference_position: str | None) -> Verdict:
    """The verdict and score of one label distribution.

    Args:
        kind: The verdict kind.
        probs: Probabilities over the labels of :data:`VERDICT_LABELS` (keys with or without their leading space).
        reference_position: Where the reference answer was (pairwise), ``None`` when there is none.
    """
    p = {label.strip(): value for label, value in probs.items()}
    if kind == "likert":
        expected = sum(int(label) * value for label, value in p.items())
        return Verdict(int(math.floor(expected + 0.5)), likert_score(expected), "ok")
    if kind == "binary":
        return Verdict(p["yes"] >= 0.5, 100.0 * p["yes"], "ok")
    value = "A" if p["A"] >= p["B"] else "B"
    score = float("nan") if reference_position is None else 100.0 * p[_other(reference_position)]
    return Verdict(value, score, "ok")


def swapped_distribution(probs: dict[str, float]) -> dict[str, float]:
    """A pairwise distribution from the swapped order, expressed in the original order's letters."""
    p = {label.strip(): value for label, value in probs.items()}
    return {"A": p["B"], "B": p["A"]}


def both_orders_distribution(
    original: dict[str, float], swapped: dict[str, float], reference_position: str | None
) -> Verdict:
    """Pairwise distributions of both orders averaged per answer, with whether their preferred answers differ.

    Args:
        original: Probabilities of ``A``/``B`` in the original order.
        swapped: Probabilities of ``A``/``B`` in the swapped order (the answers' letters exchanged).
        reference_position: Where the reference answer was in the original order.
    """
    first = {label.strip(): value for label, value in original.items()}
    second = swapped_distribution(swapped)
    averaged = {label: (first[label] + second[label]) / 2 for label in ("A", "B")}
    verdict = distribution_verdict("pairwise", averaged, reference_position)
    flipped = (first["A"] >= first["B"]) != (second["A"] >= second["B"])
    return Verdict(verdict.value, verdict.score, "ok", "", flipped)


def both_orders_generated(original: Verdict, swapped: Verdict, reference_position: str | None) -> Verdict:
    """Two generated pairwise verdicts (the second from the swapped order) as one.

    Both parsed and pointing at the same answer: that verdict. Pointing at different answers: a tie (score 50).
    Only one parsed: that one, with the reason saying the other order gave none. Neither: the original's failure.
    """
    swapped_value = _other(swapped.value) if swapped.value in ("A", "B") else None
    if original.value is not None and swapped_value is not None:
        if original.value == swapped_value:
            return Verdict(original.value, original.score, original.status, original.reason, False)
        score = float("nan") if reference_position is None else 50.0
        return Verdict(TIE, score, original.status, "the two orders preferred different answers", True)
    if original.value is not None:
        return Verdict(
            original.value, original.score, original.status, f"swapped order gave no verdict ({swapped.reason})"
        )
    if swapped_value is not None:
        score = float("nan") if reference_position is None else (0.0 if swapped_value == reference_position else 100.0)
        return Verdict(swapped_value, score, swapped.status, f"original order gave no verdict ({original.reason})")
    return original


def position_bias(scores: pd.DataFrame) -> pd.DataFrame:
    """How often the judge's pairwise verdict changed when the two answers swapped places.

    Args:
        scores: The scores table (rows judged in both orders have ``order_flipped`` set).

    Returns:
        One row per dataset, model, judge and judging mode: n (comparisons judged in both orders with a verdict),
        n_flipped (verdicts that followed the position, counted as ties in ``generate`` mode) and flip_rate
        (percent). Empty when no comparison was judged in both orders.
    """
    keys = ["dataset", "model", "judge_model", "judge_mode"]
    if "order_flipped" not in scores:
        return pd.DataFrame(columns=[*keys, "n", "n_flipped", "flip_rate"])
    rows = scores[scores["order_flipped"].notna()].copy()
    rows["flipped"] = rows["order_flipped"].map(lambda value: str(value) == "True")
    table = rows.groupby(keys, sort=True)["flipped"].agg(n="size", n_flipped="sum").reset_index()
    table["flip_rate"] = 100 * table["n_flipped"] / table["n"]
    return table
