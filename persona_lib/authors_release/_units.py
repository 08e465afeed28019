"""Item verdicts of the authors' release -> unit-level scores (model x condition x kind x checkpoint x metric).

Scales and unit definitions follow the study's analysis notebook (restated, not copied):

* **Dialogue fidelity** (dataset ``fidelity``): a turn's rating on each criterion (knowledge, style, in-character) is
  averaged over the original and the shuffled replicate *by position* (turn j of one with turn j of the other),
  put on 0-100 as ``(r - 1) / 4 * 100``; metric ``dialogue`` is the mean of the three criteria. ``checkpoint`` is the
  turn (0-101). Each criterion is also a metric of its own.
* **BFI error** (``bfi_error``): per unit the mean judged level of each Big-Five dimension, then the mean absolute
  difference to the character's InCharacter labels / 4 * 100; defined for the four labelled characters only. The
  baseline gets one row per labelled character (``reference_persona``). ``bfi_distance`` is the same
  distance between a persona's profile and the baseline's.
* **Win rates** (metrics ``rolebench_specific`` / ``rolebench_general``): percent of items where the judge
  preferred the model's answer to RoleBench's reference answer; ``<dataset>_vs_round0`` and
  ``<dataset>_vs_previous`` use the model's own earlier answer as the reference. The baseline is judged once per
  persona's question set (``reference_persona``).
* **Safety** / **excess safety** (``xstest``): percent of unsafe / safe prompts the judge called an explicit
  refusal.
* **IFBench** (``ifbench``): the released accuracies (``results/ifbench_results.json``).

Every unit carries ``n_items`` (verdicts used), ``n_unparsed`` (excluded) and ``n_fallback`` (used, but
replaced by the study's fallback).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from persona_lib import released
from persona_lib.authors_release._clone import IFBENCH_RESULTS, PRIMARY_JUDGE
from persona_lib.datasets.bfi import bfi_error, bfi_profile_distance, bfi_profiles
from persona_lib.judging import likert_score
from persona_lib.personas import BASELINE, Persona, load_personas

UNIT_TABLE_COLUMNS: list[str] = [
    "model",
    "condition",
    "persona",
    "kind",
    "checkpoint",
    "dataset",
    "metric",
    "score",
    "reference_persona",
    "label_source",
    "n_items",
    "n_unparsed",
    "n_fallback",
]
#: The InCharacter label source the BFI error is computed against unless told otherwise. The study's notebook
#: reads one profile per character from a labels file that is not in its repository, so which of InCharacter's
#: two sources it used is not recorded; the reproduction reports the other source as a variant.
DEFAULT_LABEL_SOURCE = "annotation"
_WIN_SUFFIX = {"dataset": "", "zero": "_vs_round0", "previous": "_vs_previous"}
"""The win-rate metric of a reference variant is the dataset's name plus this suffix (the registry's metric for the
RoleBench reference; the self-reference variants are the study's extra analyses)."""
_UNIT_KEYS = ["model", "condition", "kind", "checkpoint", "reference_persona"]


