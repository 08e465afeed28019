"""Studies: many models, one protocol, one judge — run on Ray or as a job array, merged, analysed together.

A study (``configs/study-paper.yaml``) runs the protocol once per model under test. Its work is cut into units —
one dialogue of one model (model x condition x kind): the dialogue's rounds, then every benchmark item at its
checkpoints, on one engine, so the long prefix stays in that engine's cache — and the judge's verdicts on them
are a second phase. Workers each write their own store; ``study merge`` unions them into one run folder per model
with the single-run layout; ``study analyse`` compares the models (Tables 5 and 6, per-model curves and bars).

Public API:
    StudyConfig, StudyModel, StudyJudge, load_study_config, resolve_study_config: the typed configuration.
    check_study, check_study_file, check_study_values, is_study_values: the pre-flight of every model's run.
    Study: a study folder (its stores, per-model runs, analysis).
    WorkUnit, study_units, claims, parse_shard, shard_of, select_shard: the units and how they are split.
    run_study -> StudyRun: both phases on Ray (or one shard in this process), then the merge.
    merge_study -> MergeSummary: the stores unioned into per-model run folders, conflicts reported.
    study_status, status_summary: what is done, per unit and per model, from the stores alone.
    analyse_study -> StudyAnalysis: the cross-model tables and figures; size_tables, model_bars, metric_grid.
    analyse_units: the same analysis of any models' unit scores (the paper's chapters run it on the authors' release).
    show_study_provenance / study_provenance_markdown: the models, size codes, judge and protocol of a chapter.
    ReplayBackend, ReplayStore, NOT_STORED: reading stored work back without a model.
    StudyWorker, UnitResult: one engine and one store (inside a Ray actor or a shard).
"""

from persona_lib.study._analysis import (
    CONTRASTS,
    KIND_DIFFERENCE,
    LENGTH_COST,
    PERSONALISATION_COST,
    StudyAnalysis,
    analyse_study,
    analyse_units,
    collect_units,
    metric_grid,
    model_bars,
    size_tables,
)
from persona_lib.study._check import check_study, check_study_file, check_study_values, is_study_values
from persona_lib.study._config import (
    StudyConfig,
    StudyJudge,
    StudyModel,
    load_study_config,
    resolve_study_config,
    study_config_from_dict,
)
from persona_lib.study._folder import PHASES, Study
from persona_lib.study._merge import MergeSummary, merge_study, write_run_tables
from persona_lib.study._notebook import execute_study_notebook
from persona_lib.study._replay import NOT_STORED, ReplayBackend, ReplayStore
from persona_lib.study._report import show_study_provenance, study_provenance_markdown
from persona_lib.study._run import StudyRun, run_study
from persona_lib.study._status import STATUS_COLUMNS, status_summary, study_status
from persona_lib.study._units import (
    WorkUnit,
    claims,
    parse_shard,
    select_shard,
    shard_of,
    study_units,
)
from persona_lib.study._work import StudyWorker, UnitResult

__all__ = [
    "CONTRASTS",
    "KIND_DIFFERENCE",
    "LENGTH_COST",
    "NOT_STORED",
    "PERSONALISATION_COST",
    "PHASES",
    "STATUS_COLUMNS",
    "MergeSummary",
    "ReplayBackend",
    "ReplayStore",
    "Study",
    "StudyAnalysis",
    "StudyConfig",
    "StudyJudge",
    "StudyModel",
    "StudyRun",
    "StudyWorker",
    "WorkUnit",
    "UnitResult",
    "analyse_study",
    "analyse_units",
    "check_study",
    "check_study_file",
    "check_study_values",
    "claims",
    "collect_units",
    "execute_study_notebook",
    "is_study_values",
    "load_study_config",
    "merge_study",
    "metric_grid",
    "model_bars",
    "parse_shard",
    "resolve_study_config",
    "run_study",
    "select_shard",
    "shard_of",
    "show_study_provenance",
    "size_tables",
    "status_summary",
    "study_config_from_dict",
    "study_provenance_markdown",
    "study_status",
    "study_units",
    "write_run_tables",
]
