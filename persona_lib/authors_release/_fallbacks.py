"""The study's random letters for unreadable pairwise verdicts: replayed for a given file order, and their spread.

What the study did, restated from the authors' ``extract_ratings.ipynb`` (sections "Instruction role specific" and
"instruction_general"; github.com/peluz/persistent-personas at 92ddad75): it listed a pairwise folder with
``glob.glob("./metrics/<folder>/*/*/*")`` -- every judge and model in one pass, in whatever order the filesystem
returns the entries -- called ``initialize_seeds()``, and read the files in that order and each file's items in
order. Every verdict without a ``**Result:** A/B`` marker got a random letter, drawn from numpy's global generator
(``np.random.choice(["A", "B"])``, the legacy ``RandomState``) for ``instruction_role_specific`` and from Python's
``random`` module (``random.choice(["A", "B"])``) for ``instruction_general``.

``initialize_seeds`` lives in the authors' ``utils/seeds.py``, which is not in their repository as stored: neither
its seed nor the generators it seeds can be checked there. We take the seed to be 42 (:data:`STUDY_FALLBACK_SEED`)
and assume it seeds both generators, as such helpers usually do.

The letter an item got therefore depends on the glob order, which the study did not record and which differs
between filesystems, so the study's letters cannot be recovered in general. :func:`replay_study_fallbacks` gives
the letters for an order the caller supplies; :func:`fallback_spread` shows how far each win rate moves over many
random draws of those letters.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pandas as pd

from persona_lib.authors_release._clone import PRIMARY_JUDGE
from persona_lib.authors_release._units import _UNIT_KEYS, _WIN_SUFFIX
from persona_lib.authors_release._verdicts import pairwise_win
from persona_lib.personas import BASELINE

#: The seed we take the study's ``initialize_seeds()`` to have used (its body is not in the stored repository).
STUDY_FALLBACK_SEED = 42
#: Pairwise ``metrics/`` folder -> the generator the study drew its fallback letters from.
STUDY_FALLBACK_GENERATORS: dict[str, str] = {"instruction_role_specific": "numpy", "instruction_general": "python"}
#: Columns of :func:`fallback_spread`.
SPREAD_COLUMNS: list[str] = [
    "level",
    "dataset",
    "metric",
    *_UNIT_KEYS,
    "n_units",
    "n_items",
    "n_fallback",
    "score",
    "replayed",
    "min",
    "p2_5",
    "median",
    "p97_5",
    "max",
]
_LETTERS = ["A", "B"]
_PERSONAS = "personas"


def study_fallback_letters(n: int, generator: str, *, seed: int = STUDY_FALLBACK_SEED) -> list[str]:
    """The first ``n`` letters the study's fallback draws after seeding ``generator`` with ``seed``.

    Args:
        n: How many draws.
        generator: ``numpy`` (``np.random.choice`` after ``np.random.seed``: the legacy ``RandomState``, which a
            fresh ``np.random.RandomState(seed)`` reproduces) or ``python`` (``random.choice`` after
            ``random.seed``, which ``random.Random(seed)`` reproduces).
        seed: The seed.

    Raises:
        ValueError: for another generator.
    """
    if generator == "numpy":
        state = np.random.RandomState(seed)
        return [str(state.choice(_LETTERS)) for _ in range(n)]
    if generator == "python":
        rng = random.Random(seed)
        return [rng.choice(_LETTERS) for _ in range(n)]
    raise ValueError(f"unknown generator {generator!r}; expected 'numpy' or 'python'")


def replay_study_fallbacks(
    items: pd.DataFrame, file_order: Sequence[str], *, seed: int = STUDY_FALLBACK_SEED
) -> pd.DataFrame:
    """Parsed verdicts with every pairwise fallback letter replaced by the study's draw for ``file_order``.

    Per pairwise folder, the fallback items are taken in the order of their file in ``file_order`` and, within a
    file, in item order, and given the successive letters of that folder's generator
    (:data:`STUDY_FALLBACK_GENERATORS`, :func:`study_fallback_letters`).

    Args:
        items: Parsed verdicts (:func:`persona_lib.authors_release.judged_items`).
        file_order: Release paths (``metrics/<folder>/<judge>/<model>/<file>``) in the order the study's glob
            listed them; only the relative order of files with a fallback matters, other paths are ignored.
        seed: The seed of both generators.

    Returns:
        A copy of ``items`` whose fallback rows in the pairwise folders carry the replayed ``verdict``, ``value``
        and a ``reason`` naming the draw.

    Raises:
        ValueError: if a file with a fallback verdict is missing from ``file_order``.
    """
    position = {path: index for index, path in enumerate(file_order)}
    replayed = items.copy()
    for folder, generator in STUDY_FALLBACK_GENERATORS.items():
        drawn = replayed[(replayed["folder"] == folder) & (replayed["status"] == "fallback")]
        missing = sorted(set(drawn["path"]) - position.keys())
        if missing:
            raise ValueError(
                f"file_order does not list {missing[0]} ({len(missing)} file(s) with a fallback verdict "
                "missing); give every file of the folder in the study's order"
            )
        rows = drawn.assign(_file=drawn["path"].map(position)).sort_values(["_file", "item"]).index
        letters = study_fallback_letters(len(rows), generator, seed=seed)
        replayed.loc[rows, "verdict"] = letters
        replayed.loc[rows, "value"] = [
            pairwise_win(letter, item) for letter, item in zip(letters, replayed.loc[rows, "item"], strict=True)
        ]
        replayed.loc[rows, "reason"] = [
            f"the study's draw {draw + 1} ({generator}, seed {seed})" for draw in range(len(rows))
        ]
    return replayed


def _pairwise_items(items: pd.DataFrame, judge: str) -> pd.DataFrame:
    """The judge's pairwise verdicts, with the win-rate metric each belongs to."""
    pairwise = items[items["folder"].isin(list(STUDY_FALLBACK_GENERATORS)) & (items["judge"] == judge)]
    return pairwise.assign(metric=pairwise["dataset"] + pairwise["reference"].map(_WIN_SUFFIX))


