"""``persona-eval score-ifbench``: verify IFBench responses with the rule-based checkers.

Input: a JSONL file with one ``{"prompt": ..., "response": ...}`` object per line (the format of IFBench's published
sample outputs). Each prompt is matched to the test set by its exact text.

Output: one JSON object per input line with ``key``, ``prompt``, ``instruction_id_list``,
``follow_instruction_list_strict``, ``follow_instruction_list_loose``, the prompt-level verdicts
``follow_all_instructions_strict`` / ``follow_all_instructions_loose``, ``scorer_version``, and ``error`` when the
prompt could not be scored. Lines are written and flushed one at a time, in input order: if a bad input line stops
the command, every line before it has been scored and is in the output file (a valid JSONL prefix), and the error
names the file and line to fix.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from persona_lib.datasets import load_items
from persona_lib.scoring import (
    IFBenchInputError,
    IFBenchPrompt,
    ifbench_accuracy,
    load_ifbench_prompts,
    result_to_dict,
    score_ifbench_response,
    to_ifbench_prompt,
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``score-ifbench`` sub-command and its handler (:func:`run`).

    Args:
        subparsers: The sub-parser collection of the ``persona-eval`` parser.

    Returns:
        The new sub-parser.
    """
    parser = subparsers.add_parser(
        "score-ifbench",
        help="score IFBench responses with the rule-based checkers",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--responses", required=True, type=Path, help='JSONL of {"prompt", "response"} lines')
    parser.add_argument("--out", required=True, type=Path, help="JSONL file for the per-response scores")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="IFBench test set JSONL (default: the project's data/ifbench/IFBench_test.jsonl)",
    )
    parser.set_defaults(handler=run)
    return parser


def _test_set(data_path: Path | None) -> list[IFBenchPrompt]:
    """The IFBench test prompts: from ``data_path`` if given, else from the project's benchmark data."""
    if data_path is not None:
        return load_ifbench_prompts(data_path)
    return [to_ifbench_prompt(item) for item in load_items("ifbench")]


def _read_response_line(path: Path, line_number: int, raw: bytes, prompts: dict[str, IFBenchPrompt]):
    """The prompt and response of one input line, or a clear error naming the file and line."""
    where = f"{path}, line {line_number}"
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise IFBenchInputError(f"{where}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise IFBenchInputError(f"{where}: not valid JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise IFBenchInputError(f'{where}: expected an object {{"prompt": ..., "response": ...}}')
    for name in ("prompt", "response"):
        if not isinstance(record.get(name), str):
            problem = "is missing" if name not in record else "is not a string"
            raise IFBenchInputError(f'{where}: field "{name}" {problem}; every line needs "prompt" and "response"')
    prompt = prompts.get(record["prompt"])
    if prompt is None:
        raise IFBenchInputError(
            f"{where}: the prompt does not match any IFBench test prompt exactly "
            f"(starts {record['prompt'][:60]!r}); copy the prompt text unchanged from the test set"
        )
    return prompt, record["response"]


def run(args: argparse.Namespace) -> int:
    """Score every response of ``args.responses`` into ``args.out`` and print a summary.

    Args:
        args: Parsed arguments with ``responses``, ``out`` and ``data`` (paths; ``data`` may be ``None``).

    Returns:
        0 on success.

    Raises:
        FileNotFoundError: The responses or test-set file does not exist.
        IFBenchInputError: A bad input line (the message names the file and line); lines before it are saved.
    """
    prompts = {prompt.prompt: prompt for prompt in _test_set(args.data)}
    if not args.responses.is_file():
        raise FileNotFoundError(f"responses file not found: {args.responses}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows, answered = [], set()
    with args.responses.open("rb") as lines, args.out.open("w", encoding="utf-8") as out:
        for line_number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                prompt, response = _read_response_line(args.responses, line_number, raw, prompts)
            except IFBenchInputError as err:
                raise IFBenchInputError(f"{err} ({len(rows)} scored lines before it are in {args.out})") from None
            result = score_ifbench_response(prompt, response)
            row = {"key": prompt.key, "prompt": prompt.prompt, **result_to_dict(result)}
            if row["error"] is None:
                del row["error"]
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            rows.append(row)
            answered.add(prompt.key)
    _print_summary(rows, len(prompts), len(answered), args.out)
    return 0


def _print_summary(rows: list[dict], n_test_prompts: int, n_answered: int, out: Path) -> None:
    import pandas as pd

    table = pd.DataFrame(rows, columns=["error", "follow_instruction_list_strict", "follow_instruction_list_loose"])
    accuracy = ifbench_accuracy(table)
    print(
        f"scored {accuracy['n']} responses into {out}: {accuracy['n_scored']} scorable, "
        f"{accuracy['n_unscorable']} unscorable; {n_answered} of {n_test_prompts} test prompts answered"
    )
    if accuracy["n_scored"]:
        print(
            f"prompt-level      strict {accuracy['prompt_level_strict']:.1%}  "
            f"loose {accuracy['prompt_level_loose']:.1%}   over the {accuracy['n_scored']} scorable prompts "
            "(headline: prompt-level strict)"
        )
        print(
            f"instruction-level strict {accuracy['instruction_level_strict']:.1%}  "
            f"loose {accuracy['instruction_level_loose']:.1%}   over their "
            f"{accuracy['n_instructions_scored']} constraints"
        )
    # errors start with the instruction id that made the prompt unscorable, e.g. "ratio:stop_words: ..."
    unscorable = Counter(":".join(row["error"].split(":")[:2]) for row in rows if row.get("error"))
    if unscorable:
        listing = ", ".join(f"{count} × {instruction_id}" for instruction_id, count in unscorable.most_common())
        print(f"unscorable (left out of the accuracies; reason in each line's error field): {listing}")
