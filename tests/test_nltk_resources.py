"""NLTK data for the IFBench checkers: installing the optional resources with NLTK's own downloader, offline and not.

No test reaches the network: the offline cases use an index address that cannot resolve (``.invalid``) or a
timeout shorter than the downloader's start-up, and the installing case serves a local NLTK data index
(``file://``, the format of NLTK's own index) holding a tiny stop-word list and a tiny, valid perceptron tagger.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import nltk
import pytest
from nltk.corpus.reader import WordListCorpusReader
from nltk.corpus.util import LazyCorpusLoader

from persona_lib.datasets import _nltk_offline
from persona_lib.datasets._nltk_offline import OPTIONAL_RESOURCES, install_optional_nltk_resources
from persona_lib.paths import data_dir
from persona_lib.scoring import missing_nltk_resources, score_ifbench_response

UNREACHABLE_INDEX = "http://nltk-index.invalid/index.xml"  # RFC 2606: a .invalid name never resolves


@pytest.fixture(scope="module")
def test_set() -> dict[str, dict]:
    lines = (data_dir() / "ifbench" / "IFBench_test.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["key"]: row for row in map(json.loads, lines)}


@pytest.fixture
def nltk_sandbox(tmp_path, monkeypatch) -> Path:
    """An empty project NLTK folder as the only NLTK data folder, with NLTK's caches of loaded data reset."""
    monkeypatch.setenv("PERSONA_LIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(nltk.data, "path", [])
    monkeypatch.setattr(nltk.corpus, "stopwords", LazyCorpusLoader("stopwords", WordListCorpusReader, r"english"))
    _nltk_offline._missing_resources.cache_clear()
    nltk.tag._get_tagger.cache_clear()
    yield tmp_path / "cache" / "nltk_data"
    _nltk_offline._missing_resources.cache_clear()
    nltk.tag._get_tagger.cache_clear()


def _package(package_id: str, files: dict[str, bytes]) -> tuple[bytes, int]:
    """A zipped NLTK package (a folder named after it) and the unzipped size of its files."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr(f"{package_id}/", "")
        for name, content in files.items():
            package.writestr(f"{package_id}/{name}", content)
    return archive.getvalue(), sum(map(len, files.values()))


def _serve(folder: Path, packages: dict[str, tuple[str, dict[str, bytes]]]) -> str:
    """Write an NLTK data index with ``packages`` (id -> (subdir, files)) into ``folder``; return its URL."""
    folder.mkdir(parents=True)
    entries = []
    for package_id, (subdir, files) in packages.items():
        archive, unzipped_size = _package(package_id, files)
        path = folder / f"{package_id}.zip"
        path.write_bytes(archive)
        entries.append(
            f'<package id="{package_id}" subdir="{subdir}" url="{path.as_uri()}" size="{len(archive)}" '
            f'unzipped_size="{unzipped_size}" checksum="{hashlib.md5(archive).hexdigest()}" '
            f'sha256_checksum="{hashlib.sha256(archive).hexdigest()}" unzip="1"/>'
        )
    index = folder / "index.xml"
    index.write_text(
        f'<?xml version="1.0"?>\n<nltk_data><packages>{"".join(entries)}</packages><collections/></nltk_data>\n',
        encoding="utf-8",
    )
    return index.as_uri()


def _tiny_tagger() -> dict[str, bytes]:
    """The three JSON files of a valid averaged-perceptron tagger that knows two words ("Imagine" is a verb)."""
    weights, tagdict, classes = {}, {"Imagine": "VB", "Empires": "NNS"}, ["NN", "NNS", "VB"]
    name = "averaged_perceptron_tagger_eng"
    return {
        f"{name}.{part}.json": json.dumps(value).encode()
        for part, value in (("weights", weights), ("tagdict", tagdict), ("classes", classes))
    }


def test_offline_install_reports_every_resource_missing_quickly(nltk_sandbox):
    start = time.monotonic()
    report = install_optional_nltk_resources(index_url=UNREACHABLE_INDEX, timeout=20)
    elapsed = time.monotonic() - start
    assert elapsed < 20
    assert report.data_dir == nltk_sandbox and report.present == () == report.installed
    assert set(report.missing) == set(OPTIONAL_RESOURCES)
    reason = report.missing["corpora/stopwords"]
    assert "Error loading stopwords" in reason and "nltk-index.invalid" in reason
    assert f"python -m nltk.downloader -d {nltk_sandbox} stopwords" in reason and "make assets" in reason
    assert "MISSING" in report.summary() and "unscorable" in report.summary()
    assert set(missing_nltk_resources()) == set(OPTIONAL_RESOURCES)


def test_a_download_that_does_not_finish_in_time_is_ended_and_reported(nltk_sandbox):
    report = install_optional_nltk_resources(index_url=UNREACHABLE_INDEX, timeout=0.01)
    assert set(report.missing) == set(OPTIONAL_RESOURCES)
    assert all("did not finish within 0.01 s" in reason for reason in report.missing.values())


def test_installed_resources_are_found_and_the_affected_prompts_scored(nltk_sandbox, tmp_path, monkeypatch, test_set):
    server = tmp_path / "server"
    monkeypatch.setenv("NLTK_DATA", str(server))  # NLTK reads file:// indexes only inside its data folders
    index_url = _serve(
        server,
        {
            "stopwords": ("corpora", {"english": b"the\na\nof\nis\n"}),
            "averaged_perceptron_tagger_eng": ("taggers", _tiny_tagger()),
        },
    )
    report = install_optional_nltk_resources(index_url=index_url)
    assert report.installed == tuple(OPTIONAL_RESOURCES) and not report.missing, report.summary()
    assert (nltk_sandbox / "corpora" / "stopwords" / "english").is_file()
    assert missing_nltk_resources() == {}
    # key 171 (ratio:stop_words): stop words at most 47% of the words; key 257 (words:start_verb)
    assert score_ifbench_response(test_set["171"], "Graph weights matter: the sum").follow_instruction_list_strict == [
        True
    ]  # 1 of 5 words
    assert (
        score_ifbench_response(test_set["171"], "The cat is a friend of mine").follow_all_instructions_strict is False
    )  # 4 of 7 words
    assert score_ifbench_response(test_set["257"], "Imagine an empire.").follow_all_instructions_strict is True
    assert score_ifbench_response(test_set["257"], "Empires suffer.").follow_all_instructions_strict is False
    again = install_optional_nltk_resources(index_url=UNREACHABLE_INDEX)
    assert again.present == tuple(OPTIONAL_RESOURCES) and not again.installed and not again.missing
