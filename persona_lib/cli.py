"""``persona-eval``: the command-line entry point.

Sub-commands:
    check           find every problem of a configuration before anything runs (exit 2 if there is one)
    plan            print what a run will send to the models, its token cost and GPU-hours
    run             check, then execute the notebooks of a configuration into a run folder (papermill)
    salvage         copy what still reads from a damaged response store into a new one
    score-ifbench   score IFBench-format responses with the rule-based checkers
    book            copy a run's executed notebooks into the book and build it
    reproduce       recompute the paper's Table 5/6 rows from the authors' released results
    rejudge         re-judge a sample of the authors' released answers with our judge prompts and compare verdicts
    study           many models under one protocol: run (Ray or --shard i/N), merge, analyse, status
"""

from __future__ import annotations

import argparse
import sys

from persona_lib.cli_preflight import add_set_argument
from persona_lib.config import ConfigError
from persona_lib.pipeline import STAGE_NAMES
from persona_lib.store import RunLockedError, StoreError

_RESUME_HINT = (
    "every answer committed to the run's response store is kept: fix the cause and run the same command again to "
    "resume"
)


def _add_run_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="check, then execute the pipeline notebooks for a configuration")
    parser.add_argument("--config", required=True, help="YAML run configuration, e.g. configs/default.yaml")
    parser.add_argument("--stages", default="all", help=f"comma-separated subset of: {', '.join(STAGE_NAMES)}")
    parser.add_argument("--out", default=None, help="run folder (default: output_dir from the configuration)")
    parser.add_argument("--force", action="store_true",
                        help="take the run folder's lock over even if another run seems to hold it")
    add_set_argument(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from persona_lib.config import parse_assignments
    from persona_lib.pipeline import run_from_file

    assignments = parse_assignments(args.set)
    try:
        run_dir = run_from_file(args.config, stages=args.stages, output_dir=args.out, force=args.force,
                                assignments=assignments)
    except Exception as err:
        papermill_errors = sys.modules.get("papermill.exceptions")  # imported once a notebook has run
        if papermill_errors is None or not isinstance(err, papermill_errors.PapermillExecutionError):
            raise
        print(f"persona-eval run: a notebook cell failed: {err.ename}: {err.evalue}\n"
              f"The partly executed notebook is in the run folder's notebooks/; {_RESUME_HINT}", file=sys.stderr)
        return 1
    print(f"run folder: {run_dir}")
    return 0


def _add_salvage_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("salvage", help="recover what still reads from a damaged response store")
    parser.add_argument("--run", required=True, help="run folder whose responses.sqlite is damaged")
    parser.set_defaults(handler=_salvage)


def _salvage(args: argparse.Namespace) -> int:
    from persona_lib.store import salvage_into_place

    kept, health = salvage_into_place(args.run)
    rows = ", ".join(f"{count:,} {table}" for table, count in health.readable_rows.items())
    print(f"read {rows}; kept {health.complete_answers:,} answers with their whole conversation.\n"
          f"The damaged file is kept as {kept}; the next `persona-eval run` recomputes only what was lost.")
    return 0


def _add_book_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("book", help="assemble a run's executed notebooks into the book and build it")
    parser.add_argument("--run", required=True, help="run folder written by `persona-eval run`")
    parser.add_argument("--root", default=None, help="book root holding _config.yml (default: the project)")
    parser.set_defaults(handler=_book)


def _book(args: argparse.Namespace) -> int:
    from persona_lib.book import assemble_book, build_book
    from persona_lib.paths import PROJECT_ROOT

    root = args.root or PROJECT_ROOT
    assemble_book(args.run, root)
    print(f"book: {build_book(root)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    from persona_lib import cli_ifbench, cli_preflight, cli_rejudge, cli_reproduce, cli_study

    parser = argparse.ArgumentParser(prog="persona-eval", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    cli_preflight.add_check_parser(subparsers).set_defaults(handler=cli_preflight.run_check)
    cli_preflight.add_plan_parser(subparsers).set_defaults(handler=cli_preflight.run_plan)
    _add_run_parser(subparsers)
    _add_salvage_parser(subparsers)
    _add_book_parser(subparsers)
    commands = (("score-ifbench", cli_ifbench), ("reproduce", cli_reproduce), ("rejudge", cli_rejudge),
                ("study", cli_study))
    for command, module in commands:
        module.add_parser(subparsers)
        subparsers.choices[command].set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen sub-command.

    Problems found before anything started (a bad configuration, a run folder in use) print a clear message and
    exit 2; a store that cannot be written or is damaged, or another operating-system error (a full disk), prints
    what to do and exits 1.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError, RunLockedError) as err:
        print(f"persona-eval {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (StoreError, OSError) as err:  # e.g. a disk that filled up while a table was written
        print(f"persona-eval {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
