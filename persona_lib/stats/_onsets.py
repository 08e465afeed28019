"""Break onsets: the round at which each dialogue's persona breaks, per metric, with a bootstrap interval.

A dialogue's persona *breaks* when its score falls clearly below where it started, or below the no-persona
baseline, and stays there. :func:`dialogue_onsets` applies a :class:`BreakRule` to every dialogue (model x
condition x kind) and metric; a dialogue that never breaks is right-censored at its last observed round. The
survival estimators that analyse these onsets are in :mod:`persona_lib.stats._survival`.

Two rule presets are provided: :data:`TURN_RULE` (the :class:`BreakRule` defaults) for per-round series such as
turn-level dialogue fidelity, and :data:`CHECKPOINT_RULE` for the ten-checkpoint benchmark series. Both were tuned
on synthetic series by ``benchmarks/onset_validation.py``, which prints their onset error and false-break rate.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from persona_lib.personas import BASELINE
from persona_lib.stats._aggregate import DIALOGUE, present, require_columns
from persona_lib.stats._bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, resample_indices, resampled_means


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
