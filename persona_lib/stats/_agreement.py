"""Agreement between two raters: Cohen's κ (optionally weighted) and the statistics the judge validation reports.

Used to compare the judge with people (:mod:`persona_lib.scoring`), two judges with each other, and the judge with
a rule (the XSTest refusal check).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

LabelKind = Literal["likert", "pairwise", "binary"]


def cohen_kappa(
    first: Sequence[Any],
    second: Sequence[Any],
    categories: Sequence[Any],
    weights: Literal["none", "linear", "quadratic"] = "none",
) -> float:
    """Cohen's κ between two raters, optionally weighted.

    ``κ = 1 − Σ w·O / Σ w·E`` where ``O`` is the observed joint proportion table, ``E`` the product of the
    marginals, and ``w`` the disagreement weight of two categories at positions ``i`` and ``j`` of
    ``categories``: ``0/1`` (none), ``|i−j|/(k−1)`` (linear) or ``((i−j)/(k−1))²`` (quadratic).

    Args:
        first: One rater's labels.
        second: The other rater's labels (same length).
        categories: All possible categories in order (categories nobody used still count for the weights).
        weights: ``none``, ``linear`` or ``quadratic``.

    Returns:
        κ, or NaN when it is undefined (no items, or chance disagreement is zero: both raters used one and the
        same category throughout).

    Raises:
        ValueError: for unequal lengths or a label outside ``categories``.
    """
    if len(first) != len(second):
        raise ValueError(f"raters have different numbers of labels: {len(first)} and {len(second)}")
    position = {category: i for i, category in enumerate(categories)}
    unknown = {label for label in [*first, *second] if label not in position}
    if unknown:
        raise ValueError(f"labels {sorted(map(str, unknown))} are not among the categories {list(categories)}")
    if not first:
        return float("nan")
    k = len(categories)
    observed = np.zeros((k, k))
    for a, b in zip(first, second, strict=True):
        observed[position[a], position[b]] += 1
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    i, j = np.indices((k, k))
    if weights == "none":
        weight = (i != j).astype(float)
    elif weights == "linear":
        weight = np.abs(i - j) / max(k - 1, 1)
    elif weights == "quadratic":
        weight = ((i - j) / max(k - 1, 1)) ** 2
    else:
        raise ValueError(f"weights must be 'none', 'linear' or 'quadratic', got {weights!r}")
    chance = float((weight * expected).sum())
    if chance == 0:
        return float("nan")
    return 1 - float((weight * observed).sum()) / chance


def agreement(
    judge: Sequence[Any], human: Sequence[Any], kind: LabelKind, expected: Sequence[float] | None = None
) -> dict[str, float]:
    """Agreement statistics between judge verdicts and human labels (both already parsed, no missing values).

    Args:
        judge: The judge's values (1–5, ``"A"``/``"B"``/``"tie"``, or booleans).
        human: The human labels, same order.
        kind: ``likert``, ``pairwise`` or ``binary``.
        expected: For Likert verdicts read from a distribution, the expected ratings (same order): the mean
            absolute error and within ±1 are computed on them instead of on ``judge``.

    Returns:
        ``likert``: kappa (quadratic-weighted, categories 1–5), exact_agreement, mae, within_one;
        ``pairwise``/``binary``: kappa (unweighted), accuracy (a pairwise tie agrees with no human label).
        Proportions in 0–1.
    """
    if len(judge) != len(human):
        raise ValueError(f"{len(judge)} judge values but {len(human)} human labels")
    if kind == "likert":
        a = np.asarray(judge if expected is None else expected, dtype=float)
        b = np.asarray(human, dtype=float)
        empty = a.size == 0
        return {
            "kappa": cohen_kappa(list(judge), list(human), [1, 2, 3, 4, 5], weights="quadratic"),
            "exact_agreement": float("nan") if empty else float(np.mean(np.asarray(judge, dtype=float) == b)),
            "mae": float("nan") if empty else float(np.mean(np.abs(a - b))),
            "within_one": float("nan") if empty else float(np.mean(np.abs(a - b) <= 1)),
        }
    categories = (["A", "B", "tie"] if "tie" in set(judge) else ["A", "B"]) if kind == "pairwise" else [False, True]
    return {
        "kappa": cohen_kappa(list(judge), list(human), categories),
        "accuracy": float("nan") if not judge else float(np.mean([x == y for x, y in zip(judge, human, strict=True)])),
    }
