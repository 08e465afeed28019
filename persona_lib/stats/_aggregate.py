"""From item-level scores to the unit level the analysis works on."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from persona_lib._schema import UNIT_ID
from persona_lib.personas import BASELINE

DIALOGUE: tuple[str, ...] = ("model", "condition", "kind")
"""One dialogue: a model in a condition, in one dialogue kind (its scores over checkpoints or rounds form a series)."""


def require_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise a ValueError naming the columns ``what`` needs but ``table`` lacks."""
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(
            f"{what} needs column(s) {', '.join(missing)}; the table has {', '.join(map(str, table.columns))}"
        )


def present(table: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The subset of ``columns`` that ``table`` has, in the given order."""
    return [column for column in columns if column in table.columns]


def aggregate(scores: pd.DataFrame, by: Sequence[str] = tuple(UNIT_ID), value: str = "score") -> pd.DataFrame:
    """Average item-level scores to one row per unit.

    Items whose score is missing (unparsable judge verdict, unscorable item) do not enter the mean; they are
    counted in ``n_unscored`` so that no failure disappears silently.

    Args:
        scores: The tidy scores table (one row per scored item).
        by: The columns that identify a unit (default :data:`persona_lib._schema.UNIT_ID`). Columns of ``by`` that
            ``scores`` lacks raise an error; pass a shorter ``by`` to pool over them.
        value: The score column (0-100).

    Returns:
        ``by`` columns plus ``score`` (mean of scored items), ``n_items`` (scored items) and ``n_unscored``.
    """
    by = list(by)
    require_columns(scores, [*by, value], "aggregate()")
    grouped = scores.groupby(by, dropna=False, sort=True, observed=True)[value]
    units = grouped.agg(score="mean", n_items="count", n_total="size").reset_index()
    units["n_unscored"] = units.pop("n_total") - units["n_items"]
    return units


def split_arms(units: pd.DataFrame) -> pd.DataFrame:
    """Add an ``arm`` column: ``"baseline"`` for condition ``empty``, ``"persona"`` otherwise."""
    require_columns(units, ["condition"], "split_arms()")
    out = units.copy()
    out["arm"] = (out["condition"] == BASELINE).map({True: "baseline", False: "persona"})
    return out


def collapse_reference_personas(units: pd.DataFrame) -> pd.DataFrame:
    """One row per unit: a baseline's rows scored against each character, averaged.

    The baseline of dialogue fidelity, of the RoleBench benchmarks and of the BFI error exists once per character
    it was judged or measured against (``reference_persona``); curves and the usual persona-minus-baseline contrasts
    need one baseline score (the study's baseline curves average these rows too). Tables without the column are
    returned unchanged; the item counts of averaged rows are summed, and ``reference_persona`` of a collapsed row is
    empty.
    """
    if "reference_persona" not in units or units["reference_persona"].isna().all():
        return units
    split = units["reference_persona"].notna()
    summed = [column for column in ("n_items", "n_unscored", "n_unparsed", "n_fallback") if column in units]
    keys = [column for column in units.columns if column not in {"score", "reference_persona", *summed}]
    collapsed = (
        units[split]
        .groupby(keys, dropna=False, sort=True)
        .agg(score=("score", "mean"), **{column: (column, "sum") for column in summed})
        .reset_index()
        .assign(reference_persona=None)
    )
    return pd.concat([units[~split], collapsed], ignore_index=True).reindex(columns=units.columns)