def _unit_table(pairwise: pd.DataFrame, replayed: pd.DataFrame) -> pd.DataFrame:
    """Per unit: verdicts used, fallbacks, wins among the judge's own verdicts, the win rate as read and replayed."""
    flags = pairwise.assign(
        _used=pairwise["value"].notna(),
        _fallback=pairwise["status"].eq("fallback"),
        _fixed=pairwise["value"].where(pairwise["status"].eq("ok"), 0.0).fillna(0.0),
        _replayed=replayed["value"],
    )
    keys = ["dataset", "metric", *_UNIT_KEYS]
    units = (
        flags.groupby(keys, dropna=False, sort=True)
        .agg(
            n_items=("_used", "sum"),
            n_fallback=("_fallback", "sum"),
            fixed_wins=("_fixed", "sum"),
            score=("value", "mean"),
            replayed=("_replayed", "mean"),
        )
        .reset_index()
    )
    units[["score", "replayed"]] *= 100
    return units


def _summary(rates: np.ndarray) -> dict[str, float]:
    """Min, 2.5th, 50th and 97.5th percentiles and max over the draws (axis 0)."""
    low, mid, high = np.percentile(rates, [2.5, 50, 97.5], axis=0)
    return {"min": rates.min(axis=0), "p2_5": low, "median": mid, "p97_5": high, "max": rates.max(axis=0)}


def _aggregate_rows(units: pd.DataFrame, moving_rates: np.ndarray) -> pd.DataFrame:
    """One row per dataset x metric x arm (``personas`` pooled, or the baseline): the mean of its unit win rates."""
    arm = units["condition"].where(units["condition"] == BASELINE, _PERSONAS)
    moving = (units["n_fallback"] > 0).to_numpy()
    rows = []
    for (dataset, metric, condition), group in units.groupby(["dataset", "metric", arm], sort=True):
        index = group.index.to_numpy()
        columns = np.searchsorted(np.flatnonzero(moving), index[moving[index]])
        fixed = group.loc[~moving[index], "score"].sum()  # a unit without a used verdict has no score
        rated = int((group["n_items"] > 0).sum())
        draws = (fixed + moving_rates[:, columns].sum(axis=1)) / max(rated, 1)
        rows.append(
            {
                "level": "dataset",
                "dataset": dataset,
                "metric": metric,
                "condition": condition,
                "n_units": rated,
                "n_items": group["n_items"].sum(),
                "n_fallback": group["n_fallback"].sum(),
                "score": group["score"].mean(),
                "replayed": group["replayed"].mean(),
                **{name: float(value) for name, value in _summary(draws).items()},
            }
        )
    return pd.DataFrame(rows)


def fallback_spread(
    items: pd.DataFrame,
    *,
    draws: int = 1000,
    seed: int = 0,
    judge: str = PRIMARY_JUDGE,
    file_order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """How far each pairwise win rate moves with the random letters given to unreadable verdicts.

    Each draw gives every fallback verdict a fresh fair letter (so the model's answer wins with probability 1/2,
    whatever the reference position) and keeps every verdict the judge wrote. Rows:

    * ``level="unit"``: each model x condition x kind x checkpoint (x reference persona) win rate that has at least
      one fallback verdict (the others cannot move);
    * ``level="dataset"``: per dataset and win-rate metric, the mean of the unit win rates, for the personas pooled
      (``condition="personas"``) and for the baseline (``condition="empty"``) -- the level of the curves.

    Args:
        items: Parsed verdicts (:func:`persona_lib.authors_release.judged_items`).
        draws: How many sets of letters to draw.
        seed: Seed of the draws.
        judge: Whose verdicts to use.
        file_order: The glob order for the ``replayed`` column (default: the paths sorted, one possible order).

    Returns:
        Columns :data:`SPREAD_COLUMNS`: ``score`` is the win rate with the letters of ``items`` (per-item seeds),
        ``replayed`` with the study's generators and seed in ``file_order``, then the minimum, 2.5th, 50th and
        97.5th percentiles and maximum over the draws; all on 0-100.
    """
    pairwise = _pairwise_items(items, judge)
    if pairwise.empty:
        return pd.DataFrame(columns=SPREAD_COLUMNS)
    order = sorted(pairwise["path"].unique()) if file_order is None else file_order
    units = _unit_table(pairwise, replay_study_fallbacks(pairwise, order))
    moving = units[units["n_fallback"] > 0]
    drawn = np.random.default_rng(seed).binomial(moving["n_fallback"].to_numpy(), 0.5, size=(draws, len(moving)))
    moving_rates = 100 * (moving["fixed_wins"].to_numpy() + drawn) / moving["n_items"].to_numpy()
    unit_rows = moving.drop(columns="fixed_wins").assign(level="unit", n_units=1, **_summary(moving_rates))
    table = pd.concat([unit_rows, _aggregate_rows(units, moving_rates)], ignore_index=True)
    return table.reindex(columns=SPREAD_COLUMNS)
