"""Statistics: unit-level aggregation, bootstrap intervals, mixed-effects models, break onsets, survival, stability.

Every function takes and returns tidy pandas DataFrames. The unit of analysis is the mean score of one model x
condition x dialogue kind x checkpoint x metric (:func:`aggregate`); bootstrap intervals resample model x persona
units (the ``unit=`` argument says so explicitly) with ``numpy.random.default_rng(seed)``.
"""

from persona_lib.stats._aggregate import aggregate, collapse_reference_personas, split_arms
from persona_lib.stats._agreement import agreement, cohen_kappa
from persona_lib.stats._bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    PER_MODEL_RESAMPLES,
    bootstrap_ci,
    checkpoint_curves,
    checkpoint_difference,
    difference_curves,
    kind_difference,
    persona_baseline_difference,
    resample_indices,
    resampled_means,
)
from persona_lib.stats._length import attach_prefix_tokens, length_control_curves
from persona_lib.stats._mixed import (
    MIN_GROUPS,
    OPTIMISERS,
    fit_mixedlm,
    fit_verdict,
    length_cost,
    length_cost_vs_size,
    length_slope,
    persona_effect,
    personalisation_cost,
    personalisation_cost_vs_size,
)
from persona_lib.stats._onsets import CHECKPOINT_RULE, TURN_RULE, BreakRule, dialogue_onsets
from persona_lib.stats._released_onsets import OnsetAnalysis, released_onset_analysis
from persona_lib.stats._stability import profile_stability
from persona_lib.stats._survival import hazard_model, kaplan_meier, logrank_test, onset_summary

__all__ = [
    "agreement",
    "cohen_kappa",
    "BreakRule",
    "CHECKPOINT_RULE",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "MIN_GROUPS",
    "OPTIMISERS",
    "OnsetAnalysis",
    "PER_MODEL_RESAMPLES",
    "TURN_RULE",
    "aggregate",
    "attach_prefix_tokens",
    "bootstrap_ci",
    "checkpoint_curves",
    "checkpoint_difference",
    "collapse_reference_personas",
    "dialogue_onsets",
    "difference_curves",
    "fit_mixedlm",
    "fit_verdict",
    "hazard_model",
    "kaplan_meier",
    "kind_difference",
    "length_control_curves",
    "length_cost",
    "length_cost_vs_size",
    "length_slope",
    "logrank_test",
    "onset_summary",
    "persona_baseline_difference",
    "persona_effect",
    "personalisation_cost",
    "personalisation_cost_vs_size",
    "profile_stability",
    "released_onset_analysis",
    "resample_indices",
    "resampled_means",
    "split_arms",
]
