"""Time to persona break: onset per dialogue, Kaplan-Meier curves, log-rank tests, Cox models, profile stability.

The study reports mean scores per checkpoint. This module asks a time-to-event question instead: after how many
rounds does a dialogue's persona *break* (its score falls clearly below where it started, or below the no-persona
baseline, and stays there), and in how many dialogues does that happen at all? A dialogue that never breaks is
right-censored at its last observed round.

* :func:`dialogue_onsets` applies a :class:`BreakRule` to every dialogue (model x condition x kind) and metric,
  with a bootstrap interval for the onset.
* :func:`onset_summary`, :func:`kaplan_meier`, :func:`logrank_test` and :func:`hazard_model` analyse the onsets
  (statsmodels ``SurvfuncRight``, ``survdiff`` and ``PHReg``). Degenerate inputs (no breaks, a single group, a
  covariate that does not vary) give a row whose ``note`` starts with ``not estimable:`` instead of an exception.
* :func:`released_onset_analysis` runs all of it on the authors' released IFBench results.
* :func:`profile_stability` measures test-retest (ipsative) stability of BFI profiles across checkpoints.

Two rule presets are provided: :data:`TURN_RULE` (the :class:`BreakRule` defaults) for per-round series such as
turn-level dialogue fidelity, and :data:`CHECKPOINT_RULE` for the ten-checkpoint benchmark series. Both were tuned
on synthetic series by ``benchmarks/onset_validation.py``, which prints their onset error and false-break rate.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from persona_lib.personas import BASELINE
from persona_lib.released import load_ifbench_results, with_model_metadata
from persona_lib.stats._aggregate import present, require_columns
from persona_lib.stats._bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, resample_indices, resampled_means

DIALOGUE: tuple[str, ...] = ("model", "condition", "kind")
NOT_ESTIMABLE = "not estimable: "


@dataclass(frozen=True)
class BreakRule:
    """When a dialogue's persona counts as broken, and where the break starts.

    A series is first put on a "higher is better" scale (lower-is-better metrics are negated, so for them a break
    is a rise). Then:

    1. *Detection.* The series is smoothed with a centred running median of ``window`` observations (shorter
       windows at the ends). It breaks if the smoothed series is at least ``threshold`` worse than the reference
       at some observation and stays there for ``persistence`` consecutive observations, or until the series
       ends if fewer remain (``persistence=None``: until the series ends). The first such observation is the
       *crossing*. A series that never breaks is censored at its last observed round.
    2. *Location.* The onset is the least-squares step of the raw series within ``locate_within`` observations
       of the crossing: the split into a segment before and a segment from the onset on that minimises the
       squared deviations from the two segment means (``locate_within=0``: the onset is the crossing). A
       crossing lags or leads the step by a few rounds, depending on the noise around it; the step fit places
       it where the level changes.

    The defaults are :data:`TURN_RULE`, for per-round series on the 0-100 scale (turn-level dialogue fidelity).
    ``benchmarks/onset_validation.py`` checks them on synthetic Likert-judged dialogues (turn score sd about 10
    points): a one-Likert-step break (25 points) after the opening window is located within 3 rounds in about
    96 % of dialogues, and 1-3 % of unbroken dialogues break falsely (with 1.5 times that noise: about 79 % and
    4.5 %, so re-run the check once real turn-level scores show their noise).

    * ``threshold = 12.5`` points: half a Likert step ((r - 1) / 4 * 100 puts steps 25 points apart). A persona
      whose turns lose one step on average over the three criteria crosses it; the smoothed noise of judged
      turns rarely does for long. A threshold at half the drop also
      puts the running median's crossing near the true onset.
    * ``opening = 10`` observations: the persona as established in rounds 1-10, before the study's first
      dialogue checkpoint (round 11). Ten turns give the reference a standard error of about a third of one
      turn's noise. Breaks inside the opening window lower the reference and are found late or not at all.
    * ``window = 11``: the running median ignores single off turns (a refusal, one generic answer); wider
      windows cut false breaks further but blur breaks near the ends of the dialogue.
    * ``persistence = 10`` observations: a dip must last about a tenth of the dialogue to count; shorter dips
      that recover are not breaks. "Until the end" would let one late noisy excursion undo a real break.
    * ``locate_within = 22`` observations (twice the window): wide enough to reach the step from any crossing
      the running median produces, narrow enough to stay with the break that was detected.

    Attributes:
        threshold: How much worse than the reference counts as broken: points on the metric's scale, or a
            fraction of the reference level if ``relative``. With ``reference="baseline"`` use 0 for "as bad as
            the baseline" or a negative value for "within that many points of the baseline".
        relative: Read ``threshold`` as a fraction of the reference level instead of points.
        reference: ``"opening"`` (mean of the dialogue's first ``opening`` observations) or ``"baseline"`` (the
            no-persona condition of the same model, kind and metric at the same round, smoothed like the series).
        opening: Observations averaged for the opening reference level.
        window: Running-median window in observations (odd; 1 = no smoothing).
        persistence: Consecutive observations the break must last (``None``: to the end of the series).
        locate_within: Half-width, in observations, of the search for the step around the crossing (0 = none).
    """

    threshold: float = 12.5
    relative: bool = False
    reference: Literal["opening", "baseline"] = "opening"
    opening: int = 10
    window: int = 11
    persistence: int | None = 10
    locate_within: int = 22

    def __post_init__(self) -> None:
        if self.reference not in ("opening", "baseline"):
            raise ValueError(f"BreakRule.reference must be 'opening' or 'baseline', got {self.reference!r}")
        if self.opening < 1:
            raise ValueError(f"BreakRule.opening must be at least 1 observation, got {self.opening}")
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"BreakRule.window must be a positive odd number of observations, got {self.window}")
        if self.locate_within < 0:
            raise ValueError(f"BreakRule.locate_within must be >= 0 observations, got {self.locate_within}")
        if self.persistence is not None and self.persistence < 1:
            raise ValueError(f"BreakRule.persistence must be >= 1 or None (to the end), got {self.persistence}")
        if self.relative and self.reference == "opening" and self.threshold <= 0:
            raise ValueError("a relative BreakRule.threshold must be a positive fraction of the opening level")

    def describe(self) -> str:
        """The rule in one line, as stored in the ``rule`` column of :func:`dialogue_onsets`."""
        drop = f"{self.threshold:g} x reference" if self.relative else f"{self.threshold:g} points"
        reference = f"mean of first {self.opening} obs" if self.reference == "opening" else "baseline at same round"
        lasting = "to the end" if self.persistence is None else f"{self.persistence} obs (or to the end)"
        located = f"; step located within {self.locate_within} obs" if self.locate_within else ""
        return f"worse by >= {drop} than {reference}; median of {self.window} obs; lasting {lasting}{located}"


#: Rule for per-round series (1..102), e.g. turn-level dialogue fidelity: the :class:`BreakRule` defaults.
TURN_RULE = BreakRule()

#: Rule for the ten-checkpoint benchmark series (0, 11, ..., 102). The reference is the single-turn score
#: (``opening=1``: the checkpoint at 11 rounds is already a possible onset, and the released data show breaks
#: there); no smoothing (neighbours are 11 rounds apart); 4 points is about 2.7 noise sd of one released IFBench
#: accuracy (1.5 points, from checkpoint-to-checkpoint changes) and below the 5-12-point falls the release shows
#: at round 11 (Qwen3-4B and Gemini, persona-directed); 3 checkpoints (about 33 rounds) of persistence; the step
#: is located within 2 checkpoints of the crossing. An onset is the checkpoint at which the break is first seen:
#: it happened since the previous checkpoint.
#: ``benchmarks/onset_validation.py``: an 8-point break is seen at the first checkpoint after it in about 93 %
#: of dialogues; about 3 % of unbroken dialogues break falsely (the single-score reference is noisy).
CHECKPOINT_RULE = BreakRule(threshold=4.0, opening=1, window=1, persistence=3, locate_within=2)


# --- onset detection --------------------------------------------------------------------------------------------


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred running median along axis 1, with shorter windows at both ends."""
    if window == 1:
        return values
    rolling = pd.DataFrame(values.T).rolling(window, center=True, min_periods=1)
    return rolling.median().to_numpy().T


