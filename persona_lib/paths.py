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
