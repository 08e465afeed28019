"""Survival analysis of break onsets: summaries, Kaplan-Meier curves, log-rank tests and Cox models.

Every function takes the output of :func:`persona_lib.stats.dialogue_onsets` (``duration`` is the survival time,
``broke`` the event flag; dialogues that never break are censored) and returns a tidy table, using statsmodels
``SurvfuncRight``, ``survdiff`` and ``PHReg``. Degenerate inputs (no breaks, a single group, a covariate that does
not vary) give a row whose ``note`` starts with ``not estimable:`` instead of an exception.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from persona_lib.stats._aggregate import require_columns

NOT_ESTIMABLE = "not estimable: "


def _survival_data(onsets: pd.DataFrame, what: str) -> pd.DataFrame:
    require_columns(onsets, ["duration", "broke"], what)
    return onsets.dropna(subset=["duration"])


def _groups(table: pd.DataFrame, by: Sequence[str]):
    """``(labels, part)`` pairs for each ``by`` group; one unlabelled group if ``by`` is empty."""
    if not by:
        return [({}, table)]
    return [(dict(zip(by, key, strict=True)), part) for key, part in table.groupby(list(by), sort=True)]


def onset_summary(onsets: pd.DataFrame, *, by: Sequence[str] = ("model", "kind")) -> pd.DataFrame:
    """How many dialogues break, and when: counts and onset quantiles per group.

    Args:
        onsets: Output of :func:`dialogue_onsets` (rows without a duration are left out).
        by: Grouping columns (add ``metric`` for several metrics).

    Returns:
        ``by`` columns plus ``n_dialogues, n_broken, share_broken`` (of dialogues observed, whatever their
        length) and ``onset_min, onset_median, onset_max`` over the dialogues that broke.
    """
    data = _survival_data(onsets, "onset_summary()")
    require_columns(data, list(by), "onset_summary()")
    grouped = data.assign(_broken_onset=data["onset"].where(data["broke"])).groupby(list(by), sort=True)
    summary = grouped.agg(
        n_dialogues=("broke", "size"),
        n_broken=("broke", "sum"),
        onset_min=("_broken_onset", "min"),
        onset_median=("_broken_onset", "median"),
        onset_max=("_broken_onset", "max"),
    ).reset_index()
    summary.insert(len(by) + 2, "share_broken", summary["n_broken"] / summary["n_dialogues"])
    return summary


def _log_log_interval(survival: np.ndarray, se: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise interval for S(t) on the log(-log S) scale (stays inside [0, 1]); NaN where S is 0 or 1."""
    z = norm.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.log(-np.log(survival))
        spread = z * se / (survival * np.abs(np.log(survival)))
        low, high = np.exp(-np.exp(theta + spread)), np.exp(-np.exp(theta - spread))
    inside = (survival > 0) & (survival < 1)
    return np.where(inside, low, np.nan), np.where(inside, high, np.nan)


def kaplan_meier(
    onsets: pd.DataFrame, *, by: Sequence[str] = ("model", "kind"), confidence: float = 0.95
) -> pd.DataFrame:
    """Kaplan-Meier curves of rounds until the persona breaks (statsmodels ``SurvfuncRight``), per group.

    Dialogues that never break are censored at their last observed round. Points: round 0 (S = 1), every round
    with a break, and the longest follow-up. Intervals are pointwise, Greenwood standard errors on the
    log(-log S) scale; none where S is 1 (before any break) or 0.

    Args:
        onsets: Output of :func:`dialogue_onsets` (for one metric; add ``metric`` to ``by`` otherwise).
        by: Grouping columns; one curve per group.
        confidence: Coverage of the pointwise interval.

    Returns:
        ``by`` columns plus ``time, n_risk, n_events, survival, se, ci_low, ci_high, n, n_breaks, note``;
        a group without breaks gives S = 1 at round 0 and at its longest follow-up, noted.
    """
    data = _survival_data(onsets, "kaplan_meier()")
    require_columns(data, list(by), "kaplan_meier()")
    curves = []
    for labels, part in _groups(data, by):
        time, status = part["duration"].to_numpy(dtype=float), part["broke"].to_numpy(dtype=int)
        follow_up = time.max()
        if status.sum() == 0:
            at_risk = [len(time), int((time >= follow_up).sum())]
            points = pd.DataFrame(
                {"time": [0.0, follow_up], "n_risk": at_risk, "n_events": 0, "survival": 1.0, "se": 0.0}
            )
            note = f"no breaks observed: S(t) = 1 up to round {follow_up:g}"
        else:
            fit = SurvfuncRight(time, status)
            points = pd.DataFrame(
                {
                    "time": fit.surv_times,
                    "n_risk": fit.n_risk,
                    "n_events": fit.n_events.astype(int),
                    "survival": fit.surv_prob,
                    "se": fit.surv_prob_se,
                }
            )
            start = pd.DataFrame(
                {"time": [0.0], "n_risk": [len(time)], "n_events": [0], "survival": [1.0], "se": [0.0]}
            )
            end = points.iloc[[-1]].assign(time=follow_up, n_risk=int((time >= follow_up).sum()), n_events=0)
            points = pd.concat(
                [
                    start if points["time"].iloc[0] > 0 else None,
                    points,
                    end if follow_up > points["time"].iloc[-1] else None,
                ],
                ignore_index=True,
            )
            note = ""
        points["ci_low"], points["ci_high"] = _log_log_interval(
            points["survival"].to_numpy(dtype=float), points["se"].to_numpy(dtype=float), confidence
        )
        curves.append(points.assign(**labels, n=len(time), n_breaks=int(status.sum()), note=note))
    columns = [*by, "time", "n_risk", "n_events", "survival", "se", "ci_low", "ci_high", "n", "n_breaks", "note"]
    return pd.concat(curves, ignore_index=True)[columns]


