"""The result of a pre-flight check: every problem found, each naming the file, the field, what is wrong and the fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from persona_lib.config import ConfigError, RunConfig

Severity = Literal["error", "note"]


@dataclass(frozen=True)
class Problem:
    """One thing found before the run.

    Attributes:
        where: The file or folder concerned (the configuration file for a field of it).
        field: The configuration field (``personas[0]``, ``model.model``, ``dataset_files.bfi``) or the field of
            the file named by ``where``; ``""`` for the file as a whole.
        what: What is wrong.
        fix: How to fix it.
        severity: ``error`` stops the run; a ``note`` is worth knowing and stops nothing.
    """

    where: str
    field: str
    what: str
    fix: str
    severity: Severity = "error"

    def format(self) -> str:
        """Two lines: ``[error] <where> · <field>: <what>`` and ``fix: <fix>``."""
        location = f"{self.where} · {self.field}" if self.field else self.where
        text = f"  [{self.severity}] {location}: {self.what}"
        return text + (f"\n          fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class CheckReport:
    """Everything a check found for one configuration.

    Attributes:
        source: The configuration file (or ``<parameters>``).
        problems: Errors and notes, in the order found.
        summary: Short lines describing what the run will use (shown when there is no error).
        config: The resolved configuration the run would execute (``None`` when it could not be built), so a run
            that checked its file does not read it again.
    """

    source: str
    problems: tuple[Problem, ...] = ()
    summary: tuple[str, ...] = field(default_factory=tuple)
    config: RunConfig | None = None

    @property
    def errors(self) -> list[Problem]:
        """The problems that stop a run."""
        return [problem for problem in self.problems if problem.severity == "error"]

    @property
    def notes(self) -> list[Problem]:
        """The problems that are only worth knowing."""
        return [problem for problem in self.problems if problem.severity == "note"]

    @property
    def ok(self) -> bool:
        """True when nothing stops the run."""
        return not self.errors

    def format(self) -> str:
        """The report as text: every error and note, or ``ok`` with the summary."""
        lines = []
        if self.errors:
            count = len(self.errors)
            lines.append(
                f"{self.source}: {count} problem{'s' if count > 1 else ''} found before anything was loaded or started:"
            )
        else:
            lines.append(f"{self.source}: ok")
            lines += [f"  {line}" for line in self.summary]
        lines += [problem.format() for problem in self.errors + self.notes]
        return "\n".join(lines)


class CheckFailed(ConfigError):
    """A configuration that the pre-flight check rejects; the message lists every problem.

    Attributes:
        report: The full report.
    """

    def __init__(self, report: CheckReport) -> None:
        self.report = report
        super().__init__(report.format())
