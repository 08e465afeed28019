"""Length control: the same curves against the number of prefix tokens instead of rounds."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from persona_lib.stats._aggregate import present, require_columns, split_arms
from persona_lib.stats._bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    checkpoint_curves,
)


def attach_prefix_tokens(units: pd.DataFrame, lengths: pd.DataFrame) -> pd.DataFrame:
    """Add a ``prefix_tokens`` column (tokens of dialogue before the item) to unit-level scores.

    Args:
        units: Unit-level scores (``model, condition, kind, checkpoint``).
        lengths: Prefix lengths with ``model, condition, kind, round, prefix_tokens`` (e.g.
            :func:`persona_lib.released.load_round_lengths`, or a new run's prompt token counts).

    Raises:
        ValueError: if any unit has no length (names the first one).
    """
    require_columns(lengths, ["model", "condition", "kind", "round", "prefix_tokens"], "attach_prefix_tokens()")
    table = units.drop(columns=["prefix_tokens"], errors="ignore").merge(
        lengths.rename(columns={"round": "checkpoint"}),
        on=["model", "condition", "kind", "checkpoint"],
        how="left",
        validate="many_to_one",
    )
    missing = table["prefix_tokens"].isna()
    if missing.any():
        row = table.loc[missing, ["model", "condition", "kind", "checkpoint"]].iloc[0].to_dict()
        raise ValueError(f"{int(missing.sum())} unit(s) have no prefix length, e.g. {row}")
    return table


def length_control_curves(
    units: pd.DataFrame,
    *,
    tokens: str = "prefix_tokens",
    by: Sequence[str] = ("kind",),
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Checkpoint curves (see :func:`checkpoint_curves`) with the mean prefix length of each point.

    Returns:
        The curve table plus ``prefix_tokens``: the mean number of prefix tokens over the units of the point,
        to be used as the x axis.
    """
    require_columns(units, [tokens], "length_control_curves()")
    curves = checkpoint_curves(units, by=by, n_resamples=n_resamples, seed=seed)
    keys = [*present(units, ("dataset", "metric")), *by, "arm", "checkpoint"]
    mean_tokens = split_arms(units).groupby(keys, as_index=False)[tokens].mean()
    return curves.merge(mean_tokens, on=keys, how="left", validate="one_to_one")
