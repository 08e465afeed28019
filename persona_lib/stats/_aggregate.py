"""From item-level scores to the unit level the analysis works on."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from persona_lib._schema import UNIT_ID
from persona_lib.personas import BASELINE


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
