"""The baseline-similarity metric: an analysis of the answers, not a dataset; its scorer is
:func:`persona_lib.scoring.baseline_similarity`.

Registered here, with the datasets' metrics, so figures and tables find its label and direction wherever they are
drawn.
"""

from persona_lib.datasets._registry import register_metric
from persona_lib.datasets._spec import MetricSpec

BASELINE_SIMILARITY = register_metric(
    MetricSpec(
        "baseline_similarity",
        "Similarity to the baseline's answer",
        "cosine \u00d7 100",
        None,
        "how close a persona answer is to the no-persona baseline's answer to the same item (higher = more "
        "baseline-like, which is neither good nor bad)",
    )
)
