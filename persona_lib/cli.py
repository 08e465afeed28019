"""``persona-eval``: the command-line entry point.

Sub-commands:
    run             execute the notebooks of a configuration into a run folder (papermill)
    score-ifbench   score IFBench-format responses with the rule-based checkers
    book            copy a run's executed notebooks into the book and build it
    reproduce       recompute the paper's Table 5/6 rows from the authors' released results
    study           many models under one protocol: run (Ray or --shard i/N), merge, analyse, status
"""

from __future__ import annotations

import argparse
import sys

from persona_lib.config import ConfigError
from persona_lib.pipeline import STAGE_NAMES


def _add_run_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="execute the pipeline notebooks for a configuration")
    parser.add_argument("--config", required=True, help="YAML run configuration, e.g. configs/default.yaml")
    parser.add_argument("--stages", default="all", help=f"comma-separated subset of: {', '.join(STAGE_NAMES)}")
    parser.add_argument("--out", default=None, help="run folder (default: output_dir from the configuration)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from persona_lib.pipeline import run_from_file

    run_dir = run_from_file(args.config, stages=args.stages, output_dir=args.out)
    print(f"run folder: {run_dir}")
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
    from persona_lib import cli_ifbench, cli_reproduce, cli_study

    parser = argparse.ArgumentParser(prog="persona-eval", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(subparsers)
    _add_book_parser(subparsers)
    for command, module in (("score-ifbench", cli_ifbench), ("reproduce", cli_reproduce), ("study", cli_study)):
        module.add_parser(subparsers)
        subparsers.choices[command].set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen sub-command; user errors print one line and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        print(f"persona-eval {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
