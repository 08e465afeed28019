"""Reading a configuration into problems instead of stopping at the first one.

Pydantic already reports every invalid field of a mapping at once; this module turns each into a
:class:`~persona_lib.checks.Problem` with a fix (for a misspelt field, the closest valid names), and then validates
the configuration once more without the invalid top-level fields, so the remaining checks can still run on
everything else. The file itself is read by :func:`persona_lib.config.read_config_file`, once.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from persona_lib.checks._report import Problem
from persona_lib.config import (
    ConfigError,
    ConfigFileError,
    JudgingConfig,
    ModelConfig,
    RunConfig,
    SamplingConfig,
    apply_assignments,
    read_config_file,
)

_SECTIONS: dict[str, type[BaseModel]] = {
    "model": ModelConfig,
    "judge": ModelConfig,
    "generation": SamplingConfig,
    "judging": JudgingConfig,
}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fix(loc: tuple, kind: str) -> str:
    if kind == "extra_forbidden":
        section = _SECTIONS.get(str(loc[0])) if len(loc) > 1 else RunConfig
        known = list(section.model_fields) if section is not None else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=2)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        return f"{hint}remove the field or correct its spelling; valid fields here: {', '.join(known)}"
    if kind == "literal_error":
        return "use one of the values the message lists"
    return "set a valid value (every field is documented in persona_lib/config.py; configs/paper.yaml shows them all)"


def _problem(source: str, issue: dict[str, Any]) -> Problem:
    loc = tuple(issue["loc"])
    field = ".".join(str(part) for part in loc)
    message = str(issue["msg"]).removeprefix("Value error, ")
    if issue["type"] == "extra_forbidden":
        what = "unknown field"
    elif loc:
        what = f"{message} (got {_short(issue.get('input'))})"
    else:  # a rule across fields: the message names them
        what = message
    return Problem(source, field, what, _fix(loc, issue["type"]))


def validate_values(values: dict[str, Any], source: str) -> tuple[RunConfig | None, list[Problem], set[str]]:
    """Validate configuration fields, reporting every invalid one.

    Args:
        values: Top-level fields.
        source: Where they came from (for the problems).

    Returns:
        The configuration (built without the invalid top-level fields, or ``None`` when even that fails), the
        problems, and the names of the invalid top-level fields (their own checks are skipped).
    """
    try:
        return RunConfig.model_validate(values), [], set()
    except ValidationError as err:
        issues = err.errors()
    problems = [_problem(source, issue) for issue in issues]
    invalid = {str(issue["loc"][0]) for issue in issues if issue["loc"]}
    remaining = {key: value for key, value in values.items() if key not in invalid}
    try:
        config = RunConfig.model_validate(remaining) if invalid else None
    except ValidationError:
        config = None
    return config, problems, invalid


def read_values(
    path: str | Path, overrides: dict[str, Any] | None = None, assignments: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """A configuration file's fields with ``--set`` assignments and overrides applied, or the problem that stops it.

    The file is read by :func:`persona_lib.config.read_config_file`, the one reader of configuration files.

    Args:
        path: The YAML file.
        overrides: Top-level fields replacing the file's (``None`` values are ignored).
        assignments: Dotted field paths and values replacing the file's (``--set``; see
            :func:`persona_lib.config.apply_assignments`).
    """
    source = str(path)
    try:
        values = read_config_file(path)
    except ConfigFileError as err:
        return None, [Problem(source, err.where, err.problem, err.fix)]
    values.setdefault("name", Path(path).stem)  # a run of its own, named after its file (as load_config does)
    try:
        apply_assignments(values, assignments, source)
    except ConfigError as err:
        return None, [Problem(source, "--set", str(err), "give a dotted path to a field, e.g. model.model=ID")]
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return values, []
