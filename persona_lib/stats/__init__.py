"""Statistics: unit-level aggregation, bootstrap confidence intervals and mixed-effects models.

Every function takes and returns tidy pandas DataFrames. The unit of analysis is the mean score of one model x
condition x dialogue kind x checkpoint x metric (:func:`aggregate`); bootstrap intervals resample model x persona
units (the ``unit=`` argument says so explicitly) with ``numpy.random.default_rng(seed)``.
"""

from persona_lib.stats._aggregate import aggregate, split_arms
from persona_lib.stats._bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    PER_MODEL_RESAMPLES,
    bootstrap_ci,
    checkpoint_curves,
    checkpoint_difference,
    kind_difference,
    persona_baseline_difference,
    resample_indices,
    resampled_means,
)
from persona_lib.stats._length import attach_prefix_tokens, length_control_curves
from persona_lib.stats._mixed import (
    OPTIMISERS,
    fit_mixedlm,
    length_cost,
    length_cost_vs_size,
    length_slope,
    persona_effect,
    personalisation_cost,
    personalisation_cost_vs_size,
)

__all__ = [
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "OPTIMISERS",
    "PER_MODEL_RESAMPLES",
    "aggregate",
    "attach_prefix_tokens",
    "bootstrap_ci",
    "checkpoint_curves",
    "checkpoint_difference",
    "fit_mixedlm",
    "kind_difference",
    "length_control_curves",
    "length_cost",
    "length_cost_vs_size",
    "length_slope",
    "persona_baseline_difference",
    "persona_effect",
    "personalisation_cost",
    "personalisation_cost_vs_size",
    "resample_indices",
    "resampled_means",
    "split_arms",
]
