"""``persona-eval check`` and ``persona-eval plan``: what to know before a run starts.

``check`` finds every problem that can be found without loading a model and reports them all at once (exit 2 when
there is one). ``plan`` prints what the run will send to the model and the judge, at what token cost, what the store
already holds and, given a GPU or a throughput, an estimate of GPU-hours.
"""

from __future__ import annotations

import argparse

STAGES_HELP = "comma-separated subset of: generate, score, validate, analyse, reproduce (default: all)"


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--set KEY=VALUE`` (repeatable): a configuration field replaced by dotted path, the value read as YAML."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="replace a configuration field by its dotted path, e.g. --set model.model=google/gemma-3-4b-it "
        "--set judging.mode=both (repeatable; values are read as YAML: 0.5, true, null)",
    )


def add_check_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``check`` and its handler on ``subparsers``."""
    parser = subparsers.add_parser(
        "check",
        help="find every problem of a configuration before anything runs",
        description="Check a run configuration without loading any model: fields, personas, datasets and their "
        "licences, item limits, checkpoints, model and judge (with vLLM installed, every engine argument and "
        "decoding setting against vLLM's own EngineArgs and SamplingParams), the API key variable, the run folder. "
        "A study configuration (models + protocol) is checked model by model. Every problem is reported at once; "
        "the exit status is 2 when there is one.",
    )
    parser.add_argument("--config", required=True, help="YAML run or study configuration")
    parser.add_argument("--stages", default="all", help=STAGES_HELP)
    parser.add_argument("--out", default=None, help="run folder (default: output_dir from the configuration)")
    add_set_argument(parser)
    parser.set_defaults(handler=run_check)
    return parser


def run_check(args: argparse.Namespace) -> int:
    """Print the check's report (of a run or, for a file with ``models`` and ``protocol``, of a study); 0 when the
    run can start, 2 otherwise."""
    from persona_lib.checks import check_config_file
    from persona_lib.config import ConfigFileError, parse_assignments, read_config_file
    from persona_lib.pipeline import parse_stages
    from persona_lib.study import check_study_values, is_study_values

    stages = [stage.name for stage in parse_stages(args.stages)]
    assignments = parse_assignments(args.set)
    try:
        values = read_config_file(args.config)
    except ConfigFileError:
        values = {}  # the run check reports the file's problem
    if is_study_values(values):
        overrides = {"output_dir": args.out} if args.out else {}
        report = check_study_values({**values, **overrides}, args.config, stages, assignments)
    else:
        report = check_config_file(args.config, stages, {"output_dir": args.out}, assignments)
    print(report.format())
    return 0 if report.ok else 2


def add_plan_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``plan`` and its handler on ``subparsers``."""
    from persona_lib.plan import GPU_THROUGHPUT

    parser = subparsers.add_parser(
        "plan",
        help="print what a run will do and cost before it starts",
        description="Requests, prompt and prefill tokens (with and without prefix caching), generated tokens and "
        "stored answers per stage; with --gpu or --tokens-per-second also GPU-hours.",
    )
    parser.add_argument("--config", required=True, help="YAML run configuration")
    parser.add_argument("--out", default=None, help="run folder (default: output_dir from the configuration)")
    parser.add_argument(
        "--gpu",
        default=None,
        help=f"default rates of one GPU type: {', '.join(GPU_THROUGHPUT)} "
        "(rough assumptions, see persona_lib/plan/_throughput.py)",
    )
    parser.add_argument(
        "--tokens-per-second",
        type=float,
        default=None,
        help="generated tokens per second (aggregate decode rate) to estimate GPU-hours with",
    )
    parser.add_argument(
        "--prefill-tokens-per-second",
        type=float,
        default=None,
        help="prompt tokens per second (default: the GPU's, or 20x --tokens-per-second)",
    )
    parser.add_argument(
        "--kv-budget",
        type=int,
        default=None,
        help="KV-cache tokens for the prefix-cache simulation (default: unlimited, the floor)",
    )
    parser.add_argument(
        "--no-tokenizer",
        action="store_true",
        help="estimate tokens as words x 1.3 even when the model's tokenizer is on this machine",
    )
    add_set_argument(parser)
    parser.set_defaults(handler=run_plan)
    return parser


def run_plan(args: argparse.Namespace) -> int:
    """Print the plan of ``args.config``."""
    from persona_lib.config import parse_assignments
    from persona_lib.plan import plan_run, resolve_throughput
    from persona_lib.resolve import load_config

    throughput = resolve_throughput(args.gpu, args.tokens_per_second, args.prefill_tokens_per_second)
    config = load_config(args.config, parse_assignments(args.set), output_dir=args.out)
    plan = plan_run(config, throughput, kv_budget_tokens=args.kv_budget, use_tokenizer=not args.no_tokenizer)
    print(plan.format())
    return 0