def _run_lengths(flags: np.ndarray) -> np.ndarray:
    """For each cell, the number of consecutive True cells starting there (along axis 1)."""
    runs = np.zeros(flags.shape, dtype=int)
    count = np.zeros(flags.shape[0], dtype=int)
    for position in range(flags.shape[1] - 1, -1, -1):
        count = np.where(flags[:, position], count + 1, 0)
        runs[:, position] = count
    return runs


def _limits(goodness: np.ndarray, reference: np.ndarray | None, rule: BreakRule) -> tuple[np.ndarray, np.ndarray]:
    """Reference level and break limit on the goodness scale, shaped to broadcast against ``goodness``."""
    if rule.reference == "opening":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample without any item in the opening: NaN
            level = np.nanmean(goodness[:, : rule.opening], axis=1, keepdims=True)
    else:
        level = _smooth(reference[None, :], rule.window)
    drop = rule.threshold * np.abs(level) if rule.relative else rule.threshold
    return level, level - drop


def _crossing(goodness: np.ndarray, reference: np.ndarray | None, rule: BreakRule) -> np.ndarray:
    """Index of the first lasting threshold crossing in each row of ``goodness`` (shape ``(R, T)``), -1 if none."""
    _, limit = _limits(goodness, reference, rule)
    flags = _smooth(goodness, rule.window) <= limit
    n = flags.shape[1]
    remaining = n - np.arange(n)
    needed = remaining if rule.persistence is None else np.minimum(rule.persistence, remaining)
    lasting = _run_lengths(flags) >= needed
    return np.where(lasting.any(axis=1), lasting.argmax(axis=1), -1)


