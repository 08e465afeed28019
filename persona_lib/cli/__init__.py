"""``persona-eval``: the command-line entry point.

Sub-commands:
    check           find every problem of a configuration before anything runs (exit 2 if there is one)
    plan            print what a run will send to the models, its token cost and GPU-hours
    run             check, then execute the notebooks of a configuration into a run folder (papermill)
    salvage         copy what still reads from a damaged response store into a new one
    score-ifbench   score IFBench-format responses with the rule-based checkers
    book            copy a run's executed notebooks into the book and build it
    reproduce       recompute the paper's Table 5/6 rows from the authors' released results
    fetch-release   fetch the authors' released results at the pinned commit (a sparse, partial clone)
    rejudge         re-judge a sample of the authors' released answers with our judge prompts and compare verdicts
    study           many models under one protocol: run (Ray or --shard i/N), merge, analyse, status

One private module per command family registers its sub-commands: ``_preflight`` (check, plan), ``_run`` (run,
salvage, book), ``_ifbench`` (score-ifbench), ``_reproduce`` (reproduce, fetch-release), ``_rejudge`` and
``_study``. Each ``add_*parser`` function adds a sub-command, its options and its handler; the handlers import what
they need when they run, so the command starts fast (``check`` never loads torch).
"""

from __future__ import annotations

import argparse
import sys

from persona_lib.config import ConfigError
from persona_lib.paths import module_search_path
from persona_lib.store import RunLockedError, StoreError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    from persona_lib.cli import _ifbench, _preflight, _rejudge, _reproduce, _run, _study

    parser = argparse.ArgumentParser(prog="persona-eval", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in (
        _preflight.add_check_parser,
        _preflight.add_plan_parser,
        _run.add_run_parser,
        _run.add_salvage_parser,
        _run.add_book_parser,
        _ifbench.add_parser,
        _reproduce.add_parser,
        _reproduce.add_fetch_parser,
        _rejudge.add_parser,
        _study.add_parser,
    ):
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen sub-command.

    Problems found before anything started (a bad configuration, a run folder in use) print a clear message and
    exit 2; a store that cannot be written or is damaged, or another operating-system error (a full disk), prints
    what to do and exits 1.
    """
    args = build_parser().parse_args(argv)
    sys.path[:0] = [entry for entry in module_search_path() if entry not in sys.path]  # the run's own modules
    try:
        return int(args.handler(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError, RunLockedError) as err:
        print(f"persona-eval {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (StoreError, OSError) as err:  # e.g. a disk that filled up while a table was written
        print(f"persona-eval {args.command}: error: {err}", file=sys.stderr)
        return 1
