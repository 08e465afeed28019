"""Linear mixed-effects models (statsmodels ``mixedlm``) returning tidy tables.

Every wrapper returns one row per fixed-effect term with the estimate, its 95% Wald interval, the p-value, the
number of observations and groups, whether the optimiser converged, which optimiser produced the estimate, the
text of any warning statsmodels raised and a plain ``verdict`` (:func:`fit_verdict`: ``estimable``, ``estimable
with caution: ...`` or ``not estimable: ...``). Warnings are captured into their column rather than printed, and a
model that cannot be fitted yields a row with ``converged = False`` and the error text instead of an exception,
so one degenerate model x kind cell never hides the others. A converged fit is not necessarily a sound one: a fit
on two groups, or on one observation per group, converges without a warning; the verdict says so.

Optimisers are tried in the study's order: Powell, then L-BFGS (statsmodels warm-starts the second from the
first). Fits use REML, statsmodels' default, as the study did.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from patsy import PatsyError

from persona_lib.stats._aggregate import BASELINE, collapse_reference_personas, present, require_columns

OPTIMISERS: tuple[str, ...] = ("powell", "lbfgs")
_SCORE_KEYS = ("dataset", "metric")
_RETRY = re.compile(r"Retrying MixedLM optimization with (\w+)")
TIDY_COLUMNS = [
    "term",
    "coef",
    "se",
    "ci_low",
    "ci_high",
    "p",
    "n",
    "n_groups",
    "converged",
    "optimiser",
    "warnings",
    "verdict",
]
#: Fewer groups than this and the variance of a random intercept is not estimated with any precision (a common
#: rule of thumb for random effects: at least five levels); the fixed effects' intervals then rest on it.
MIN_GROUPS = 5
ESTIMABLE = "estimable"
CAUTION = "estimable with caution: "
NOT_ESTIMABLE = "not estimable: "
_HESSIAN = re.compile(r"Hessian matrix .* not positive definite", re.IGNORECASE)
_NO_STANDARD_ERRORS = "standard errors could not be computed"
_INVALID_SE = re.compile(rf"{_NO_STANDARD_ERRORS}|invalid value encountered in sqrt", re.IGNORECASE)
_BOUNDARY = re.compile(r"on the boundary", re.IGNORECASE)


def fit_verdict(*, n: int, n_groups: int, n_terms: int, converged: bool, warning_text: str = "") -> str:
    """Whether a random-intercept model's fixed effects and their intervals can be read, in plain words.

    The checks run from the most to the least serious; the first that applies gives the verdict:

    - the fit failed, or fewer observations than fixed-effect terms plus one: ``not estimable``;
    - one group: there is nothing to estimate a group variance from: ``not estimable``;
    - one observation per group: the group variance cannot be told apart from the residual variance (the
      likelihood depends only on their sum): ``not estimable``;
    - the optimiser did not converge: ``not estimable``;
    - a standard error could not be computed (statsmodels: "invalid value encountered in sqrt"): ``not
      estimable``;
    - fewer than :data:`MIN_GROUPS` groups: ``not estimable`` (the interval rests on a variance estimated from
      a handful of groups);
    - the group variance was estimated at zero (statsmodels: "on the boundary", usually together with a Hessian
      that is not positive definite, which the zero variance causes): the fixed effects and their standard
      errors are then an ordinary regression's: ``estimable with caution``;
    - a Hessian that is not positive definite without a zero variance: the standard errors, hence the
      intervals, are unreliable: ``not estimable``;
    - any other statsmodels warning (apart from the note that a second optimiser was tried): ``estimable with
      caution``, naming it;
    - otherwise ``estimable``.

    Args:
        n: Observations in the fit.
        n_groups: Distinct random-intercept groups.
        n_terms: Fixed-effect terms (intercept included).
        converged: Whether the optimiser converged.
        warning_text: The warnings statsmodels raised, joined by ``"; "`` (``fit failed: ...`` if it failed): the
            ``warnings`` column of :func:`fit_mixedlm`.

    Returns:
        ``"estimable"``, ``"estimable with caution: <why>"`` or ``"not estimable: <why>"``.
    """
    messages = [message for message in (warning_text or "").split("; ") if message and not _RETRY.search(message)]
    failure = next((message for message in messages if message.startswith("fit failed")), None)
    if failure is not None:
        return NOT_ESTIMABLE + failure.replace("fit failed", "the fit failed", 1)
    if n <= n_terms:
        return NOT_ESTIMABLE + f"{n} observations for {n_terms} fixed-effect terms"
    if n_groups < 2:
        return NOT_ESTIMABLE + f"{n_groups} group; a random intercept needs several"
    if n_groups >= n:
        return NOT_ESTIMABLE + "one observation per group, so the group variance cannot be told from the residual"
    if not converged:
        return NOT_ESTIMABLE + "the optimiser did not converge"
    if any(_INVALID_SE.search(message) for message in messages):
        return NOT_ESTIMABLE + "standard errors could not be computed (a negative variance estimate)"
    if n_groups < MIN_GROUPS:
        return NOT_ESTIMABLE + f"n groups = {n_groups} < {MIN_GROUPS}, too few to estimate the group variance"
    if any(_BOUNDARY.search(message) for message in messages):
        return CAUTION + "group variance estimated at 0 (boundary); the fixed effects are an ordinary regression's"
    if any(_HESSIAN.search(message) for message in messages):
        return NOT_ESTIMABLE + "Hessian not positive definite, so the standard errors and intervals are unreliable"
    if messages:
        return CAUTION + "statsmodels warned: " + "; ".join(messages)
    return ESTIMABLE


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
        Columns ``term, coef, se, ci_low, ci_high, p, n, n_groups, converged, optimiser, warnings, verdict``;
        one row per fixed-effect term (a single row with ``term = None`` if the fit failed). ``verdict`` is
        :func:`fit_verdict` of the fit.
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
            failure["verdict"] = fit_verdict(
                n=n, n_groups=n_groups, n_terms=0, converged=False, warning_text=failure["warnings"]
            )
            return pd.DataFrame([failure], columns=TIDY_COLUMNS)
        # Standard errors and intervals are computed lazily, and may warn too (a negative variance estimate).
        terms = list(result.fe_params.index)
        intervals = result.conf_int()
        table = pd.DataFrame(
            {
                "term": terms,
                "coef": result.fe_params.to_numpy(),
                "se": result.bse_fe.to_numpy(),
                "ci_low": intervals.loc[terms, 0].to_numpy(),
                "ci_high": intervals.loc[terms, 1].to_numpy(),
                "p": result.pvalues.loc[terms].to_numpy(),
            }
        )
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    retries = [match.group(1) for message in messages if (match := _RETRY.search(message))]
    converged = bool(result.converged)
    table["n"], table["n_groups"], table["converged"] = n, n_groups, converged
    table["optimiser"] = (retries[-1] if retries else optimisers[0]) if converged else "none"
    table["warnings"] = "; ".join(messages)
    if table["se"].isna().any():
        messages.append(_NO_STANDARD_ERRORS)
    table["verdict"] = fit_verdict(
        n=n, n_groups=n_groups, n_terms=len(terms), converged=converged, warning_text="; ".join(messages)
    )
    return table[TIDY_COLUMNS]


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


def _scored(units: pd.DataFrame, metrics: Collection[str] | None) -> pd.DataFrame:
    """The units of ``metrics`` (all if None) that have a score: a unit none of whose items could be scored (every
    verdict unparsed) has no score, and one such unit must not make the whole fit fail."""
    if metrics is not None:
        require_columns(units, ["metric"], "a fit restricted to some metrics")
        units = units[units["metric"].isin(set(metrics))]
    return units[units["score"].notna()]


def length_slope(
    units: pd.DataFrame,
    *,
    x: str = "checkpoint",
    metrics: Collection[str] | None = None,
    optimisers: Sequence[str] = OPTIMISERS,
) -> pd.DataFrame:
    """Effect of dialogue length on the score, per model x dialogue kind: ``score ~ x``, groups = persona.

    Benchmark units and turn-level units are fitted alike, each metric on its own: a benchmark's ``checkpoint`` is
    the number of rounds before its items were asked, a dialogue-fidelity unit's is the round of the judged turn,
    so fidelity is fitted over every round, its original and shuffled replicates already averaged by position in
    the unit table, as the study fitted its dialogue metric (authors' ``gen_graphics.ipynb``, the cell saving
    ``length_coeffs.pdf``). Units without a score are left out (``n`` counts the units fitted).

    Args:
        units: Unit-level scores, benchmark and turn-level alike (personas only are used).
        x: The length measure: ``checkpoint`` (rounds) or a token column such as ``prefix_tokens``.
        metrics: Fit only these metrics (default: every metric of ``units``); the study fits dialogue fidelity
            through the mean of its criteria (``dialogue``), not criterion by criterion.
        optimisers: Optimisers tried in order.

    Returns:
        Tidy fixed effects (intercept and slope) keyed by ``dataset, metric`` (if present), ``model, kind``.
    """
    require_columns(units, ["model", "condition", "kind", x, "score"], "length_slope()")
    personas = _scored(units[units["condition"] != BASELINE], metrics).astype({x: float, "score": float})
    keys = [*present(units, _SCORE_KEYS), "model", "kind"]
    return _fit_each(personas, keys, f"score ~ {x}", "condition", optimisers)


def persona_effect(
    units: pd.DataFrame, *, metrics: Collection[str] | None = None, optimisers: Sequence[str] = OPTIMISERS
) -> pd.DataFrame:
    """Persona vs baseline per model x kind: ``score ~ C(arm, Treatment('empty'))``, groups = round x persona.

    ``arm`` is ``persona`` for every persona condition and ``empty`` for the baseline, so the coefficient
    ``C(arm, Treatment('empty'))[T.persona]`` is the average persona effect over checkpoints (over rounds for
    turn-level units). Metrics without baseline units (e.g. a persona's distance from the baseline) are left out,
    and so are units without a score.

    Args:
        units: Unit-level scores including the baseline condition, benchmark and turn-level alike.
        metrics: Fit only these metrics (default: every metric of ``units`` that has a baseline).
        optimisers: Optimisers tried in order.
    """
    require_columns(units, ["model", "condition", "kind", "checkpoint", "score"], "persona_effect()")
    units = collapse_reference_personas(_scored(units, metrics))
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
