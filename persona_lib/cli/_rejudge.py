"""``persona-eval rejudge``: re-judge a sample of the authors' released answers with this project's judge prompts.

Our judge rubrics are restated in our own words; this command measures how far that moves the verdicts. It samples
answers from a clone of github.com/peluz/persistent-personas, judges them with the configuration's ``judge`` (the
study's is Selene-1-Mini-Llama-3.1-8B) and compares our verdicts with the released ones
(:func:`persona_lib.authors_release.rejudge_release`).
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``rejudge`` sub-command and its handler (:func:`run`) on ``subparsers``."""
    from persona_lib.authors_release import PRIMARY_JUDGE, REJUDGED_DATASETS

    parser = subparsers.add_parser(
        "rejudge",
        help="re-judge a sample of the authors' released answers with our judge prompts and compare verdicts",
        description="Sample judged items of the authors' release (dialogue fidelity, BFI, XSTest), judge them with "
        "this project's templates and the configuration's judge, and compare with the released verdicts: "
        "agreement, Cohen's kappa (quadratic-weighted for Likert ratings) and the mean difference, per dataset "
        "and fidelity criterion. The RoleBench pairwise datasets cannot be re-judged: the release lacks their "
        "questions and reference answers. Judge calls are stored in OUT/responses.sqlite: run the same command "
        "again to resume.",
    )
    parser.add_argument(
        "--authors-repo", metavar="PATH", required=True, help="a local clone of github.com/peluz/persistent-personas"
    )
    parser.add_argument(
        "--config", required=True, help="YAML run configuration; its judge, judging and seed fields are used"
    )
    parser.add_argument("--per-dataset", type=int, required=True, metavar="N", help="items sampled per dataset")
    parser.add_argument("--out", default="rejudge", help="output folder (default: ./rejudge)")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (default: the configuration's seed)")
    parser.add_argument(
        "--datasets",
        default=",".join(REJUDGED_DATASETS),
        help=f"comma-separated subset of: {', '.join(REJUDGED_DATASETS)}",
    )
    parser.add_argument(
        "--authors-judge",
        default=PRIMARY_JUDGE,
        help=f"whose released verdicts to compare with (default: {PRIMARY_JUDGE})",
    )
    parser.set_defaults(handler=run)
    return parser


def _line(row: pd.Series) -> str:
    name = row["dataset"] if row["criterion"] == "all" else f"  {row['criterion']}"
    if row["n_pairs"] == 0:
        stats = "no pair with both verdicts"
    else:
        kappa = "n/a" if pd.isna(row["kappa"]) else f"{row['kappa']:.2f}"
        stats = (
            f"agreement {row['agreement']:.2f}, kappa {kappa}, ours - authors {row['mean_difference']:+.1f} "
            "points (0-100)"
        )
    return (
        f"{name:16} n={row['n']:<4} {stats}; no verdict: authors {row['n_authors_unparsed']}, "
        f"ours {row['n_ours_unparsed']}"
    )


def run(args: argparse.Namespace) -> int:
    """Run the re-judging and print the comparison (our strict reading; the study's reading is in the table).

    Exit status 2 when the clone lacks what is needed (the message names it) or the request is invalid.
    """
    from persona_lib.authors_release import NOT_REJUDGED, CloneError, ReleaseNameError, rejudge_release
    from persona_lib.personas import DataFileError
    from persona_lib.resolve import load_config

    config = load_config(args.config)
    datasets = [name.strip() for name in args.datasets.split(",") if name.strip()]
    try:
        result = rejudge_release(
            args.authors_repo,
            config,
            args.out,
            per_dataset=args.per_dataset,
            seed=args.seed,
            datasets=datasets,
            authors_judge=args.authors_judge,
        )
    except (CloneError, ReleaseNameError, DataFileError) as err:
        print(f"persona-eval rejudge: {err}", file=sys.stderr)
        return 2
    summary = result.summary
    judge = result.items["judge_model"].iloc[0]
    print(
        f"our templates judged by {judge} against the released verdicts of {args.authors_judge} (our strict reading):"
    )
    for _, row in summary[summary["reader"] == "strict"].iterrows():
        print(_line(row))
        if row["criterion"] == "all" and row["n"] < args.per_dataset:
            print(f"{'':16} only {row['n']} item(s) to sample (asked for {args.per_dataset})")
    for name, why in NOT_REJUDGED.items():
        print(f"not re-judged: {name} ({why})")
    print(
        f"written to {result.files['summary'].parent}: sample.csv, items.csv, summary.csv (both readings), rejudge.json"
    )
    return 0
