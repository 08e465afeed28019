"""Read a local clone of the authors' repository (github.com/peluz/persistent-personas, MIT) into unit scores.

The repository holds the full release behind the paper's numbers: every judge output (``metrics/``), the
authors' derived tables (``results/``) and every model answer (``generations/``). This package

* parses its file names (:func:`parse_release_path`, :func:`parse_results_path`; the grammars are documented in
  ``_names`` and ``_results_names``),
* fetches the release: a sparse, partial clone at the pinned commit into the cache (:func:`fetch_release`),
* checks that a clone is complete before reading it (:func:`check_clone`) and lists the files the tables read that
  it lacks (:func:`needed_files`, :func:`missing_needed`),
* reads its verdicts once into a compact digest cached by commit (:func:`load_digest`) and checks each file's
  row count against the items this project asks (:func:`row_count_report`),
* parses every judge verdict as the study read it -- the study's reader and fallbacks -- counting each fallback
  and each unreadable verdict (:func:`judged_items`, :func:`parse_report`), and lists where this project's strict
  reader would read otherwise (:func:`reader_differences`),
* replays the study's random letters for unreadable pairwise verdicts in a given file order
  (:func:`replay_study_fallbacks`) and measures how far the win rates move with them (:func:`fallback_spread`),
* turns verdicts into unit-level scores for every metric of the study (:func:`unit_scores`), and dialogue
  fidelity per replicate, original and shuffled apart (:func:`fidelity_replicates`),
* measures judge-vs-judge agreement (:func:`judge_agreement`) and compares our parse with the authors' own
  extraction (:func:`bfi_ratings_crosscheck`),
* re-scores the released IFBench answers (:func:`rescore_ifbench`, :func:`ifbench_variant_summary`),
* re-judges a sample of the released answers with this project's judge prompts and compares the verdicts
  (:func:`rejudge_release`, :func:`sample_release_items`, :func:`rejudge_summary`).

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
    COVERAGE_COLUMNS,
    IFBENCH_ANSWERS,
    IFBENCH_RESULTS,
    PRIMARY_JUDGE,
    SECOND_JUDGE,
    CloneError,
    check_clone,
    clone_coverage,
    format_missing,
    generation_files,
    metric_files,
)
from persona_lib.authors_release._digest import DIGEST_VERSION, ReleaseDigest, load_digest, release_fingerprint
from persona_lib.authors_release._fallbacks import (
    SPREAD_COLUMNS,
    STUDY_FALLBACK_GENERATORS,
    STUDY_FALLBACK_SEED,
    fallback_spread,
    replay_study_fallbacks,
    study_fallback_letters,
)
from persona_lib.authors_release._fetch import (
    AUTHORS_URL,
    PINNED_COMMIT,
    FetchError,
    describe_existing,
    fetch_release,
    release_dir,
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
from persona_lib.authors_release._needed import missing_needed, needed_files
from persona_lib.authors_release._rejudge import (
    REJUDGE_ITEM_COLUMNS,
    REJUDGE_SUMMARY_COLUMNS,
    RejudgeResult,
    rejudge_release,
    rejudge_summary,
)
from persona_lib.authors_release._rejudge_sample import (
    NOT_REJUDGED,
    REJUDGED_DATASETS,
    SAMPLE_COLUMNS,
    generation_path,
    sample_release_items,
)
from persona_lib.authors_release._results_names import (
    PREMISE_DATASETS,
    RESULTS_FILES,
    ResultsFile,
    parse_results_path,
)
from persona_lib.authors_release._row_counts import ROW_COUNT_COLUMNS, SUBSTITUTE_ITEM_SETS, row_count_report
from persona_lib.authors_release._units import (
    DEFAULT_LABEL_SOURCE,
    UNIT_TABLE_COLUMNS,
    fidelity_replicates,
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
    reader_differences,
    study_item_labels,
)

__all__ = [
    "AGREEMENT_COLUMNS",
    "ROW_COUNT_COLUMNS",
    "SUBSTITUTE_ITEM_SETS",
    "row_count_report",
    "missing_needed",
    "needed_files",
    "PREMISE_DATASETS",
    "RESULTS_FILES",
    "ResultsFile",
    "parse_results_path",
    "COVERAGE_COLUMNS",
    "IFBENCH_ANSWERS",
    "clone_coverage",
    "format_missing",
    "DIGEST_VERSION",
    "ReleaseDigest",
    "load_digest",
    "release_fingerprint",
    "AUTHORS_URL",
    "PINNED_COMMIT",
    "FetchError",
    "describe_existing",
    "fetch_release",
    "release_dir",
    "BFI_RATINGS",
    "DEFAULT_LABEL_SOURCE",
    "DIALOGUE_FOLDERS",
    "FOLDERS",
    "IFBENCH_RESULTS",
    "ITEM_COLUMNS",
    "NOT_REJUDGED",
    "PAIRWISE_FOLDERS",
    "PRIMARY_JUDGE",
    "REJUDGED_DATASETS",
    "REJUDGE_ITEM_COLUMNS",
    "REJUDGE_SUMMARY_COLUMNS",
    "RESCORE_COLUMNS",
    "SAMPLE_COLUMNS",
    "SECOND_JUDGE",
    "SPREAD_COLUMNS",
    "STUDY_FALLBACK_GENERATORS",
    "STUDY_FALLBACK_SEED",
    "UNIT_TABLE_COLUMNS",
    "CloneError",
    "ItemLabels",
    "ReleaseFile",
    "RejudgeResult",
    "ReleaseNameError",
    "bfi_ratings_crosscheck",
    "check_clone",
    "fallback_spread",
    "fidelity_replicates",
    "generation_files",
    "generation_path",
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
    "reader_differences",
    "replay_study_fallbacks",
    "rejudge_release",
    "rejudge_summary",
    "rescore_ifbench",
    "sample_release_items",
    "study_fallback_letters",
    "study_item_labels",
    "unit_scores",
]
