"""Run the compendium's notebooks in order with papermill, into one run folder (:class:`persona_lib.run.Run`).

Every notebook takes one parameter, ``config``: the resolved configuration. Re-running is cheap: the notebooks ask
the content-addressed response store first, so stored work is never redone. Before any notebook starts, the
configuration is checked (:func:`persona_lib.checks.require_runnable`: every problem at once, no model loaded) and
the run folder's lock is taken (:class:`persona_lib.store.RunLock`: one run per folder). While a stage runs, its
notebooks' progress bars (dialogue rounds, benchmark requests, judge calls: done of total, rate, time left) are
forwarded to the console, and each stage's time is written to ``run.json`` as soon as it ends.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from persona_lib.checks import CheckFailed, CheckReport, check_config_file, require_runnable
from persona_lib.config import RunConfig
from persona_lib.paths import PROJECT_ROOT, module_search_path
from persona_lib.plan import STAGE_REQUESTS, measure_stage, record_rate
from persona_lib.resolve import resolve_run_config
from persona_lib.run import Run
from persona_lib.store import RunLock

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"


@dataclass(frozen=True)
class Stage:
    """A named step of the pipeline and the notebooks that implement it, in order."""

    name: str
    notebooks: tuple[str, ...]
    description: str


STAGES: tuple[Stage, ...] = (
    Stage("generate", ("dialogues.ipynb", "benchmark_answers.ipynb"), "long dialogues, then benchmark answers"),
    Stage("score", ("scoring.ipynb",), "IFBench rules and the LLM judge"),
    Stage("validate", ("judge_validation.ipynb",), "the judge against released human labels"),
    Stage("analyse", ("analysis.ipynb", "break_points.ipynb"), "curves, bootstrap CIs, mixed models, break points"),
    Stage(
        "reproduce",
        ("paper_results.ipynb", "paper_models.ipynb", "reproduction.ipynb"),
        "the paper's figures and tables from its released results",
    ),
)
STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)


def parse_stages(text: str | None) -> list[Stage]:
    """Turn ``"generate,score"`` into stages in pipeline order (``None`` or ``"all"``: every stage).

    Raises:
        ValueError: naming an unknown stage and listing the valid ones.
    """
    if text is None or text.strip() in ("", "all"):
        return list(STAGES)
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in STAGE_NAMES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; choose from {', '.join(STAGE_NAMES)} or 'all'")
    return [stage for stage in STAGES if stage.name in wanted]


def run_pipeline(
    config: RunConfig,
    stages: list[Stage] | None = None,
    kernel_name: str = "python3",
    force: bool = False,
    source: str = "<configuration>",
) -> Path:
    """Execute the notebooks of the chosen stages with papermill into ``config.output_dir``.

    Args:
        config: The resolved run configuration; it is every notebook's ``config`` parameter.
        stages: Stages to run, in order (default: all).
        kernel_name: Jupyter kernel used to execute the notebooks.
        force: Take the run folder's lock over even if another run seems to hold it.
        source: Where the configuration came from (named in the check's problems).

    Returns:
        The run folder.

    Raises:
        persona_lib.checks.CheckFailed: listing every problem found before anything started.
        persona_lib.store.RunLockedError: when another run is using the run folder.
        papermill.PapermillExecutionError: when a notebook cell fails; the partially executed notebook is kept in
            the run folder for inspection.
    """
    stages = stages if stages is not None else list(STAGES)
    report = require_runnable(config, [stage.name for stage in stages], source)
    return _run_checked(report, report.config or resolve_run_config(config, source), stages, kernel_name, force)


def _run_checked(report: CheckReport, config: RunConfig, stages: list[Stage], kernel_name: str, force: bool) -> Path:
    for note in report.notes:
        print(note.format(), flush=True)
    with RunLock(config.output_dir, force=force):
        return _execute(config, stages, kernel_name)


def _execute(config: RunConfig, stages: list[Stage], kernel_name: str) -> Path:
    run = Run.create(config)
    run.notebooks_dir.mkdir(parents=True, exist_ok=True)
    parameters = {"config": config.model_dump(mode="json")}
    with _kernel_module_path():
        _execute_stages(run, stages, parameters, kernel_name)
    return run.folder


@contextlib.contextmanager
def _kernel_module_path() -> Iterator[None]:
    """While the notebooks run, their kernels (started in the project folder) find the run's own modules where this
    process does (:func:`persona_lib.paths.module_search_path`)."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(module_search_path())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def _execute_stages(run: Run, stages: list[Stage], parameters: dict, kernel_name: str) -> None:
    import papermill

    for number, stage in enumerate(stages, start=1):
        print(f"[{number}/{len(stages)}] {stage.name}: {stage.description}", flush=True)
        started, wall_started = time.perf_counter(), time.time()
        for notebook in stage.notebooks:
            papermill.execute_notebook(
                str(NOTEBOOK_DIR / notebook),
                str(run.notebooks_dir / notebook),
                parameters=parameters,
                kernel_name=kernel_name,
                cwd=str(PROJECT_ROOT),
                progress_bar=False,
                stderr_file=sys.stderr,  # the notebooks' progress bars (done/total, rate, time left) reach the console
            )
        seconds = round(time.perf_counter() - started, 1)
        run.record_stages({stage.name: seconds})
        _record_machine_rate(run, stage.name, wall_started, seconds)
        print(f"      done in {seconds} s", flush=True)


def _record_machine_rate(run: Run, stage: str, started: float, seconds: float) -> None:
    """Keep how fast this machine answered the stage's new requests (:mod:`persona_lib.plan._machine`): the estimate
    ``persona-eval run`` shows before a long run on this machine."""
    if stage not in STAGE_REQUESTS:
        return
    model = getattr(run.config, STAGE_REQUESTS[stage][1])
    rate = measure_stage(run.folder, stage, model, started, seconds)
    if rate is not None:
        record_rate(rate)


def run_from_file(
    config_path: str | Path,
    stages: str | None = None,
    output_dir: str | None = None,
    force: bool = False,
    assignments: dict[str, Any] | None = None,
    confirm: Callable[[RunConfig], bool] | None = None,
) -> Path | None:
    """Check a YAML configuration, then run the pipeline (what ``persona-eval run`` calls).

    The file is read once: the check validates and resolves it, and the run executes the configuration the check
    built.

    Args:
        config_path: The YAML configuration.
        stages: Comma-separated stage names (default: all).
        output_dir: The run folder, replacing the configuration's ``output_dir``.
        force: Take the run folder's lock over even if another run seems to hold it.
        assignments: Dotted field paths and values replacing the file's (``--set``).
        confirm: Asked with the checked configuration before anything runs; False stops there.

    Returns:
        The run folder, or None when ``confirm`` declined.

    Raises:
        persona_lib.checks.CheckFailed: listing every problem of the file and of the run it describes.
    """
    chosen = parse_stages(stages)
    report = check_config_file(config_path, [stage.name for stage in chosen], {"output_dir": output_dir}, assignments)
    if not report.ok or report.config is None:
        raise CheckFailed(report)
    if confirm is not None and not confirm(report.config):
        return None
    return _run_checked(report, report.config, chosen, "python3", force)
