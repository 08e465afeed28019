"""``persona-eval study``: many models under one protocol, on Ray or a job array, merged and analysed together.

Sub-commands:
    run       generate every unit (model x condition x dialogue kind), then judge it; Ray, or --shard i/N
    merge     union the workers' stores into one run folder per model (conflicts reported)
    analyse   the cross-model analysis: Tables 5 and 6, per-model curves and bars, grids (notebook study)
    status    what is done, per model and unit, read from the stores alone
"""

from __future__ import annotations

import argparse
import sys


def _study_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", "--out", dest="study", required=True, help="the study folder, e.g. studies/paper")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``study``, its handler (:func:`run`) and its sub-commands (run, merge, analyse, status)."""
    parser = subparsers.add_parser(
        "study",
        help="run, merge and analyse many models under one protocol (Ray or a job array)",
        description="Many models under one protocol and one judge: run them on Ray (or as the shards of a job "
        "array), merge the workers' stores into one run folder per model, analyse them together.",
    )
    parser.set_defaults(handler=run)
    commands = parser.add_subparsers(dest="study_command", required=True, metavar="{run,merge,analyse,status}")

    run_parser = commands.add_parser("run", help="generate and judge every unit of a study (Ray, or one shard)")
    run_parser.add_argument(
        "--config", help="study configuration, e.g. configs/study-paper.yaml (default: the folder's)"
    )
    run_parser.add_argument("--out", dest="study", help="the study folder (default: output_dir of the configuration)")
    run_parser.add_argument(
        "--ray-address", help="join this Ray cluster (default: RAY_ADDRESS, else start Ray locally)"
    )
    run_parser.add_argument(
        "--shard",
        metavar="i/N",
        help="run only shard i of N here, without Ray (e.g. a SLURM array task: "
        "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT); then `study merge`",
    )
    run_parser.add_argument("--workers", type=int, help="generation workers at a time (default: one per GPU, else one)")
    run_parser.add_argument("--judge-workers", type=int, help="judge workers at a time (default: --workers)")
    run_parser.add_argument("--phases", default="generate,judge", help="generate and/or judge (default: both)")
    run_parser.add_argument("--retries", type=int, default=3, help="Ray restarts and retries after a worker dies")
    run_parser.add_argument(
        "--conditions-per-call",
        type=int,
        default=1,
        metavar="K",
        help="conditions of a model a worker takes at once; their dialogues advance together, "
        "one batched call per round (default 1; on a GPU, 9 = a model's whole grid keeps the "
        "batch full)",
    )
    run_parser.set_defaults(study_handler=_run)

    merge = commands.add_parser("merge", help="union the workers' stores into one run folder per model")
    _study_argument(merge)
    merge.set_defaults(study_handler=_merge)

    analyse = commands.add_parser("analyse", help="the cross-model analysis (executes notebooks/study.ipynb)")
    _study_argument(analyse)
    analyse.add_argument("--no-notebook", action="store_true", help="write the tables and figures only")
    analyse.set_defaults(study_handler=_analyse)

    status = commands.add_parser("status", help="what is done, per model and unit, from the stores alone")
    _study_argument(status)
    status.add_argument("--units", action="store_true", help="one line per unit, not only per model")
    status.set_defaults(study_handler=_status)
    return parser


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen ``study`` sub-command."""
    return int(args.study_handler(args) or 0)


def _print_table(table) -> None:
    print(table.to_string(index=False) if len(table) else "(nothing)")


def _run(args: argparse.Namespace) -> int:
    from persona_lib.config import ConfigError
    from persona_lib.study import Study, load_study_config, parse_shard, run_study

    if args.config:
        config = load_study_config(args.config)
    elif args.study:
        config = Study.open(args.study).config
    else:
        raise ConfigError("study run needs --config (a study configuration) or --out (an existing study folder)")
    outcome = run_study(
        config,
        args.study,
        shard=parse_shard(args.shard) if args.shard else None,
        ray_address=args.ray_address,
        workers=args.workers,
        judge_workers=args.judge_workers,
        phases=[name.strip() for name in args.phases.split(",") if name.strip()],
        retries=args.retries,
        conditions_per_call=args.conditions_per_call,
    )
    for unit, phase, error in outcome.failures:
        print(f"FAILED {phase} {unit.label}: {error}", file=sys.stderr)
    conflicts = 0 if outcome.merge is None else len(outcome.merge.conflicts)
    print(
        f"study folder: {outcome.study.folder}; {len(outcome.results)} unit(s) run, "
        f"{sum(len(units) for units in outcome.skipped.values())} already stored, {len(outcome.failures)} failed"
        + ("" if outcome.merge is None else f", {conflicts} merge conflict(s)")
    )
    if outcome.merge is None:
        print(f"when every shard is done: persona-eval study merge --study {outcome.study.folder}")
    return 1 if outcome.failures or conflicts else 0


def _merge(args: argparse.Namespace) -> int:
    from persona_lib.study import Study, merge_study

    study = Study.open(args.study)
    summary = merge_study(study)
    _print_table(summary.reports)
    print("\nstill missing:")
    _print_table(summary.missing)
    if len(summary.conflicts):
        print(
            f"\n{len(summary.conflicts)} key(s) answered differently by two stores (first store's answer kept); "
            f"see {study.folder / Study.MERGE_CONFLICTS}",
            file=sys.stderr,
        )
        return 1
    return 0


def _analyse(args: argparse.Namespace) -> int:
    from persona_lib.study import Study, analyse_study, execute_study_notebook

    study = Study.open(args.study)
    if args.no_notebook:
        analysis = analyse_study(study)
        for note in analysis.notes:
            print(f"note: {note}")
        print(f"tables and figures: {study.analysis_dir}")
    else:
        print(f"notebook: {execute_study_notebook(study)}; tables and figures: {study.analysis_dir}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from persona_lib.study import Study, status_summary, study_status

    status = study_status(Study.open(args.study))
    _print_table(status if args.units else status_summary(status))
    return 0
