"""Read a local clone of the authors' repository (github.com/peluz/persistent-personas, MIT) into unit scores.

The repository holds the full release behind the paper's numbers: every judge output (``metrics/``), the
authors' derived tables (``results/``) and every model answer (``generations/``). This package

* parses its file names (:func:`parse_release_path`; the grammar is documented in ``_names``),
* checks that a clone is complete before reading it (:func:`check_clone`),
* parses every judge verdict with this project's parsers plus the study's fallbacks, counting each fallback and
  each unreadable verdict (:func:`judged_items`, :func:`parse_report`),
* turns verdicts into unit-level scores for every metric of the study (:func:`unit_scores`),
* measures judge-vs-judge agreement (:func:`judge_agreement`) and compares our parse with the authors' own
  extraction (:func:`bfi_ratings_crosscheck`),
* re-scores the released IFBench answers (:func:`rescore_ifbench`, :func:`ifbench_variant_summary`).

:func:`persona_lib.reproduce.run_authors_reproduction` ties these to Tables 5 and 6.
"""

from persona_lib.authors_release._checks import (
    AGREEMENT_COLUMNS,
    bfi_ratings_crosscheck,
    items_from_bfi_ratings,
    judge_agreement,
    load_bfi_ratings,
)
from persona_lib.authors_release._clone import (
    BFI_RATINGS,
    IFBENCH_RESULTS,
    PRIMARY_JUDGE,
    SECOND_JUDGE,
    CloneError,
    check_clone,
    generation_files,
    metric_files,
)
from persona_lib.authors_release._ifbench import RESCORE_COLUMNS, ifbench_variant_summary, rescore_ifbench
from persona_lib.authors_release._names import (
    DIALOGUE_FOLDERS,
    FOLDERS,
    PAIRWISE_FOLDERS,
    ReleaseFile,
    ReleaseNameError,
    parse_release_path,
)
from persona_lib.authors_release._units import (
    DEFAULT_LABEL_SOURCE,
    UNIT_TABLE_COLUMNS,
    ifbench_units,
    unit_scores,
)
from persona_lib.authors_release._verdicts import (
    ITEM_COLUMNS,
    ItemLabels,
    item_seed,
    judged_items,
    parse_report,
    parse_verdict,
    read_judge_outputs,
    study_item_labels,
)

__all__ = [
    "AGREEMENT_COLUMNS",
    "BFI_RATINGS",
    "DEFAULT_LABEL_SOURCE",
    "DIALOGUE_FOLDERS",
    "FOLDERS",
    "IFBENCH_RESULTS",
    "ITEM_COLUMNS",
    "PAIRWISE_FOLDERS",
    "PRIMARY_JUDGE",
    "RESCORE_COLUMNS",
    "SECOND_JUDGE",
    "UNIT_TABLE_COLUMNS",
    "CloneError",
    "ItemLabels",
    "ReleaseFile",
    "ReleaseNameError",
    "bfi_ratings_crosscheck",
    "check_clone",
    "generation_files",
    "ifbench_units",
    "ifbench_variant_summary",
    "item_seed",
    "items_from_bfi_ratings",
    "judge_agreement",
    "judged_items",
    "load_bfi_ratings",
    "metric_files",
    "parse_release_path",
    "parse_report",
    "parse_verdict",
    "read_judge_outputs",
    "rescore_ifbench",
    "study_item_labels",
    "unit_scores",
]
