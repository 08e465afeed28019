"""Shared helpers for reading data files into validated, typed records.

Every loader in ``persona_lib`` reads its file through these helpers, so that any malformed input fails in one
way: a :class:`DataFileError` whose message names the file, the record (line number, index or key), the field,
what was expected and what was found. Nothing downstream ever meets a ``KeyError`` from a bad row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml


class DataFileError(ValueError):
    """A data file that cannot be used as it is.

    Attributes:
        path: The offending file.
        where: The record inside it (``"line 12"``, ``"record 3"``, ``"key 'Gaston'"``), or ``None`` for the
            whole file.
        field: The offending field, or ``None`` when the record as a whole is bad.
        problem: What is wrong, without the location.
    """

    def __init__(self, path: str | Path, problem: str, *, where: str | None = None, field: str | None = None):
        self.path = Path(path)
        self.where = where
        self.field = field
        self.problem = problem
        location = str(self.path)
        if where:
            location += f", {where}"
        if field:
            location += f", field '{field}'"
        super().__init__(f"{location}: {problem}")


class MissingDataFileError(DataFileError, FileNotFoundError):
    """A data file that does not exist (both a :class:`DataFileError` and a :class:`FileNotFoundError`)."""


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


class Record:
    """One parsed record (a JSONL line, a CSV row, a JSON object) with typed, validating field accessors.

    Args:
        data: The parsed record.
        path: The file it came from.
        where: Its position in the file, e.g. ``"line 12"``.
        line: Its (first) line number, for line-oriented files.
    """

    def __init__(self, data: Any, path: str | Path, where: str, line: int | None = None):
        self.path = Path(path)
        self.where = where
        self.line = line
        if not isinstance(data, Mapping):
            raise DataFileError(path, f"expected an object with named fields, got {_describe(data)}", where=where)
        self.data: Mapping[str, Any] = data

    def error(self, field: str | None, problem: str) -> DataFileError:
        """A :class:`DataFileError` located at this record and ``field`` (to be raised by the caller)."""
        return DataFileError(self.path, problem, where=self.where, field=field)

    def _get(self, field: str) -> Any:
        if field not in self.data or self.data[field] is None:
            raise self.error(field, "missing; every record needs this field")
        return self.data[field]

    def has(self, field: str) -> bool:
        """True when ``field`` is present and not null/empty-cell."""
        return self.data.get(field) not in (None, "")

    def text(self, field: str, *, allow_empty: bool = False) -> str:
        """The field as a string (non-empty unless ``allow_empty``)."""
        value = self._get(field)
        if not isinstance(value, str):
            raise self.error(field, f"expected a string, got {_describe(value)}")
        if not allow_empty and not value.strip():
            raise self.error(field, "expected a non-empty string, got an empty one")
        return value

    def optional_text(self, field: str) -> str | None:
        """The field as a string, or ``None`` when absent or empty."""
        if not self.has(field):
            return None
        return self.text(field, allow_empty=True)

    def choice(self, field: str, allowed: Iterable[str]) -> str:
        """The field as one of ``allowed`` strings."""
        allowed = tuple(allowed)
        value = self.text(field)
        if value not in allowed:
            raise self.error(field, f"expected one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value

    def integer(self, field: str) -> int:
        """The field as an integer (a JSON number or a CSV cell of digits)."""
        value = self._get(field)
        if isinstance(value, bool):
            raise self.error(field, f"expected an integer, got {_describe(value)}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdecimal():
            return int(value)
        raise self.error(field, f"expected an integer, got {_describe(value)}")

    def number(self, field: str, *, low: float | None = None, high: float | None = None) -> float:
        """The field as a number, optionally within ``[low, high]``."""
        value = self._get(field)
        if isinstance(value, bool):
            raise self.error(field, f"expected a number, got {_describe(value)}")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise self.error(field, f"expected a number, got {_describe(value)}") from None
        if number != number:  # NaN
            raise self.error(field, "expected a number, got NaN")
        if (low is not None and number < low) or (high is not None and number > high):
            raise self.error(field, f"expected a number between {low} and {high}, got {number}")
        return number

    def flag01(self, field: str) -> bool:
        """A 0/1 flag (as written in CSV files)."""
        value = self._get(field)
        if not isinstance(value, (bool, float)) and value in (0, 1, "0", "1"):
            return value in (1, "1")
        raise self.error(field, f"expected 0 or 1, got {_describe(value)}")

    def text_list(self, field: str, *, min_length: int = 1) -> list[str]:
        """The field as a list of non-empty strings with at least ``min_length`` entries."""
        value = self._get(field)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(field, f"expected a list of non-empty strings, got {_describe(value)}")
        if len(value) < min_length:
            raise self.error(field, f"expected at least {min_length} entries, got {len(value)}")
        return list(value)

    def sequence(self, field: str) -> list[Any]:
        """The field as a list."""
        value = self._get(field)
        if not isinstance(value, list):
            raise self.error(field, f"expected a list, got {_describe(value)}")
        return list(value)

    def mapping(self, field: str) -> Mapping[str, Any]:
        """The field as a mapping."""
        value = self._get(field)
        if not isinstance(value, Mapping):
            raise self.error(field, f"expected a mapping of names to values, got {_describe(value)}")
        return value

    def reject_unknown(self, known: Iterable[str]) -> None:
        """Raise if the record has fields outside ``known`` (catches typos such as ``descripton``)."""
        known = tuple(known)
        for field in self.data:
            if field not in known:
                raise self.error(str(field), f"unknown field; allowed fields are {', '.join(known)}")


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text.

    Raises:
        MissingDataFileError: if the file does not exist.
        DataFileError: if it is empty or not UTF-8.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataFileError(
            path, "file not found; check the path (shipped data lives in data/, see data/SOURCES.md)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFileError(path, f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not text.strip():
        raise DataFileError(path, "the file is empty")
    return text


def read_json(path: str | Path) -> Any:
    """Parse a JSON file (errors name the line and column)."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        problem = f"not valid JSON: {err.msg} (column {err.colno})"
        raise DataFileError(path, problem, where=f"line {err.lineno}") from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file (JSON files parse too: YAML is a superset)."""
    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise DataFileError(path, f"not valid YAML/JSON: {problem}", where=where) from None


def iter_jsonl(path: str | Path) -> Iterator[Record]:
    """Yield one :class:`Record` per non-blank line of a JSON Lines file.

    Raises:
        DataFileError: on a line that is not a complete JSON object (e.g. a truncated last line), naming it.
    """
    text = read_text(path)
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"line {line_number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFileError(
                path,
                f"not a complete JSON object ({err.msg} at column {err.colno}); the line may be truncated",
                where=where,
            ) from None
        yield Record(data, path, where, line=line_number)


def read_csv_records(path: str | Path, required_columns: Iterable[str]) -> list[Record]:
    """Read a CSV file with a header row into records, one per data row.

    Args:
        path: The CSV file.
        required_columns: Columns the header must contain.

    Raises:
        DataFileError: if a required column is missing from the header, a row has too few or too many cells,
            or the file has no data rows. Row positions are reported as file line numbers.
    """
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="__extra__")
    header = reader.fieldnames or []
    missing = [column for column in required_columns if column not in header]
    if missing:
        raise DataFileError(
            path, f"header lacks column(s) {', '.join(missing)}; found {', '.join(header)}", where="line 1"
        )
    records = []
    start_line = 2
    for row in reader:
        line_number, where = start_line, f"line {start_line}"
        start_line = reader.line_num + 1
        if "__extra__" in row:
            raise DataFileError(path, f"row has more cells than the header's {len(header)} columns", where=where)
        record = Record(row, path, where, line=line_number)
        for column in header:
            if row[column] is None:
                raise record.error(column, f"row has fewer cells than the header's {len(header)} columns")
        records.append(record)
    if not records:
        raise DataFileError(path, "the file has a header but no data rows")
    return records