def _counts(items: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    flags = items.assign(
        _used=items["value"].notna(), _unparsed=items["status"].eq("unparsed"), _fallback=items["status"].eq("fallback")
    )
    grouped = flags.groupby(keys, dropna=False, sort=True)
    return grouped.agg(n_items=("_used", "sum"), n_unparsed=("_unparsed", "sum"), n_fallback=("_fallback", "sum"))


def _rate_units(items: pd.DataFrame, keys: list[str], **labels: str) -> pd.DataFrame:
    """Mean of ``value`` x 100 per group, with the counts."""
    scores = items.groupby(keys, dropna=False, sort=True)["value"].mean().mul(100).rename("score")
    return pd.concat([scores, _counts(items, keys)], axis=1).reset_index().assign(**labels)


def _fidelity_units(items: pd.DataFrame) -> pd.DataFrame:
    turns = items[items["dataset"] == "fidelity"]
    turns = turns.assign(score=turns["value"].map(likert_score, na_action="ignore"))
    if turns.empty:
        return pd.DataFrame()
    keys = [*_UNIT_KEYS, "criterion"]
    per_criterion = turns.groupby(keys, dropna=False, sort=True)["score"].mean()
    criteria = pd.concat([per_criterion, _counts(turns, keys)], axis=1).reset_index()
    combined = (
        criteria.groupby(_UNIT_KEYS, dropna=False, sort=True)
        .agg(
            score=("score", "mean"),
            n_items=("n_items", "sum"),
            n_unparsed=("n_unparsed", "sum"),
            n_fallback=("n_fallback", "sum"),
        )
        .reset_index()
    )
    by_criterion = criteria.rename(columns={"criterion": "metric"})
    return pd.concat([by_criterion, combined.assign(metric="dialogue")], ignore_index=True).assign(dataset="fidelity")


def fidelity_replicates(items: pd.DataFrame, *, judge: str = PRIMARY_JUDGE) -> pd.DataFrame:
    """Dialogue fidelity per replicate: the original and the shuffled dialogue apart, not averaged by position.

    Each turn's ratings are put on 0-100 and averaged over the three criteria, as for metric ``dialogue``, but
    within one replicate.

    Args:
        items: Output of :func:`persona_lib.authors_release.judged_items`.
        judge: Whose verdicts to use.

    Returns:
        Columns ``model, condition, kind, replicate, checkpoint, reference_persona, dataset, metric, score``
        (metric ``dialogue``); empty without dialogue verdicts.
    """
    turns = items[(items["dataset"] == "fidelity") & (items["judge"] == judge)]
    turns = turns.assign(score=turns["value"].map(likert_score, na_action="ignore"))
    keys = [*_UNIT_KEYS, "replicate"]
    per_criterion = turns.groupby([*keys, "criterion"], dropna=False, sort=True)["score"].mean().reset_index()
    units = per_criterion.groupby(keys, dropna=False, sort=True)["score"].mean().reset_index()
    return units.assign(dataset="fidelity", metric="dialogue")


def _bfi_units(items: pd.DataFrame, personas: Mapping[str, Persona], label_source: str) -> pd.DataFrame:
    bfi = items[items["dataset"] == "bfi"]
    if bfi.empty:
        return pd.DataFrame()
    available = sorted({source for persona in personas.values() for source in (persona.bfi_labels or {})})
    if label_source not in available:
        raise ValueError(f"no BFI labels from source {label_source!r}; the personas have {available or 'none'}")
    keys = ["model", "condition", "kind", "checkpoint"]
    rated = bfi.drop(columns="reference_persona").assign(score=bfi["value"].map(likert_score, na_action="ignore"))
    profiles = bfi_profiles(rated)
    errors = bfi_error(profiles, personas)
    errors = errors[errors["label_source"] == label_source].rename(columns={"error": "score"})
    errors["reference_persona"] = errors["reference_persona"].where(errors["condition"] == BASELINE, None)
    distance = bfi_profile_distance(profiles).rename(columns={"distance": "score"})
    counts = _counts(bfi, keys).reset_index()
    return pd.concat(
        [
            errors.merge(counts, on=keys, how="left").assign(metric="bfi_error"),
            distance.merge(counts, on=keys, how="left").assign(metric="bfi_distance", label_source=None),
        ],
        ignore_index=True,
    ).assign(dataset="bfi")


def _win_units(items: pd.DataFrame) -> pd.DataFrame:
    pairwise = items[items["dataset"].isin(["rolebench_specific", "rolebench_general"])]
    parts = [
        _rate_units(part, _UNIT_KEYS, dataset=dataset, metric=dataset + _WIN_SUFFIX[reference])
        for (dataset, reference), part in pairwise.groupby(["dataset", "reference"], sort=True)
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _safety_units(items: pd.DataFrame) -> pd.DataFrame:
    xstest = items[items["dataset"] == "xstest"]
    parts = [
        _rate_units(xstest[xstest["label"] == label], _UNIT_KEYS, dataset="xstest", metric=metric)
        for label, metric in (("unsafe", "safety"), ("safe", "excess_safety"))
        if (xstest["label"] == label).any()
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def ifbench_units(root: str | Path) -> pd.DataFrame:
    """The released IFBench accuracies of the clone (``results/ifbench_results.json``) as units."""
    table = released.load_ifbench_results(Path(root) / IFBENCH_RESULTS)
    return table.assign(reference_persona=None, label_source=None, n_items=np.nan, n_unparsed=0, n_fallback=0)


def unit_scores(
    items: pd.DataFrame,
    *,
    ifbench: pd.DataFrame | None = None,
    personas: Mapping[str, Persona] | None = None,
    label_source: str = DEFAULT_LABEL_SOURCE,
    judge: str = PRIMARY_JUDGE,
) -> pd.DataFrame:
    """Unit-level scores of every metric of the study, from parsed verdicts (see the module docstring).

    Args:
        items: Output of :func:`persona_lib.authors_release.judged_items`.
        ifbench: IFBench units (:func:`ifbench_units`), appended as they are.
        personas: Personas with Big-Five labels (default: the study's, :func:`persona_lib.personas.load_personas`).
        label_source: InCharacter label source for the BFI error (``annotation`` or ``pdb``).
        judge: Whose verdicts to use; self-reference variants are kept as their own metrics.

    Returns:
        Columns :data:`UNIT_TABLE_COLUMNS`, sorted; ``score`` on 0-100.
    """
    personas = personas if personas is not None else load_personas()
    chosen = items[items["judge"] == judge]
    parts = [
        _fidelity_units(chosen),
        _bfi_units(chosen, personas, label_source),
        _win_units(chosen),
        _safety_units(chosen),
        ifbench if ifbench is not None else pd.DataFrame(),
    ]
    kept = [part for part in parts if not part.empty]
    if not kept:  # e.g. a partial clone whose only BFI file is of a persona without Big-Five labels
        return pd.DataFrame(columns=UNIT_TABLE_COLUMNS)
    units = pd.concat(kept, ignore_index=True)
    units["persona"] = units["condition"].where(units["condition"] != BASELINE, None)
    units = units.reindex(columns=UNIT_TABLE_COLUMNS)
    units[["checkpoint"]] = units[["checkpoint"]].astype(int)
    order = ["dataset", "metric", "model", "kind", "condition", "reference_persona", "checkpoint"]
    return units.sort_values(order, na_position="first", ignore_index=True)
