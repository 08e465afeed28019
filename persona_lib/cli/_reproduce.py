"""``persona-eval reproduce``: recompute the paper's Tables 5 and 6 from the authors' results; ``persona-eval
fetch-release``: get those results (a sparse, partial clone of the authors' repository at the pinned commit).

Without ``--authors-repo`` only the IFBench rows are recomputed, from ``data/released/``. With
``--authors-repo PATH`` (a local clone of github.com/peluz/persistent-personas) every row is recomputed from the
judge outputs, ratings and answers the clone holds.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``reproduce`` sub-command and its handler (:func:`run`) on ``subparsers``."""
    parser = subparsers.add_parser(
        "reproduce",
        help="recompute the paper's Table 5/6 rows from the authors' released results",
        description="Recompute the rows of Tables 5 and 6 and the per-model curves and print the comparison with "
        "the published values. From data/released/ alone only the IFBench rows can be recomputed; with "
        "--authors-repo every row is, from a clone of the authors' repository.",
    )
    parser.add_argument("--out", default="reproduction", help="output folder (default: ./reproduction)")
    parser.add_argument(
        "--authors-repo",
        metavar="PATH",
        help="a local clone of github.com/peluz/persistent-personas: recompute every row from its judge outputs",
    )
    parser.add_argument(
        "--label-source",
        choices=["annotation", "pdb"],
        default=None,
        help="InCharacter label source for the BFI error (default: annotation; the other is shown as a variant)",
    )
    parser.add_argument(
        "--skip-ifbench-rescore",
        action="store_true",
        help="with --authors-repo: do not re-score the released IFBench answers (saves a few minutes)",
    )
    parser.set_defaults(handler=run)
    return parser


def _run_from_clone(args: argparse.Namespace) -> int:
    from persona_lib.authors_release import CloneError, ReleaseNameError
    from persona_lib.personas import DataFileError
    from persona_lib.reproduce import format_authors_summary, format_comparison, run_authors_reproduction

    try:
        result = run_authors_reproduction(
            args.authors_repo,
            args.out,
            label_source=args.label_source,
            rescore_ifbench=not args.skip_ifbench_rescore,
        )
    except (CloneError, ReleaseNameError, DataFileError) as err:
        print(f"persona-eval reproduce: {err}", file=sys.stderr)
        return 2
    print(format_comparison(result.tables))
    print("\nOther readings of the specification:")
    print(format_comparison(result.variants))
    print()
    print(format_authors_summary(result))
    tables = [path.name for path in result.files.values() if path.parent == result.files["tables"].parent]
    print(f"\nwritten to {result.files['tables'].parent}: {', '.join(tables)}; figures in figures/")
    return 1 if (result.tables["status"] == "mismatch").any() else 0


def run(args: argparse.Namespace) -> int:
    """Run the reproduction; exit status 1 if a reproduced row does not match the published value.

    Exit status 2 when ``--authors-repo`` is not a complete clone (the message names what is missing).
    """
    if getattr(args, "authors_repo", None):
        return _run_from_clone(args)
    from persona_lib.reproduce import format_comparison, run_reproduction

    result = run_reproduction(args.out)
    print(format_comparison(result.tables))
    figures = result.files["tables"].parent / "figures"
    print(f"\nwritten: {result.files['tables']}, {result.files['curves']}, figures in {figures}")
    return 1 if (result.tables["status"] == "mismatch").any() else 0


def add_fetch_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``fetch-release`` sub-command and its handler (:func:`fetch`) on ``subparsers``."""
    from persona_lib.authors_release import AUTHORS_URL, PINNED_COMMIT

    parser = subparsers.add_parser(
        "fetch-release",
        help="fetch the authors' released results (metrics/, results/) at the pinned commit into the cache",
        description="Make a sparse, partial clone of the authors' repository at the pinned commit (metrics/ and "
        "results/; generations/ with --generations) in the project's cache, verify the commit, and print the "
        "folder on the last line of standard output (progress goes to standard error). Offline, it says how to "
        "use a clone made elsewhere.",
    )
    parser.add_argument("--dest", metavar="PATH", help="clone here (default: <cache>/authors-release/<commit>)")
    parser.add_argument("--generations", action="store_true", help="also check out generations/ (about 1.4 GB)")
    parser.add_argument("--url", default=AUTHORS_URL, help=f"the repository (default {AUTHORS_URL})")
    parser.add_argument("--commit", default=PINNED_COMMIT, help="the full commit hash (default: the pinned one)")
    parser.add_argument(
        "--existing",
        metavar="PATH",
        help="use this clone instead of fetching (make's AUTHORS_REPO): say whether it is at the pinned commit",
    )
    parser.set_defaults(handler=fetch)
    return parser


def fetch(args: argparse.Namespace) -> int:
    """Fetch (or check) the release and print its folder; exit status 2 if it cannot be had (the message says why
    and what to do)."""
    from persona_lib.authors_release import FetchError, describe_existing, fetch_release

    def progress(line: str) -> None:
        print(line, file=sys.stderr)

    try:
        if args.existing:
            progress(describe_existing(args.existing, args.commit))
            folder = args.existing
        else:
            folder = fetch_release(
                args.dest, generations=args.generations, url=args.url, commit=args.commit, log=progress
            )
    except FetchError as err:
        print(f"persona-eval fetch-release: {err}", file=sys.stderr)
        return 2
    print(folder)
    return 0