def logrank_test(
    onsets: pd.DataFrame, *, group: str = "kind", by: Sequence[str] = (), strata: str | None = None
) -> pd.DataFrame:
    """Log-rank test of equal break hazards across the levels of ``group`` (statsmodels ``survdiff``).

    Args:
        onsets: Output of :func:`dialogue_onsets`.
        group: Column whose levels are compared (e.g. ``kind``).
        by: One test per group of these columns (e.g. ``("model",)``).
        strata: Column to stratify by (e.g. ``model`` for a pooled test that compares kinds within models).

    Returns:
        ``by`` columns plus ``group`` (the column compared), ``levels``, ``statistic`` (chi-square), ``df``,
        ``p``, ``n``, ``n_breaks``, ``strata`` and ``note`` (``not estimable: ...`` with NaN statistics when
        there is one level or no break).
    """
    data = _survival_data(onsets, "logrank_test()")
    require_columns(data, [group, *by, *([strata] if strata else [])], "logrank_test()")
    rows = []
    for labels, part in _groups(data, by):
        levels = sorted(part[group].unique(), key=str)
        row = {
            **labels,
            "group": group,
            "levels": " vs ".join(map(str, levels)),
            "statistic": np.nan,
            "df": len(levels) - 1,
            "p": np.nan,
            "n": len(part),
            "n_breaks": int(part["broke"].sum()),
            "strata": strata or "",
            "note": "",
        }
        if len(levels) < 2:
            row["note"] = f"{NOT_ESTIMABLE}only one {group} ({levels[0] if levels else 'none'}) in the data"
        elif row["n_breaks"] == 0:
            row["note"] = f"{NOT_ESTIMABLE}no breaks observed, nothing to compare"
        else:
            try:
                statistic, p = survdiff(
                    part["duration"].to_numpy(dtype=float),
                    part["broke"].to_numpy(dtype=int),
                    part[group].astype(str).to_numpy(),
                    strata=None if strata is None else part[strata].to_numpy(),
                )
                row.update(statistic=float(statistic), p=float(p))
            except (ValueError, np.linalg.LinAlgError) as err:
                row["note"] = f"{NOT_ESTIMABLE}survdiff failed ({err})"
        rows.append(row)
    return pd.DataFrame(rows)


_HAZARD_COLUMNS = [
    "term",
    "coef",
    "se",
    "hazard_ratio",
    "hr_ci_low",
    "hr_ci_high",
    "p",
    "n",
    "n_breaks",
    "formula",
    "cluster",
    "warnings",
    "note",
]
#: The dialogue kind as a Cox-model term (patsy), with persona-directed dialogues as the reference level.
KIND_TERM = "C(kind, Treatment('persona_directed'))"
#: Standard errors above this (on the log-hazard scale) mean the coefficient is not identified, e.g. a group
#: without any break (monotone likelihood).
_UNIDENTIFIED_SE = 20.0


