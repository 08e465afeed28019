"""Cross-checks on the release: judge against judge, and our parse against the authors' own extraction."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persona_lib import scoring
from persona_lib.authors_release._clone import BFI_RATINGS, PRIMARY_JUDGE, SECOND_JUDGE
from persona_lib.authors_release._names import FOLDERS, parse_release_path
from persona_lib.authors_release._verdicts import ITEM_COLUMNS, ItemLabels, study_item_labels
from persona_lib.personas import DataFileError

_PAIR_KEYS = [
    "folder",
    "model",
    "kind",
    "condition",
    "reference_persona",
    "checkpoint",
    "replicate",
    "reference",
    "item",
]
AGREEMENT_COLUMNS = [
    "folder",
    "dataset",
    "n_pairs",
    "n_excluded",
    "kappa",
    "exact_agreement",
    "mae",
    "within_one",
    "accuracy",
]


def judge_agreement(items: pd.DataFrame, *, first: str = PRIMARY_JUDGE, second: str = SECOND_JUDGE) -> pd.DataFrame:
    """Agreement between two judges on the items both judged, per ``metrics/`` folder.

    Only verdicts both judges gave in their own words (``status == "ok"``) enter the statistics; pairs where
    either verdict was unparsed or replaced by a fallback are counted in ``n_excluded``. Likert folders get
    quadratic-weighted Cohen's kappa, exact agreement, mean absolute difference and agreement within one point;
    pairwise and binary folders unweighted kappa and accuracy (:func:`persona_lib.scoring.agreement`).

    Returns:
        One row per folder judged by both (columns :data:`AGREEMENT_COLUMNS`; statistics that do not apply are
        NaN).
    """
    columns = [*_PAIR_KEYS, "verdict", "status"]
    pairs = items.loc[items["judge"] == first, columns].merge(
        items.loc[items["judge"] == second, columns], on=_PAIR_KEYS, suffixes=("_first", "_second")
    )
    rows = []
    for folder, part in pairs.groupby("folder", sort=True):
        both = part[(part["status_first"] == "ok") & (part["status_second"] == "ok")]
        stats = scoring.agreement(list(both["verdict_first"]), list(both["verdict_second"]), FOLDERS[folder][1])
        rows.append(
            {
                "folder": folder,
                "dataset": FOLDERS[folder][0],
                "n_pairs": len(both),
                "n_excluded": len(part) - len(both),
                **stats,
            }
        )
    return pd.DataFrame(rows).reindex(columns=AGREEMENT_COLUMNS)


def load_bfi_ratings(root: str | Path) -> pd.DataFrame:
    """The authors' extraction of the Selene BFI ratings, ``results/bfi_ratings.csv``.

    Returns:
        Columns ``model, file, item, rating`` (``file`` is the judge-output file name, e.g.
        ``inst-bfi_Gaston_11.json.csv``; ``item`` the BFI item's position).

    Raises:
        DataFileError: if the file lacks a column or holds a rating that is not a whole number.
    """
    path = Path(root) / BFI_RATINGS
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    expected = ["model", "role", "idx", "rating"]
    if list(table.columns) != expected:
        raise DataFileError(path, f"expected the columns {expected}, found {list(table.columns)}")
    numeric = table[["idx", "rating"]].apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna().any(axis=1)
    if bad.any():
        line = int(bad.idxmax()) + 2
        raise DataFileError(path, "expected whole numbers in 'idx' and 'rating'", where=f"line {line}")
    return pd.DataFrame(
        {
            "model": table["model"],
            "file": table["role"],
            "item": numeric["idx"].astype(int),
            "rating": numeric["rating"].astype(int),
        }
    )


def bfi_ratings_crosscheck(items: pd.DataFrame, ratings: pd.DataFrame, *, judge: str = PRIMARY_JUDGE) -> pd.DataFrame:
    """Our parse of the BFI verdicts beside the authors' extracted ratings, item by item.

    Args:
        items: Parsed verdicts (:func:`persona_lib.authors_release.judged_items`).
        ratings: :func:`load_bfi_ratings`.
        judge: The judge the ratings file was extracted from.

    Returns:
        One row per rating in ``ratings`` with ``model, file, item, rating`` plus ``verdict`` and ``status``
        from our parse (``missing`` when no judge output for that file and item was read) and ``agrees``.
    """
    ours = items[(items["judge"] == judge) & (items["folder"] == "bfi")]
    ours = ours.assign(file=ours["path"].map(lambda path: path.rsplit("/", 1)[-1]))[
        ["model", "file", "item", "verdict", "status"]
    ]
    merged = ratings.merge(ours, on=["model", "file", "item"], how="left")
    merged["status"] = merged["status"].fillna("missing")
    merged["agrees"] = (merged["status"] != "unparsed") & (merged["verdict"] == merged["rating"])
    return merged


def items_from_bfi_ratings(ratings: pd.DataFrame, *, labels: ItemLabels | None = None) -> pd.DataFrame:
    """The authors' extracted BFI ratings in the shape of :func:`judged_items`, to compute units from them.

    Every rating becomes an ``ok`` verdict of :data:`PRIMARY_JUDGE`; the file name gives model, kind, condition
    and checkpoint (``metrics/bfi/<judge>/<model>/<file>``) and the item position the dimension.

    Raises:
        ReleaseNameError: for a file name the grammar cannot read.
    """
    labels = labels or study_item_labels()
    files = {
        (model, name): parse_release_path(f"metrics/bfi/{PRIMARY_JUDGE}/{model}/{name}")
        for model, name in ratings[["model", "file"]].drop_duplicates().itertuples(index=False)
    }
    rows = []
    for model, name, item, rating in ratings[["model", "file", "item", "rating"]].itertuples(index=False):
        parsed = files[(model, name)]
        if item >= len(labels.bfi_dimensions):
            raise DataFileError(BFI_RATINGS, f"item {item} of {name} is beyond the study's 44 BFI items")
        rows.append(
            (
                parsed.path,
                parsed.folder,
                parsed.dataset,
                None,
                parsed.judge,
                parsed.model,
                parsed.kind,
                parsed.condition,
                None,
                parsed.checkpoint,
                None,
                parsed.reference,
                item,
                rating,
                "ok",
                "",
                float(rating),
                labels.bfi_dimensions[item],
                None,
            )
        )
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)
