"""IFBench: out-of-distribution verifiable output constraints, scored by rule-based checkers.

Source: the 294-prompt IFBench test release (Pyatkin et al., 2025; allenai/IFBench), ``data/ifbench/
IFBench_test.jsonl``. The checkers are called as the official evaluation calls them
(``persona_lib.datasets._ifbench_rules``).

Item fields: ``item_id`` is IFBench's ``key``; ``meta`` holds ``instruction_id_list`` (checker ids, e.g.
``count:keywords_multiple``) and ``kwargs`` (one dict of checker arguments per instruction, in the same order).
The file stores every possible argument for every instruction with ``null`` for the unused ones; those null
entries are dropped here, so each ``kwargs`` dict holds only the arguments its checker takes.
"""

from __future__ import annotations

from pathlib import Path

from persona_lib._records import DataFileError, iter_jsonl
from persona_lib.datasets._ifbench_rules import IFBENCH_SCORER_VERSION, score_ifbench_response
from persona_lib.datasets._registry import register_dataset
from persona_lib.datasets._scoring import RuleResult, mean_units, rule_scorer
from persona_lib.datasets._spec import BenchmarkItem, DatasetSpec, MetricSpec
from persona_lib.paths import data_dir


def default_path() -> Path:
    """The shipped prompt file."""
    return data_dir() / "ifbench" / "IFBench_test.jsonl"


def load(path: str | Path | None = None) -> list[BenchmarkItem]:
    """All IFBench prompts in file order.

    Args:
        path: A JSONL file with ``key, prompt, instruction_id_list, kwargs`` per line; defaults to the shipped file.

    Raises:
        DataFileError: for a truncated or malformed line (naming the line and field), mismatched
            ``instruction_id_list``/``kwargs`` lengths, or a duplicate key.
    """
    path = Path(path) if path is not None else default_path()
    items, seen = [], set()
    for record in iter_jsonl(path):
        item_id = str(record.integer("key"))
        if item_id in seen:
            raise record.error("key", f"duplicate key {item_id}; keys must be unique")
        seen.add(item_id)
        instruction_ids = record.text_list("instruction_id_list")
        raw_kwargs = record.sequence("kwargs")
        if len(raw_kwargs) != len(instruction_ids) or not all(isinstance(k, dict) for k in raw_kwargs):
            raise record.error(
                "kwargs",
                f"expected a list of {len(instruction_ids)} objects (one per instruction_id_list entry), "
                f"got {len(raw_kwargs)} entries",
            )
        kwargs = [{name: value for name, value in entry.items() if value is not None} for entry in raw_kwargs]
        items.append(
            BenchmarkItem(
                dataset="ifbench",
                item_id=item_id,
                prompt=record.text("prompt"),
                meta={"instruction_id_list": instruction_ids, "kwargs": kwargs},
            )
        )
    if not items:
        raise DataFileError(path, "no prompts")
    return items


def check_answer(item: BenchmarkItem, response: str) -> RuleResult:
    """Verify one answer in the four variants of the official evaluation.

    Passed when every constraint is followed, strictly (the metric ``ifbench`` behind curves and tables); further
    rows give the prompt-level loose verdict (``ifbench_loose``) and one verdict per constraint, strict and loose
    (``ifbench_instruction_strict``, ``ifbench_instruction_loose``: their unit means are instruction-level
    accuracies). The detail records the per-constraint results; a prompt whose checker cannot run here (missing NLTK
    data, a checker error) is unscorable with the reason, in every variant.
    """
    result = score_ifbench_response({"key": item.item_id, "prompt": item.prompt, **item.meta}, response)
    if not result.scorable:
        return RuleResult(None, str(result.error))
    strict, loose = result.follow_instruction_list_strict, result.follow_instruction_list_loose
    further = (
        ("ifbench_loose", bool(result.follow_all_instructions_loose)),
        *(("ifbench_instruction_strict", bool(passed)) for passed in strict),
        *(("ifbench_instruction_loose", bool(passed)) for passed in loose),
    )
    return RuleResult(bool(result.follow_all_instructions_strict), f"strict={strict} loose={loose}", further)


SPEC = register_dataset(
    DatasetSpec(
        name="ifbench",
        version=1,
        title="IFBench",
        source="IFBench test (Pyatkin et al., 2025; allenai/IFBench), data ODC-BY-1.0, code Apache-2.0",
        description="294 prompts, each with one or more verifiable output constraints (word counts, keyword "
        "frequencies, formats); an answer counts as correct when all of its constraints are met.",
        metrics=(
            MetricSpec("ifbench", "IFBench accuracy", "%", True,
                       "share of prompts whose every constraint is met (prompt-level, strict; behind every curve "
                       "and table)"),
            MetricSpec("ifbench_loose", "IFBench accuracy (loose)", "%", True,
                       "prompt-level, loose: a constraint also counts as met after removing markdown or the first "
                       "or last line"),
            MetricSpec("ifbench_instruction_strict", "IFBench instruction accuracy", "%", True,
                       "share of constraints met (instruction-level, strict)"),
            MetricSpec("ifbench_instruction_loose", "IFBench instruction accuracy (loose)", "%", True,
                       "share of constraints met (instruction-level, loose)"),
        ),
        load=load,
        rule_scores=rule_scorer(check_answer, version=IFBENCH_SCORER_VERSION),
        units=mean_units,
    )
)
