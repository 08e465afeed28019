"""Recompute the paper's published numbers (Tables 5 and 6) from the authors' results.

Two sources. Without a clone of the authors' repository only ``data/released/ifbench_results.json`` is at hand, so
only the IFBench rows are recomputed and the judge-scored rows are listed with the published values and the
status ``not reproducible`` (:func:`run_reproduction`). With a local clone of github.com/peluz/persistent-personas
every row is recomputed from the judge outputs it holds (:func:`run_authors_reproduction`, via
:mod:`persona_lib.authors_release`).

The regressions follow the study's specification, read from the authors' analysis notebook: per model x persona x
dialogue kind a difference on the 0-100 scale (Table 5: last checkpoint minus the first -- for the dialogue ratings
the last turn minus the first; Table 6: persona minus the model's baseline at t = 0), both dialogue kinds pooled in
one model, ``diff ~ size`` with size coded 1 (small) / 2 (large) / 3 (Gemini) as a number, a random intercept per
persona x family, REML, optimisers Powell then L-BFGS. Where the baseline was judged once per persona's question
set (the general-instruction win rate), the study paired every persona with every one of those baseline rows; the
reproduction does the same and reports the one-baseline-per-model alternative beside it (:func:`table_variants`).
"""

from persona_lib.reproduce._clone import (
    AuthorsReproduction,
    format_authors_summary,
    run_authors_reproduction,
)
from persona_lib.reproduce._tables import (
    PUBLISHED,
    TABLE_COLUMNS,
    TABLE_DIRECTIONS,
    TABLE_METRICS,
    TOLERANCE,
    VARIANT_COLUMNS,
    Reproduction,
    comparison_table,
    format_comparison,
    ifbench_model_curves,
    model_curves,
    reproduce_tables,
    run_reproduction,
    table_variants,
    tables_from_units,
)

__all__ = [
    "AuthorsReproduction",
    "PUBLISHED",
    "Reproduction",
    "TABLE_COLUMNS",
    "TABLE_DIRECTIONS",
    "TABLE_METRICS",
    "TOLERANCE",
    "VARIANT_COLUMNS",
    "comparison_table",
    "format_authors_summary",
    "format_comparison",
    "ifbench_model_curves",
    "model_curves",
    "reproduce_tables",
    "run_authors_reproduction",
    "run_reproduction",
    "table_variants",
    "tables_from_units",
]
