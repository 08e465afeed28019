"""``persona-eval run``, ``salvage`` and ``book``: execute a configuration, rescue its store, build the book.

``run`` checks the configuration, then executes the pipeline notebooks into a run folder (papermill); when a cell
fails, every answer committed to the run's response store is kept and the same command resumes. ``salvage`` copies
what still reads from a damaged response store into a new one. ``book`` copies a run's executed notebooks into the
book and builds it.
"""

from __future__ import annotations

import argparse
import sys

from persona_lib.cli._preflight import add_set_argument
from persona_lib.pipeline import STAGE_NAMES

_RESUME_HINT = (
    "every answer committed to the run's response store is kept: fix the cause and run the same command again to resume"
)


def add_run_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``run`` and its handler on ``subparsers``."""
    parser = subparsers.add_parser("run", help="check, then execute the pipeline notebooks for a configuration")
    parser.add_argument("--config", required=True, help="YAML run configuration, e.g. configs/default.yaml")
    parser.add_argument("--stages", default="all", help=f"comma-separated subset of: {', '.join(STAGE_NAMES)}")
    parser.add_argument("--out", default=None, help="run folder (default: output_dir from the configuration)")
    parser.add_argument(
        "--force", action="store_true", help="take the run folder's lock over even if another run seems to hold it"
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="start a long run on this machine's CPU without asking (above "
        "persona_lib.plan.CONFIRM_ABOVE_REQUESTS requests and no GPU backend, run asks first)",
    )
    add_set_argument(parser)
    parser.set_defaults(handler=_run)
    return parser


def _confirm_long_run(config, yes: bool) -> bool:
    """Before a long run on this machine's CPU: show its size and estimate, then ask (or stop, without a terminal)."""
    from persona_lib.plan import large_run_summary

    if yes:
        return True
    summary = large_run_summary(config)
    if summary is None:
        return True
    print(f"persona-eval run: {summary}")
    if not sys.stdin.isatty():
        print("persona-eval run: not started; run the same command with --yes to start it", file=sys.stderr)
        return False
    return input("Start it? [y/N] ").strip().lower() in ("y", "yes")


def _run(args: argparse.Namespace) -> int:
    from persona_lib.config import parse_assignments
    from persona_lib.pipeline import run_from_file

    assignments = parse_assignments(args.set)
    try:
        run_dir = run_from_file(
            args.config,
            stages=args.stages,
            output_dir=args.out,
            force=args.force,
            assignments=assignments,
            confirm=lambda config: _confirm_long_run(config, args.yes),
        )
    except Exception as err:
        papermill_errors = sys.modules.get("papermill.exceptions")  # imported once a notebook has run
        if papermill_errors is None or not isinstance(err, papermill_errors.PapermillExecutionError):
            raise
        print(
            f"persona-eval run: a notebook cell failed: {err.ename}: {err.evalue}\n"
            f"The partly executed notebook is in the run folder's notebooks/; {_RESUME_HINT}",
            file=sys.stderr,
        )
        return 1
    if run_dir is None:
        return 2
    print(f"run folder: {run_dir}")
    return 0


def add_salvage_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``salvage`` and its handler on ``subparsers``."""
    parser = subparsers.add_parser("salvage", help="recover what still reads from a damaged response store")
    parser.add_argument("--run", required=True, help="run folder whose responses.sqlite is damaged")
    parser.set_defaults(handler=_salvage)
    return parser


def _salvage(args: argparse.Namespace) -> int:
    from persona_lib.store import salvage_into_place

    kept, health = salvage_into_place(args.run)
    rows = ", ".join(f"{count:,} {table}" for table, count in health.readable_rows.items())
    print(
        f"read {rows}; kept {health.complete_answers:,} answers with their whole conversation.\n"
        f"The damaged file is kept as {kept}; the next `persona-eval run` recomputes only what was lost."
    )
    return 0


def add_book_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``book`` and its handler on ``subparsers``."""
    parser = subparsers.add_parser("book", help="assemble a run's executed notebooks into the book and build it")
    parser.add_argument("--run", required=True, help="run folder written by `persona-eval run`")
    parser.add_argument("--root", default=None, help="book root holding _config.yml (default: the project)")
    parser.set_defaults(handler=_book)
    return parser


def _book(args: argparse.Namespace) -> int:
    from persona_lib.book import assemble_book, build_book
    from persona_lib.paths import PROJECT_ROOT

    root = args.root or PROJECT_ROOT
    assemble_book(args.run, root)
    print(f"book: {build_book(root)}")
    return 0
