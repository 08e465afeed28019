"""A study folder and everything in it, behind one object.

=====================================  ============================================================================
``study.yaml``                         the resolved study configuration (protocol inline)
``stores/generate-<worker>.sqlite``    answers of the models under test, one store per worker or shard
``stores/judge-<worker>.sqlite``       the judge's verdicts, one store per judge worker or shard
``runs/<model>/``                      one run folder per model (:class:`persona_lib.run.Run` layout), written by
                                       ``study merge``: every single-run tool works on it
``merge_report.csv``                   what each merge took from each store; ``merge_conflicts.csv`` the keys two
                                       stores answered differently
``analysis/``                          the cross-model tables (``tables/``) and figures (``figures/``)
``notebooks/``                         the executed study notebook
=====================================  ============================================================================

Every store has a single writer (one worker, or one shard of a job array), so no SQLite file is ever written by two
processes on two machines.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from persona_lib.config import ConfigError
from persona_lib.run import Run, table_file_name
from persona_lib.study._config import (
    StudyConfig,
    load_study_config,
    resolve_study_config,
)

PHASES: tuple[str, ...] = ("generate", "judge")


class Study:
    """One study folder: its configuration, its workers' stores, its per-model runs and its analysis.

    Args:
        folder: The study folder (created if needed).
        config: The study's resolved configuration.
    """

    CONFIG = "study.yaml"
    MERGE_REPORT = "merge_report.csv"
    MERGE_CONFLICTS = "merge_conflicts.csv"

    def __init__(self, folder: str | Path, config: StudyConfig) -> None:
        self.folder = Path(folder)
        self.config = config
        self.folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def create(cls, config: StudyConfig, folder: str | Path | None = None) -> Study:
        """Start (or continue) the study in ``folder`` (default: the configuration's), writing ``study.yaml``."""
        folder = Path(folder if folder is not None else config.folder)
        config = config.model_copy(update={"output_dir": str(folder)})
        study = cls(folder, config)
        path, text = study.folder / cls.CONFIG, config.to_yaml()
        if not path.is_file() or path.read_text() != text:
            # Written whole, then renamed: the tasks of a job array start together and read it back.
            partial = path.with_name(f".{cls.CONFIG}.{os.getpid()}")
            partial.write_text(text)
            os.replace(partial, path)
        return study

    @classmethod
    def open(cls, folder: str | Path) -> Study:
        """An existing study folder, with the configuration it was made with.

        Raises:
            ConfigError: when the folder has no ``study.yaml``.
        """
        folder = Path(folder)
        if not (folder / cls.CONFIG).is_file():
            raise ConfigError(
                f"{folder} is not a study folder (no {cls.CONFIG}); start it with "
                "`persona-eval study run --config configs/study-paper.yaml --out FOLDER`"
            )
        return cls(folder, load_study_config(folder / cls.CONFIG))

    @classmethod
    def for_notebook(cls, config: str | Path | Mapping[str, Any] | StudyConfig) -> Study:
        """The study a notebook's ``config`` parameter names (a study YAML path or mapping): its folder."""
        resolved = resolve_study_config(config)
        return cls(resolved.folder, resolved)

    # --------------------------------------------------------------------------------------------- the stores
    @property
    def stores_dir(self) -> Path:
        """Where the workers' stores are."""
        return self.folder / "stores"

    def store_path(self, phase: str, worker: str) -> Path:
        """The store of one worker (or shard) of a phase (``generate`` or ``judge``)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; the phases are {PHASES}")
        return self.stores_dir / f"{phase}-{worker}.sqlite"

    def store_paths(self, phase: str) -> list[Path]:
        """Every store of a phase, sorted by name (the order merges follow)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; the phases are {PHASES}")
        return sorted(self.stores_dir.glob(f"{phase}-*.sqlite"))

    # ------------------------------------------------------------------------------------------ per-model runs
    def run_folder(self, model: str) -> Path:
        """The run folder of one model."""
        self.config.entry(model)
        return self.folder / "runs" / model

    def run(self, model: str) -> Run:
        """The run of one model (its folder and run configuration; ``config.yaml`` is written by ``study merge``)."""
        folder = self.run_folder(model)
        return Run(folder, self.config.run_config(model, folder))

    # --------------------------------------------------------------------------------------------- analysis
    @property
    def analysis_dir(self) -> Path:
        """Where the cross-model tables and figures go."""
        return self.folder / "analysis"

    def table(self, name: str) -> pd.DataFrame:
        """A cross-model table the analysis wrote: ``analysis/tables/<name>.csv``
        (:func:`persona_lib.study.analyse_study`)."""
        path = self.analysis_dir / "tables" / table_file_name(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: run `persona-eval study analyse --study {self.folder}`")
        return pd.read_csv(path)

    def figure(self, name: str) -> Path:
        """The path stem of a figure (``analysis/figures/<name>``)."""
        return self.analysis_dir / "figures" / name

    @property
    def notebooks_dir(self) -> Path:
        """Where the executed study notebook goes."""
        return self.folder / "notebooks"
