"""Break onsets and their survival analysis on the authors' released IFBench accuracies.

:func:`released_onset_analysis` runs :func:`persona_lib.stats.dialogue_onsets` with :data:`CHECKPOINT_RULE` on
the released results and analyses the onsets with the estimators of :mod:`persona_lib.stats._survival`; the
tables come back as an :class:`OnsetAnalysis`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from persona_lib.personas import BASELINE
from persona_lib.released import load_ifbench_results, with_model_metadata
from persona_lib.stats._bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED
from persona_lib.stats._onsets import CHECKPOINT_RULE, BreakRule, dialogue_onsets
from persona_lib.stats._survival import KIND_TERM, hazard_model, kaplan_meier, logrank_test, onset_summary


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
                hazard_model(personas, covariates=f"C(size) + {KIND_TERM}", cluster="model"),
            ],
            ignore_index=True,
        ),
        rule=rule,
    )