def _locate_step(goodness: np.ndarray, crossing: np.ndarray, half_width: int) -> np.ndarray:
    """Least-squares step location within ``half_width`` observations of each row's crossing.

    The step splits the raw observations around the crossing into a segment before and one from the step on,
    minimising the summed squared deviations from the two segment means; the result is the step's first index.
    A crossing at the first observation (broken from the start) stays there; -1 (no break) stays -1.
    """
    if half_width == 0:
        return crossing
    n_rows, n = goodness.shape
    columns = crossing[:, None] + np.arange(-half_width, half_width + 1)
    valid = (columns >= 0) & (columns < n) & (crossing[:, None] >= 0)
    segment = np.where(valid, goodness[np.arange(n_rows)[:, None], np.clip(columns, 0, n - 1)], 0.0)
    segment = segment - (segment.sum(axis=1, keepdims=True) / np.maximum(valid.sum(axis=1, keepdims=True), 1))
    segment = np.where(valid, segment, 0.0)
    count, total, squares = valid.cumsum(axis=1), segment.cumsum(axis=1), (segment**2).cumsum(axis=1)
    n_all, total_all, squares_all = count[:, -1:], total[:, -1:], squares[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        before = squares - total**2 / count
        after = (squares_all - squares) - (total_all - total) ** 2 / (n_all - count)
    # A split after column j puts the step at column j + 1; both columns must be observed.
    allowed = valid[:, :-1] & valid[:, 1:]
    cost = np.where(allowed, (before + after)[:, :-1], np.inf)
    best = np.take_along_axis(columns[:, 1:], cost.argmin(axis=1)[:, None], axis=1)[:, 0]
    return np.where(crossing > 0, best, crossing)


def _first_break(goodness: np.ndarray, reference: np.ndarray | None, rule: BreakRule) -> np.ndarray:
    """Index of the break onset in each row of ``goodness`` (shape ``(R, T)``), -1 if none."""
    return _locate_step(goodness, _crossing(goodness, reference, rule), rule.locate_within)


def _step_fit(series: np.ndarray, onset_index: int) -> tuple[np.ndarray, int]:
    """Fitted values of a one-break step model (two means; one mean without a break) and its parameter count."""
    if onset_index <= 0:
        return np.full_like(series, series.mean()), 1
    fitted = np.empty_like(series)
    fitted[:onset_index] = series[:onset_index].mean()
    fitted[onset_index:] = series[onset_index:].mean()
    return fitted, 2


def _resampled_series(
    series: np.ndarray, items: np.ndarray | None, onset_index: int, n_resamples: int, seed: int
) -> tuple[np.ndarray, str]:
    """Bootstrap replicates of a goodness series: resampled items if given, else resampled step-model residuals."""
    if items is not None:
        indices = resample_indices(items.shape[0], n_resamples, seed)
        return resampled_means(items, indices), "items"
    fitted, n_parameters = _step_fit(series, onset_index)
    n = len(series)
    residuals = (series - fitted) * np.sqrt(n / (n - n_parameters)) if n > n_parameters else series - fitted
    indices = resample_indices(n, n_resamples, seed)
    return fitted[None, :] + residuals[indices], "residuals"


@dataclass(frozen=True)
class _Series:
    """One dialogue x metric series: positions, scores and (item-level input) the items x positions matrix."""

    positions: np.ndarray
    scores: np.ndarray
    items: np.ndarray | None = None

    def oriented(self, sign: float) -> _Series:
        """The series on the goodness scale (negated for lower-is-better metrics)."""
        return _Series(self.positions, sign * self.scores, None if self.items is None else sign * self.items)

    def at(self, positions: np.ndarray) -> _Series:
        """The series restricted to ``positions`` (a subset of its own)."""
        keep = np.isin(self.positions, positions)
        return _Series(self.positions[keep], self.scores[keep], None if self.items is None else self.items[:, keep])


def _collect_series(scores: pd.DataFrame, keys: list[str], position: str, item: str | None) -> dict[tuple, _Series]:
    """Every dialogue x metric series of ``scores`` (scored rows only), keyed by the ``keys`` values."""
    scored = scores.dropna(subset=["score"])
    if item is None:
        duplicated = scored.duplicated([*keys, position])
        if duplicated.any():
            example = scored.loc[duplicated, [*keys, position]].iloc[0].to_dict()
            raise ValueError(
                f"several scores for one dialogue round, e.g. {example}; pass item= the item column to bootstrap "
                "over items, or aggregate to one score per round first (persona_lib.stats.aggregate)"
            )
        ordered = scored.sort_values([*keys, position])
        positions, values = ordered[position].to_numpy(), ordered["score"].to_numpy(dtype=float)
        groups = ordered.groupby(keys, sort=True, dropna=False).indices
        return {_as_key(key): _Series(positions[index], values[index]) for key, index in groups.items()}
    series = {}
    for key, part in scored.groupby(keys, sort=True, dropna=False):
        wide = part.pivot_table(index=item, columns=position, values="score", aggfunc="mean", sort=True)
        items = wide.to_numpy(dtype=float)
        series[_as_key(key)] = _Series(wide.columns.to_numpy(), np.nanmean(items, axis=0), items)
    return series


def _as_key(key: object) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def _direction(higher_is_better: bool | Mapping[str, bool], metric: str) -> float:
    if isinstance(higher_is_better, Mapping):
        if metric not in higher_is_better:
            raise ValueError(
                f"higher_is_better has no entry for metric {metric!r}; add {metric!r}: True (higher scores are "
                "better, a break is a fall) or False (lower is better, a break is a rise)"
            )
        return 1.0 if higher_is_better[metric] else -1.0
    return 1.0 if higher_is_better else -1.0


def _rule_for(rule: BreakRule | Mapping[str, BreakRule], metric: str) -> BreakRule:
    if isinstance(rule, BreakRule):
        return rule
    if metric not in rule:
        raise ValueError(f"rule has no BreakRule for metric {metric!r}; add one or pass a single BreakRule")
    return rule[metric]


def _onset_row(
    data: _Series,
    reference: np.ndarray | None,
    rule: BreakRule,
    sign: float,
    n_resamples: int,
    seed: int,
    confidence: float,
) -> dict[str, object]:
    """Onset, censoring, reference and bootstrap interval of one series (``data`` on the goodness scale)."""
    positions, goodness = data.positions, data.scores
    row: dict[str, object] = {
        "observed_until": positions[-1] if len(positions) else np.nan,
        "n_observations": len(positions),
        "note": "",
    }
    minimum = rule.opening + 1 if rule.reference == "opening" else 1
    if len(positions) < minimum:
        row["note"] = f"too short: {len(positions)} scored observations, the rule needs at least {minimum}"
        return row
    level, limit = _limits(goodness[None, :], reference, rule)
    index = int(_first_break(goodness[None, :], reference, rule)[0])
    broke = index >= 0
    onset = positions[index] if broke else np.nan
    row.update(
        onset=onset,
        broke=broke,
        duration=onset if broke else positions[-1],
        reference_level=sign * float(np.mean(level)),
        break_level=sign * float(np.mean(limit)),
    )
    if n_resamples > 0:
        replicates, method = _resampled_series(goodness, data.items, index, n_resamples, seed)
        found = _first_break(replicates, reference, rule)
        onsets = positions[found[found >= 0]]
        alpha = (1 - confidence) / 2
        low, high = np.percentile(onsets, [100 * alpha, 100 * (1 - alpha)]) if len(onsets) else (np.nan, np.nan)
        row.update(onset_ci_low=low, onset_ci_high=high, break_share=len(onsets) / n_resamples, bootstrap=method)
    return row


def dialogue_onsets(
    scores: pd.DataFrame,
    *,
    higher_is_better: bool | Mapping[str, bool],
    rule: BreakRule | Mapping[str, BreakRule] = TURN_RULE,
    position: str = "checkpoint",
    item: str | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The round at which each dialogue's persona breaks, per metric, with a bootstrap interval.

    A dialogue is one model x condition x dialogue kind; its series is the metric over ``position`` (checkpoints
    0..102 of a benchmark, or rounds 1..102 of turn-level fidelity). Rows with a missing score are skipped.

    Bootstrap (``n_resamples > 0``), seeded with ``numpy.random.default_rng(seed)``:

    * with ``item``: the items are resampled with replacement, *the same draw at every round*, since the study
      asks the same items at every checkpoint; this keeps the correlation between rounds and reflects
      measurement noise as it arises.
    * without: residuals around a one-break step model (the mean before and after the detected onset; one mean
      if none) are resampled with replacement and added back. This is what the rule assumes a break looks like;
      the interval covers noise around that model, not doubt about the model, and treats rounds as independent.

    Each replicate is judged with the same rule (the opening reference is recomputed; a baseline reference is
    held fixed). ``break_share`` is the share of replicates that break; the interval is the percentile interval
    of the onsets of the replicates that break.

    Args:
        scores: Tidy scores with ``model, condition, kind, metric, score`` and ``position`` (plus ``dataset``,
            and ``item`` if given); one row per dialogue x metric x position unless ``item`` is given.
        higher_is_better: True/False for all metrics, or a mapping metric -> bool (required: a break is a fall
            for higher-is-better metrics and a rise for the others).
        rule: A :class:`BreakRule`, or a mapping metric -> rule. Default :data:`TURN_RULE`; use
            :data:`CHECKPOINT_RULE` for ten-checkpoint series.
        position: The round column.
        item: Item column for item-level scores (rows are averaged per round; the bootstrap resamples items).
        n_resamples: Bootstrap replicates (0 = no interval).
        seed: Bootstrap seed.
        confidence: Coverage of the onset interval.

    Returns:
        One row per dialogue and metric with a scored row: ``dataset`` (if present), ``model, condition, kind,
        metric, onset`` (round of the break, NaN if none), ``observed_until`` (last observed round), ``broke``
        (event flag), ``duration`` (onset if broke, else ``observed_until``: the survival time), ``reference_level``
        (opening mean, or the baseline's mean level), ``break_level`` (the level to cross; its mean for a baseline
        reference), ``onset_ci_low, onset_ci_high, break_share, bootstrap, n_resamples, seed,
        n_observations``, ``rule`` (:meth:`BreakRule.describe`) and ``note`` (why a dialogue was not assessed;
        such rows have no ``duration``).

    Raises:
        ValueError: on missing columns, several scores per round without ``item``, a metric without a direction
            or rule, or a baseline reference without baseline rows.
    """
    require_columns(scores, [*DIALOGUE, "metric", position, "score", *([item] if item else [])], "dialogue_onsets()")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    keys = [*present(scores, ("dataset",)), *DIALOGUE, "metric"]
    series = _collect_series(scores, keys, position, item)
    rows = []
    for key, data in series.items():
        labels = dict(zip(keys, key, strict=True))
        metric, condition = labels["metric"], labels["condition"]
        sign = _direction(higher_is_better, metric)
        metric_rule = _rule_for(rule, metric)
        reference = None
        if metric_rule.reference == "baseline":
            if condition == BASELINE:
                rows.append({**labels, "n_observations": len(data.positions), "note": "baseline is the reference"})
                continue
            data, reference = _with_baseline(data, series, labels, keys)
            reference = sign * reference
        row = _onset_row(data.oriented(sign), reference, metric_rule, sign, n_resamples, seed, confidence)
        rows.append({**labels, **row, "rule": metric_rule.describe()})
    columns = [
        *keys,
        "onset",
        "observed_until",
        "broke",
        "duration",
        "reference_level",
        "break_level",
        "onset_ci_low",
        "onset_ci_high",
        "break_share",
        "bootstrap",
        "n_resamples",
        "seed",
        "n_observations",
        "rule",
        "note",
    ]
    table = pd.DataFrame(rows).reindex(columns=columns)
    table["n_resamples"], table["seed"] = n_resamples, seed
    table["broke"] = table["broke"].astype("boolean").fillna(False).astype(bool)
    table["note"] = table["note"].fillna("")
    if n_resamples == 0:
        table["bootstrap"] = "none"
    return table


def _with_baseline(
    data: _Series, series: dict[tuple, _Series], labels: dict[str, object], keys: list[str]
) -> tuple[_Series, np.ndarray]:
    """The series restricted to the rounds its baseline was observed at, and the baseline's scores there."""
    where = ", ".join(f"{column}={value!r}" for column, value in labels.items())
    baseline = series.get(tuple(BASELINE if column == "condition" else labels[column] for column in keys))
    if baseline is None:
        raise ValueError(
            f"{where}: a baseline reference needs rows with condition {BASELINE!r} for the same model, kind and "
            "metric; add them or use BreakRule(reference='opening')"
        )
    shared = np.intersect1d(data.positions, baseline.positions)
    if len(shared) == 0:
        raise ValueError(f"{where}: the baseline was observed at none of the dialogue's rounds")
    return data.at(shared), baseline.at(shared).scores


# --- survival analysis ------------------------------------------------------------------------------------------


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
_KIND_TERM = "C(kind, Treatment('persona_directed'))"
#: Standard errors above this (on the log-hazard scale) mean the coefficient is not identified, e.g. a group
#: without any break (monotone likelihood).
_UNIDENTIFIED_SE = 20.0


def hazard_model(
    onsets: pd.DataFrame,
    *,
    covariates: str = f"size + {_KIND_TERM}",
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


# --- the authors' released data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnsetAnalysis:
    """The tables of :func:`released_onset_analysis`.

    Attributes:
        onsets: :func:`dialogue_onsets` for every model x condition x kind, baseline included.
        summary: :func:`onset_summary` per model x kind, personas and baseline separately (``arm``).
        curves: :func:`kaplan_meier` per model x kind, persona dialogues.
        logrank: :func:`logrank_test` of kinds per model, then pooled over models stratified by model (``model``
            is ``"all (stratified)"``), then personas vs baseline pooled (stratified by model x kind).
        hazards: :func:`hazard_model` on persona dialogues, standard errors clustered by model: ``size + kind``
            with the study's numeric size code, then ``C(size) + kind`` (small / large / Gemini as categories,
            since Gemini's code 3 is not a measured size); the ``formula`` column tells them apart.
        rule: The rule used.
    """

    onsets: pd.DataFrame
    summary: pd.DataFrame
    curves: pd.DataFrame
    logrank: pd.DataFrame
    hazards: pd.DataFrame
    rule: BreakRule


def released_onset_analysis(
    *,
    rule: BreakRule = CHECKPOINT_RULE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    path: str | Path | None = None,
) -> OnsetAnalysis:
    """Break onsets and survival analysis of the authors' released IFBench accuracies.

    A "break" here is instruction-following accuracy falling at least ``rule.threshold`` points below the
    dialogue's single-turn accuracy and staying there (:data:`CHECKPOINT_RULE`); onsets are the checkpoint
    (0, 11, ..., 102) at which the fall is first seen. Survival models use the persona dialogues (7 models x 8
    personas x 2 kinds); the baseline's own drift is in ``onsets`` and ``summary`` for comparison.

    Args:
        rule: The break rule (IFBench accuracy is higher-is-better).
        n_resamples: Bootstrap replicates per dialogue (residual bootstrap: the release has no item scores).
        seed: Bootstrap seed.
        path: The released JSON (default ``data/released/ifbench_results.json``).

    Returns:
        The tables as an :class:`OnsetAnalysis` (onsets, summary, curves, logrank, hazards and the rule).
    """
    results = load_ifbench_results(path)
    onsets = dialogue_onsets(results, higher_is_better=True, rule=rule, n_resamples=n_resamples, seed=seed)
    onsets = with_model_metadata(onsets.assign(arm=np.where(onsets["condition"] == BASELINE, "baseline", "persona")))
    personas = onsets[onsets["arm"] == "persona"]
    by_kind = logrank_test(personas, group="kind", by=("model",))
    pooled = logrank_test(personas, group="kind", strata="model").assign(model="all (stratified)")
    strata = onsets.assign(model_kind=onsets["model"] + " | " + onsets["kind"])
    arms = logrank_test(strata, group="arm", strata="model_kind").assign(model="all (stratified)")
    return OnsetAnalysis(
        onsets=onsets,
        summary=onset_summary(onsets, by=("model", "kind", "arm")),
        curves=kaplan_meier(personas, by=("model", "kind")),
        logrank=pd.concat([by_kind, pooled, arms], ignore_index=True),
        hazards=pd.concat(
            [
                hazard_model(personas, cluster="model"),
                hazard_model(personas, covariates=f"C(size) + {_KIND_TERM}", cluster="model"),
            ],
            ignore_index=True,
        ),
        rule=rule,
    )


# --- stability of BFI profiles ------------------------------------------------------------------------------------


def _profile_comparison(current: np.ndarray, earlier: np.ndarray, min_dimensions: int) -> tuple[float, float, int, str]:
    shared = ~np.isnan(current) & ~np.isnan(earlier)
    n = int(shared.sum())
    if n == 0:
        return np.nan, np.nan, 0, "no dimension scored at both checkpoints"
    change = float(np.mean(np.abs(current[shared] - earlier[shared])))
    if n < min_dimensions:
        return np.nan, change, n, f"correlation needs {min_dimensions} shared dimensions, have {n}"
    a, b = current[shared], earlier[shared]
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return np.nan, change, n, "a profile is flat (all dimensions equal): correlation undefined"
    return float(np.corrcoef(a, b)[0, 1]), change, n, ""


def profile_stability(profiles: pd.DataFrame, *, position: str = "checkpoint", min_dimensions: int = 3) -> pd.DataFrame:
    """Test-retest (ipsative) stability of Big-Five profiles across checkpoints, per model x condition x kind.

    Each checkpoint's profile (the mean level of each dimension, 1-5) is compared with the profile at the first
    checkpoint (``initial``, t = 0 in the study) and with the previous checkpoint (``previous``): ``r`` is the
    Pearson correlation over dimensions (the ipsative, within-profile correlation: it compares the profile's
    shape and ignores a shift of all dimensions together), ``mean_abs_change`` the mean absolute difference of
    levels (catches such shifts; in level units, x 25 for the 0-100 scale).

    Args:
        profiles: Output of :func:`persona_lib.scoring.bfi_profiles` (``model, condition, kind, checkpoint,
            dimension, level``).
        position: The checkpoint column.
        min_dimensions: Fewest dimensions scored at both checkpoints for a correlation.

    Returns:
        One row per unit, checkpoint after the first and comparison: ``model, condition, kind, checkpoint,
        comparison, compared_with, r, mean_abs_change, n_dimensions, note`` (why ``r`` is missing).
    """
    require_columns(profiles, [*DIALOGUE, position, "dimension", "level"], "profile_stability()")
    duplicated = profiles.duplicated([*DIALOGUE, position, "dimension"])
    if duplicated.any():
        example = profiles.loc[duplicated, [*DIALOGUE, position, "dimension"]].iloc[0].to_dict()
        raise ValueError(f"several levels for one profile dimension, e.g. {example}; pass one row per dimension")
    rows = []
    for key, part in profiles.groupby(list(DIALOGUE), sort=True):
        wide = part.pivot_table(index=position, columns="dimension", values="level", aggfunc="first", dropna=False)
        checkpoints, levels = wide.index.to_numpy(), wide.to_numpy(dtype=float)
        for index in range(1, len(checkpoints)):
            for comparison, earlier in (("initial", 0), ("previous", index - 1)):
                r, change, n, note = _profile_comparison(levels[index], levels[earlier], min_dimensions)
                rows.append((*key, checkpoints[index], comparison, checkpoints[earlier], r, change, n, note))
    columns = [*DIALOGUE, position, "comparison", "compared_with", "r", "mean_abs_change", "n_dimensions", "note"]
    return pd.DataFrame(rows, columns=columns)
