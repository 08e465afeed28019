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

import pandas as pd

from persona_lib._records import DataFileError, iter_jsonl
from persona_lib.datasets._ifbench_rules import IFBENCH_SCORER_VERSION, score_ifbench_response
from persona_lib.datasets._registry import register_dataset
from persona_lib.datasets._scoring import RuleResult, mean_units, rule_scorer
from persona_lib.datasets._spec import BenchmarkItem, DatasetSpec, MetricSpec, ScoringInputs
from persona_lib.paths import data_dir

#: The metric of each prompt-level variant: ``strict`` checks the response as given, ``loose`` also after removing
#: its first or last line or its asterisks (the official IFBench evaluation reports both).
PROMPT_LEVEL_METRICS = {"strict": "ifbench", "loose": "ifbench_loose"}

#: The IFBench variant that the study's published IFBench numbers are compared with, everywhere: the released
#: accuracies (``data/released/ifbench_results.json``, loaded as metric ``ifbench``), the re-score of the released
#: answers (:func:`persona_lib.authors_release.ifbench_variant_summary`) and the IFBench rows of Tables 5 and 6
#: fitted on a run's units (:data:`persona_lib.reproduce.TABLE_METRICS`).
#:
#: *Prompt-level* is established by the release: each of its 1,260 accuracies is a multiple of 1/294 (prompts),
#: none of 1/335 (constraints), and only 10 of 1/276, so the authors scored all 294 prompts, the 18 that need
#: NLTK's stop-word list or POS tagger included. *Strict* rather than loose is an assumption the shipped data
#: cannot settle: the release holds one number per cell and no per-prompt IFBench verdicts, the authors' code has
#: no IFBench scoring step, and the two released answers in the test fixture fail in both variants. Strict is this
#: project's headline variant (the metric ``ifbench``). ``persona-eval reproduce --authors-repo PATH`` re-scores
#: every released answer in both variants and reports which one reproduces the release (``ifbench_variants.csv``);
#: if that is ``loose``, change this constant.
RELEASED_IFBENCH_VARIANT = "strict"

#: The metric a run's IFBench units are compared with the published numbers on.
RELEASED_IFBENCH_METRIC = PROMPT_LEVEL_METRICS[RELEASED_IFBENCH_VARIANT]


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
    verdicts = (result.follow_all_instructions_loose, *strict, *loose)
    further = tuple(zip(_further_metrics(len(strict)), map(bool, verdicts)))
    return RuleResult(bool(result.follow_all_instructions_strict), f"strict={strict} loose={loose}", further)


def _further_metrics(n_constraints: int) -> tuple[str, ...]:
    """The metric of each further verdict row of a prompt with ``n_constraints`` constraints, in row order."""
    return (
        "ifbench_loose",
        *("ifbench_instruction_strict",) * n_constraints,
        *("ifbench_instruction_loose",) * n_constraints,
    )


_check_answers = rule_scorer(check_answer, version=IFBENCH_SCORER_VERSION)


def score_answers(inputs: ScoringInputs) -> pd.DataFrame:
    """The scores table rows of every IFBench answer (:func:`check_answer`), unscored prompts counted in every variant.

    A prompt that is not scored (``unscorable``: its checker cannot run here; ``no_response``: no answer) gets a row
    of the same status and reason for each variant too, numbered like the verdict rows of a scored prompt
    (``<item_id>#<n>``), so that every IFBench unit counts it in ``n_unscored``: the prompt-level variants once, the
    instruction-level ones once per constraint.
    """
    scores = _check_answers(inputs)
    rows = [
        {**row, "metric": metric, "item_id": f"{row['item_id']}#{number}"}
        for row in scores[scores["parse_status"] != "ok"].to_dict("records")
        for number, metric in enumerate(
            _further_metrics(len(inputs.items[row["item_id"]].meta["instruction_id_list"])), start=1
        )
    ]
    return pd.concat([scores, pd.DataFrame(rows, columns=scores.columns)], ignore_index=True) if rows else scores


def accuracy_table(units: pd.DataFrame) -> pd.DataFrame:
    """IFBench accuracies of a run in every variant, each with the counts it is computed over.

    Args:
        units: Unit scores (:func:`persona_lib.scoring.protocol_units`); rows of other datasets are ignored.

    Returns:
        One row per dialogue kind, checkpoint and condition; columns ``(quantity, metric)`` for each IFBench metric
        with quantity ``score`` (0-100), ``n_scored`` (the prompts the accuracy is computed over: constraints for
        the instruction-level metrics) and ``n_unscored`` (asked but left out: the checker could not run here, or
        the model gave no answer).
    """
    part = units[units["dataset"] == "ifbench"].rename(columns={"n_items": "n_scored"})
    quantities = ["score", "n_scored", "n_unscored"]
    table = part.pivot_table(
        index=["kind", "checkpoint", "condition"], columns="metric", values=quantities, aggfunc="first", sort=True
    )
    metrics = [metric.name for metric in SPEC.metrics if metric.name in set(part["metric"])]
    return table.reindex(columns=pd.MultiIndex.from_product([quantities, metrics], names=[None, "metric"]))


SPEC = register_dataset(
    DatasetSpec(
        name="ifbench",
        version=1,
        title="IFBench",
        source="IFBench test (Pyatkin et al., 2025; allenai/IFBench), data ODC-BY-1.0, code Apache-2.0",
        description="294 prompts, each with one or more verifiable output constraints (word counts, keyword "
        "frequencies, formats); an answer counts as correct when all of its constraints are met.",
        metrics=(
            MetricSpec(
                "ifbench",
                "IFBench accuracy",
                "%",
                True,
                "share of prompts whose every constraint is met (prompt-level, strict; behind every curve and table)",
            ),
            MetricSpec(
                "ifbench_loose",
                "IFBench accuracy (loose)",
                "%",
                True,
                "prompt-level, loose: a constraint also counts as met after removing markdown or the first "
                "or last line",
            ),
            MetricSpec(
                "ifbench_instruction_strict",
                "IFBench instruction accuracy",
                "%",
                True,
                "share of constraints met (instruction-level, strict)",
            ),
            MetricSpec(
                "ifbench_instruction_loose",
                "IFBench instruction accuracy (loose)",
                "%",
                True,
                "share of constraints met (instruction-level, loose)",
            ),
        ),
        load=load,
        rule_scores=score_answers,
        units=mean_units,
        release_prefix="ifbench",
    )
)
