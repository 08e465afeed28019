"""A run folder and everything in it, behind one object.

Every stage reads and writes a run's files through :class:`Run`, so no notebook spells a file name and a run folder
always has the same layout:

===========================  ==================================================================================
``config.yaml``              the resolved configuration the run was made with
``run.json``                 library and Python versions, machine, stage timings
``responses.sqlite``         the resumable response store (every model and judge call)
``dialogues.jsonl``          every dialogue turn (:func:`persona_lib.generation.generate_dialogues`)
``benchmark_answers.jsonl``  every benchmark answer (:func:`persona_lib.generation.generate_benchmarks`)
``scores.csv``               one row per scored item (:func:`persona_lib.scoring.score_run`)
``units.csv``                one 0–100 score per unit and metric (:func:`persona_lib.scoring.protocol_units`)
``tables/<name>.csv``        analysis tables, written by name (curves, model fits, similarity, judge validation...)
``figures/<name>.{png,svg,csv}``  every figure and the data it plots
``notebooks/``               the executed notebooks
===========================  ==================================================================================
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from persona_lib import __version__
from persona_lib.config import ConfigError, RunConfig
from persona_lib.generation import ANSWER_COLUMNS
from persona_lib.personas import Persona
from persona_lib.resolve import load_config, resolve_config, resolve_run_config, run_personas
from persona_lib.store import ResponseStore


class Run:
    """One run folder: its configuration, its store and its tables.

    Args:
        folder: The run folder (created if needed).
        config: The run's resolved configuration.
    """

    CONFIG = "config.yaml"
    INFO = "run.json"
    DIALOGUES = "dialogues.jsonl"
    ANSWERS = "benchmark_answers.jsonl"
    SCORES = "scores.csv"
    UNITS = "units.csv"
    TABLES = "tables"
    SIMILARITY = "baseline_similarity"
    JUDGE_VALIDATION = "judge_validation"

    def __init__(self, folder: str | Path, config: RunConfig) -> None:
        self.folder = Path(folder)
        self.config = resolve_run_config(config)
        self.folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def create(cls, config: RunConfig, folder: str | Path | None = None) -> Run:
        """Start (or continue) the run of ``config`` in ``folder`` (default ``config.output_dir``), writing
        ``config.yaml`` (the resolved configuration)."""
        run = cls(folder if folder is not None else config.output_dir, config)
        config = run.config
        (run.folder / cls.CONFIG).write_text(config.to_yaml())
        return run

    @classmethod
    def open(cls, folder: str | Path) -> Run:
        """An existing run folder, with the configuration it was made with.

        Raises:
            ConfigError: when the folder has no ``config.yaml`` (it is not a run folder).
        """
        folder = Path(folder)
        if not (folder / cls.CONFIG).is_file():
            raise ConfigError(f"{folder} is not a run folder (no {cls.CONFIG}); create it with `persona-eval run`")
        return cls(folder, load_config(folder / cls.CONFIG))

    @classmethod
    def for_notebook(cls, config: str | Path | Mapping[str, Any] | RunConfig) -> Run:
        """The run a notebook's ``config`` parameter names: its ``output_dir`` folder, with that configuration
        (written to ``config.yaml``).

        Args:
            config: The notebook's parameter: a resolved configuration (mapping) or a YAML path.
        """
        return cls.create(resolve_config(config))

    def path(self, name: str) -> Path:
        """The path of a file of the run (``name`` relative to the folder)."""
        return self.folder / name

    @cached_property
    def store(self) -> ResponseStore:
        """The run's response store (opened once)."""
        return ResponseStore.for_output_dir(self.folder)

    def personas(self) -> list[Persona]:
        """The run's personas (study characters and custom ones), in configuration order."""
        return run_personas(self.config)

    # --------------------------------------------------------------------------------- the pipeline's tables
    def write_dialogues(self, table: pd.DataFrame) -> Path:
        """Save the dialogue turns."""
        return self._write_jsonl(self.DIALOGUES, table)

    def dialogues(self) -> pd.DataFrame:
        """The dialogue turns written by the generation stage."""
        return self._read_jsonl(self.DIALOGUES, "run the generate stage first")

    def write_answers(self, table: pd.DataFrame) -> Path:
        """Save the benchmark answers."""
        return self._write_jsonl(self.ANSWERS, table)

    def answers(self) -> pd.DataFrame:
        """The benchmark answers written by the generation stage (``item_id`` as text; every column of
        :data:`persona_lib.generation.ANSWER_COLUMNS`, also for a run that asks no benchmark item)."""
        table = self._read_jsonl(self.ANSWERS, "run the generate stage first", dtype={"item_id": str})
        return table if len(table.columns) else pd.DataFrame(columns=ANSWER_COLUMNS)

    def write_scores(self, table: pd.DataFrame) -> Path:
        """Save the scores table."""
        return write_csv(self.path(self.SCORES), table)

    def scores(self) -> pd.DataFrame:
        """The scores table written by the score stage (``item_id`` as text)."""
        return self._read_csv(self.SCORES, "run the score stage first", dtype={"item_id": str})

    def write_units(self, table: pd.DataFrame) -> Path:
        """Save the unit scores."""
        return write_csv(self.path(self.UNITS), table)

    def units(self) -> pd.DataFrame:
        """The unit scores written by the score stage."""
        return self._read_csv(self.UNITS, "run the score stage first")

    def write_similarity(self, table: pd.DataFrame) -> Path:
        """Save the baseline-similarity unit scores (score stage; read by the analysis)."""
        return self.write_table(self.SIMILARITY, table)

    def similarity(self) -> pd.DataFrame:
        """The baseline-similarity unit scores written by the score stage."""
        return self.table(self.SIMILARITY)

    def write_judge_validation(self, table: pd.DataFrame) -> Path:
        """Save the judge-vs-people agreement table (validate stage; read by every chapter's provenance)."""
        return self.write_table(self.JUDGE_VALIDATION, table)

    def judge_validation(self) -> pd.DataFrame | None:
        """The validate stage's agreement table, ``None`` before that stage has run."""
        path = self._table_path(self.JUDGE_VALIDATION)
        return pd.read_csv(path) if path.is_file() else None

    def write_table(self, name: str, table: pd.DataFrame) -> Path:
        """Save an analysis table as ``tables/<name>.csv``.

        Args:
            name: The table's name, without folder or suffix (e.g. ``checkpoint_curves``).
            table: The table.
        """
        return write_csv(self._table_path(name), table)

    def table(self, name: str) -> pd.DataFrame:
        """An analysis table written with :meth:`write_table`."""
        return self._read_csv(self._table_path(name).relative_to(self.folder).as_posix(), "run its stage first")

    def figure(self, name: str) -> Path:
        """The path stem of a figure (``figures/<name>``; :func:`persona_lib.plots.save_figure` adds suffixes)."""
        return self.folder / "figures" / name

    @property
    def notebooks_dir(self) -> Path:
        """Where the executed notebooks go."""
        return self.folder / "notebooks"

    # --------------------------------------------------------------------------------------------- provenance
    def info(self) -> dict[str, Any]:
        """The contents of ``run.json`` (empty sections when nothing was recorded yet)."""
        path = self.path(self.INFO)
        return json.loads(path.read_text()) if path.is_file() else {"stage_seconds": {}}

    def record_stages(self, seconds: Mapping[str, float]) -> None:
        """Add stage timings to ``run.json`` with the library version, Python, platform, the machine (CPU model,
        cores, native bfloat16) and the finishing time."""
        from persona_lib.backends import machine_summary

        info = self.info()
        info.setdefault("stage_seconds", {}).update(seconds)
        info.update(
            persona_lib_version=__version__,
            python=sys.version.split()[0],
            platform=platform.platform(),
            machine=machine_summary(),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        self.path(self.INFO).write_text(json.dumps(info, indent=2))

    # ------------------------------------------------------------------------------------------------ helpers
    def _table_path(self, name: str) -> Path:
        return self.folder / self.TABLES / table_file_name(name)

    def _write_jsonl(self, name: str, table: pd.DataFrame) -> Path:
        path = self.path(name)
        table.to_json(path, orient="records", lines=True)
        return path

    def _read_jsonl(self, name: str, hint: str, **kwargs: Any) -> pd.DataFrame:
        return pd.read_json(self._existing(name, hint), orient="records", lines=True, **kwargs)

    def _read_csv(self, name: str, hint: str, **kwargs: Any) -> pd.DataFrame:
        return pd.read_csv(self._existing(name, hint), **kwargs)

    def _existing(self, name: str, hint: str) -> Path:
        path = self.path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: {hint} (persona-eval run --config ... --stages ...)")
        return path


def table_file_name(name: str) -> str:
    """``<name>.csv`` for a table name; the folder that owns the table decides where it goes.

    Raises:
        ValueError: when ``name`` already has a suffix or a folder (tables are named, not spelled as files).
    """
    if not name or "/" in name or "\\" in name or "." in name:
        raise ValueError(f"a table is named without folder or suffix (e.g. 'checkpoint_curves'), got {name!r}")
    return f"{name}.csv"


def write_csv(path: Path, table: pd.DataFrame) -> Path:
    """Write ``table`` to ``path`` as CSV without the index, creating the folder; return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return path
