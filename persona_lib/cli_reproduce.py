"""``persona-eval reproduce``: recompute the paper's Table 5/6 IFBench rows and curves from the released data."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``reproduce`` sub-command on ``subparsers``."""
    parser = subparsers.add_parser(
        "reproduce",
        help="recompute the paper's Table 5/6 rows from the authors' released results",
        description="Recompute every Table 5/6 row the released data allows (IFBench) and the per-model IFBench "
        "curves; write tables.csv, ifbench_curves.csv and figures/ into --out and print the comparison.",
    )
    parser.add_argument("--out", default="reproduction", help="output folder (default: ./reproduction)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the reproduction; exit status 1 if a reproducible row does not match the published value."""
    from persona_lib.reproduce import format_comparison, run_reproduction

    result = run_reproduction(args.out)
    print(format_comparison(result.tables))
    figures = result.files["tables"].parent / "figures"
    print(f"\nwritten: {result.files['tables']}, {result.files['curves']}, figures in {figures}")
    return 1 if (result.tables["status"] == "mismatch").any() else 0
