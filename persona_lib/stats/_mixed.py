"""Linear mixed-effects models (statsmodels ``mixedlm``) returning tidy tables.

Every wrapper returns one row per fixed-effect term with the estimate, its 95% Wald interval, the p-value, the
number of observations and groups, whether the optimiser converged, which optimiser produced the estimate and
the text of any warning statsmodels raised. Warnings are captured into that column rather than printed, and a
model that cannot be fitted yields a row with ``converged = False`` and the error text instead of an exception,
so one degenerate model x kind cell never hides the others.

Optimisers are tried in the study's order: Powell, then L-BFGS (statsmodels warm-starts the second from the
first). Fits use REML, statsmodels' default, as the study did.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from patsy import PatsyError

from persona_lib.stats._aggregate import BASELINE, collapse_reference_personas, present, require_columns

OPTIMISERS: tuple[str, ...] = ("powell", "lbfgs")
_SCORE_KEYS = ("dataset", "metric")
_RETRY = re.compile(r"Retrying MixedLM optimization with (\w+)")
TIDY_COLUMNS = [
    "term", "coef", "se", "ci_low", "ci_high", "p", "n", "n_groups", "converged", "optimiser", "warnings",
]


def fit_mixedlm(
    data: pd.DataFrame,
    formula: str,
    groups: str,
    *,
    optimisers: Sequence[str] = OPTIMISERS,
    reml: bool = True,
) -> pd.DataFrame:
    """Fit ``formula`` with a random intercept per ``groups`` and return the fixed effects as a tidy table.

    Args:
        data: One row per observation.
        formula: A patsy formula, e.g. ``"score ~ checkpoint"``.
        groups: The column whose values define the random-intercept groups.
        optimisers: scipy optimisers tried in order until one converges.
        reml: Fit by REML (True, the study's choice) or maximum likelihood.

    Returns:
        Columns ``term, coef, se, ci_low, ci_high, p, n, n_groups, converged, optimiser, warnings``; one row
        per fixed-effect term (a single row with ``term = None`` if the fit failed).
    """
    require_columns(data, [groups], "fit_mixedlm()")
    n, n_groups = len(data), data[groups].nunique()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = smf.mixedlm(formula, data, groups=data[groups]).fit(reml=reml, method=list(optimisers))
        except (ValueError, np.linalg.LinAlgError, PatsyError) as err:
            failure = {column: None for column in TIDY_COLUMNS}
            failure.update(n=n, n_groups=n_groups, converged=False, optimiser="none", warnings=f"fit failed: {err}")
            return pd.DataFrame([failure], columns=TIDY_COLUMNS)
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    retries = [match.group(1) for message in messages if (match := _RETRY.search(message))]
    converged = bool(result.converged)
    optimiser = (retries[-1] if retries else optimisers[0]) if converged else "none"
    intervals = result.conf_int()
    terms = list(result.fe_params.index)
    return pd.DataFrame(
        {
            "term": terms,
            "coef": result.fe_params.to_numpy(),
            "se": result.bse_fe.to_numpy(),
            "ci_low": intervals.loc[terms, 0].to_numpy(),
            "ci_high": intervals.loc[terms, 1].to_numpy(),
            "p": result.pvalues.loc[terms].to_numpy(),
            "n": n,
            "n_groups": n_groups,
            "converged": converged,
            "optimiser": optimiser,
            "warnings": "; ".join(messages),
        },
        columns=TIDY_COLUMNS,
    )


def _fit_each(
    data: pd.DataFrame, keys: list[str], formula: str, groups: str, optimisers: Sequence[str]
) -> pd.DataFrame:
    fits = []
    for key, part in data.groupby(keys, sort=True) if keys else [((), data)]:
        fit = fit_mixedlm(part, formula, groups, optimisers=optimisers)
        for column, level in zip(keys, key if isinstance(key, tuple) else (key,)):
            fit[column] = level
        fits.append(fit)
    if not fits:
        raise ValueError(f"no data to fit {formula!r}")
    table = pd.concat(fits, ignore_index=True)
    table["formula"] = formula
    table["groups"] = groups
    return table[[*keys, "formula", "groups", *TIDY_COLUMNS]]


def length_slope(
    units: pd.DataFrame, *, x: str = "checkpoint", optimisers: Sequence[str] = OPTIMISERS
) -> pd.DataFrame:
    """Effect of dialogue length on the score, per model x dialogue kind: ``score ~ x``, groups = persona.

    Args:
        units: Unit-level scores (personas only are used).
        x: The length measure: ``checkpoint`` (rounds) or a token column such as ``prefix_tokens``.
        optimisers: Optimisers tried in order.

    Returns:
        Tidy fixed effects (intercept and slope) keyed by ``dataset, metric`` (if present), ``model, kind``.
    """
    require_columns(units, ["model", "condition", "kind", x, "score"], "length_slope()")
    personas = units[units["condition"] != BASELINE].astype({x: float, "score": float})
    keys = [*present(units, _SCORE_KEYS), "model", "kind"]
    return _fit_each(personas, keys, f"score ~ {x}", "condition", optimisers)


def persona_effect(units: pd.DataFrame, *, optimisers: Sequence[str] = OPTIMISERS) -> pd.DataFrame:
    """Persona vs baseline per model x kind: ``score ~ C(arm, Treatment('empty'))``, groups = round x persona.

    ``arm`` is ``persona`` for every persona condition and ``empty`` for the baseline, so the coefficient
    ``C(arm, Treatment('empty'))[T.persona]`` is the average persona effect over checkpoints. Metrics without
    baseline units (e.g. a persona's distance from the baseline) are left out.

    Args:
        units: Unit-level scores including the baseline condition.
        optimisers: Optimisers tried in order.
    """
    require_columns(units, ["model", "condition", "kind", "checkpoint", "score"], "persona_effect()")
    units = collapse_reference_personas(units)
    keys = [*present(units, _SCORE_KEYS), "model", "kind"]
    arms = units.assign(_baseline=units["condition"] == BASELINE).groupby(keys)["_baseline"].agg(["any", "all"])
    comparable = arms[arms["any"] & ~arms["all"]].index  # groups with both a baseline and a persona
    units = units.set_index(keys).loc[lambda t: t.index.isin(comparable)].reset_index()
    if units.empty:
        raise ValueError("persona_effect() needs baseline and persona units of the same model, kind and metric")
    data = units.assign(
        arm=np.where(units["condition"] == BASELINE, BASELINE, "persona"),
        round_condition=units["checkpoint"].astype(str) + " | " + units["condition"].astype(str),
        score=units["score"].astype(float),
    )
    return _fit_each(data, keys, "score ~ C(arm, Treatment('empty'))", "round_condition", optimisers)


def _size_regression(diffs: pd.DataFrame, optimisers: Sequence[str]) -> pd.DataFrame:
    require_columns(diffs, ["family", "size"], "a size regression (add them with released.with_model_metadata)")
    data = diffs.assign(
        persona_family=diffs["condition"].astype(str) + " | " + diffs["family"].astype(str),
        size=diffs["size"].astype(float),
        diff=diffs["diff"].astype(float),
    )
    return _fit_each(data, present(diffs, _SCORE_KEYS), "diff ~ size", "persona_family", optimisers)


def length_cost(units: pd.DataFrame) -> pd.DataFrame:
    """Per model x persona x kind: score at the last checkpoint minus score at the first (``diff``)."""
    require_columns(units, ["model", "condition", "kind", "checkpoint", "score"], "length_cost()")
    personas = units[units["condition"] != BASELINE]
    keys = [*present(units, _SCORE_KEYS), "model", "condition", "kind"]
    score_keys = present(units, _SCORE_KEYS)
    checkpoints = personas.assign(_all=0).groupby([*score_keys, "_all"])["checkpoint"]
    first = personas[personas["checkpoint"] == checkpoints.transform("min")]
    last = personas[personas["checkpoint"] == checkpoints.transform("max")]
    diffs = last.merge(first[[*keys, "score"]], on=keys, suffixes=("", "_first"), validate="one_to_one")
    diffs["diff"] = diffs["score"] - diffs["score_first"]
    return diffs.drop(columns=["score_first"])


def personalisation_cost(units: pd.DataFrame, *, checkpoint: int = 0) -> pd.DataFrame:
    """Per model x persona x kind at ``checkpoint``: persona score minus the model's baseline score (``diff``).

    A baseline scored against several characters (``reference_persona``) is averaged over them first.
    """
    require_columns(units, ["model", "condition", "kind", "checkpoint", "score"], "personalisation_cost()")
    units = collapse_reference_personas(units)
    at = units[units["checkpoint"] == checkpoint]
    keys = [*present(units, _SCORE_KEYS), "model", "kind"]
    baseline = at[at["condition"] == BASELINE][[*keys, "score"]].rename(columns={"score": "baseline"})
    diffs = at[at["condition"] != BASELINE].merge(baseline, on=keys, validate="many_to_one")
    diffs["diff"] = diffs["score"] - diffs["baseline"]
    return diffs


def length_cost_vs_size(units: pd.DataFrame, *, optimisers: Sequence[str] = OPTIMISERS) -> pd.DataFrame:
    """Table 5: does the length cost shrink with model size? ``diff ~ size``, groups = persona x family.

    ``diff`` is score(last checkpoint) - score(first checkpoint) per model x persona x dialogue kind (see
    :func:`length_cost`); both dialogue kinds are pooled in one regression per dataset/metric, as in the study.

    Args:
        units: Unit-level scores with ``family`` and ``size`` columns (see
            :func:`persona_lib.released.with_model_metadata`).
        optimisers: Optimisers tried in order.
    """
    return _size_regression(length_cost(units), optimisers)


def personalisation_cost_vs_size(
    units: pd.DataFrame, *, checkpoint: int = 0, optimisers: Sequence[str] = OPTIMISERS
) -> pd.DataFrame:
    """Table 6: does the cost of a persona at t = 0 change with size? ``diff ~ size``, groups = persona x family.

    ``diff`` is persona score - baseline score of the same model and dialogue kind at ``checkpoint`` (see
    :func:`personalisation_cost`); both kinds pooled, as in the study.

    Args:
        units: Unit-level scores with ``family`` and ``size`` columns, including the baseline.
        checkpoint: Checkpoint compared (0 = single-turn evaluation).
        optimisers: Optimisers tried in order.
    """
    return _size_regression(personalisation_cost(units, checkpoint=checkpoint), optimisers)
