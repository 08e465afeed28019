"""Where the project's shipped data and its cache live."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The ``data/`` folder of the project (override with ``PERSONA_LIB_DATA``)."""
    return Path(os.environ.get("PERSONA_LIB_DATA", PROJECT_ROOT / "data"))


def released_dir() -> Path:
    """The authors' released results and human-validation samples, kept apart in ``data/released``."""
    return data_dir() / "released"


def cache_dir() -> Path:
    """Root of the project's cache (``PERSONA_LIB_CACHE``, default ``<project>/.cache``): the converted bundled model,
    NLTK data, the authors' release."""
    return Path(os.environ.get("PERSONA_LIB_CACHE", PROJECT_ROOT / ".cache"))


def module_search_path() -> list[str]:
    """Where a run's own dataset and backend modules (``dataset_modules``, ``backend_modules``) are found: the entries
    of ``PYTHONPATH``, then the folder the command runs from, all absolute (a relative entry starts at that folder,
    the rule for every relative path of a run). ``persona-eval`` and the notebooks a run executes search here."""
    here = Path.cwd()
    entries = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    return list(dict.fromkeys([*(str((here / entry).absolute()) for entry in entries), str(here)]))