def hazard_model(
    onsets: pd.DataFrame,
    *,
    covariates: str = f"size + {KIND_TERM}",
    cluster: str | None = None,
    by: Sequence[str] = (),
    ties: Literal["efron", "breslow"] = "efron",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Cox proportional-hazards model of rounds until the break (statsmodels ``PHReg``), as a tidy table.

    Args:
        onsets: Output of :func:`dialogue_onsets` with the covariate columns (e.g. ``size`` from
            :func:`persona_lib.released.with_model_metadata`).
        covariates: Right-hand side of the formula (patsy). The default follows the study's size regressions
            (size code 1/2/3 as a number) and adds the dialogue kind (persona-directed is the reference).
        cluster: Column whose levels may be dependent (e.g. ``model``: a model's dialogues share its size); gives
            robust (sandwich) standard errors. Few clusters make those standard errors too small.
        by: One model per group of these columns.
        ties: Handling of tied break rounds.
        confidence: Coverage of the hazard-ratio interval.

    Returns:
        One row per term and group: ``by`` columns plus ``term, coef`` (log hazard ratio), ``se, hazard_ratio,
        hr_ci_low, hr_ci_high, p, n, n_breaks, formula, cluster, warnings, note``. A hazard ratio above 1 means
        earlier breaks. A model that cannot be estimated gives one row with ``note`` ``not estimable: ...``; a
        term whose standard error is huge (e.g. no breaks in one kind) is kept, noted as not identified.
    """
    data = _survival_data(onsets, "hazard_model()")
    require_columns(data, [*by, *([cluster] if cluster else [])], "hazard_model()")
    fits = [
        _fit_hazards(part, covariates, cluster, ties, confidence).assign(**labels) for labels, part in _groups(data, by)
    ]
    return pd.concat(fits, ignore_index=True)[[*by, *_HAZARD_COLUMNS]]


def _fit_hazards(
    data: pd.DataFrame, covariates: str, cluster: str | None, ties: str, confidence: float
) -> pd.DataFrame:
    formula = f"duration ~ {covariates}"
    n, n_breaks = len(data), int(data["broke"].sum())

    def not_estimable(why: str) -> pd.DataFrame:
        row = dict.fromkeys(_HAZARD_COLUMNS, np.nan)
        row.update(
            n=n, n_breaks=n_breaks, formula=formula, cluster=cluster or "", warnings="", note=NOT_ESTIMABLE + why
        )
        return pd.DataFrame([row], columns=_HAZARD_COLUMNS)

    if n_breaks == 0:
        return not_estimable("no breaks observed")
    # patsy silently drops a factor with a single level, so check the formula's columns before fitting.
    named = [name for name in dict.fromkeys(re.findall(r"[A-Za-z_]\w*", covariates)) if name in data.columns]
    constant = [f"{name} (only {data[name].iloc[0]!r})" for name in named if data[name].nunique() < 2]
    if constant:
        return not_estimable(f"covariate(s) without variation in the data: {', '.join(constant)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PHReg.from_formula(formula, data, status=data["broke"].to_numpy(dtype=int), ties=ties)
        constant = [name for name, column in zip(model.exog_names, model.exog.T, strict=True) if np.ptp(column) == 0]
        if model.exog.shape[1] == 0 or constant:
            return not_estimable(f"covariate(s) without variation in the data: {', '.join(constant) or 'none left'}")
        groups = None if cluster is None else data[cluster].to_numpy()
        try:
            result = model.fit(groups=groups)
        except (ValueError, np.linalg.LinAlgError) as err:
            return not_estimable(f"the fit failed ({err})")
    messages = "; ".join(dict.fromkeys(str(w.message) for w in caught))
    coef, se = np.asarray(result.params), np.asarray(result.bse)
    z = norm.ppf(0.5 + confidence / 2)
    notes = np.where(se > _UNIDENTIFIED_SE, "not identified: standard error is huge (a group without breaks?)", "")
    with np.errstate(over="ignore"):  # an unidentified term's interval runs to infinity
        ratios = np.exp(coef), np.exp(coef - z * se), np.exp(coef + z * se)
    return pd.DataFrame(
        {
            "term": model.exog_names,
            "coef": coef,
            "se": se,
            "hazard_ratio": ratios[0],
            "hr_ci_low": ratios[1],
            "hr_ci_high": ratios[2],
            "p": np.asarray(result.pvalues),
            "n": n,
            "n_breaks": n_breaks,
            "formula": formula,
            "cluster": cluster or "",
            "warnings": messages,
            "note": notes,
        },
        columns=_HAZARD_COLUMNS,
    )
