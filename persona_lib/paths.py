"""Where the project's shipped data lives."""

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
