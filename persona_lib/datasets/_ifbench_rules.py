"""IFBench: rule-based verification of out-of-distribution instruction constraints.

The checkers are the maintained implementations packaged in PyPI ``if-verifiable`` (the IFBench instruction
registry of allenai/IFBench); this module only decides *how* they are called, so that scores match the official
IFBench evaluation:

* **strict**: the checker sees the response as given (after removing ``<think>`` spans);
* **loose** (the IFEval convention, reused from ``if_verifiable.common.get_loose_transformations``): the response
  is also tried with its first line removed, its last line removed, both removed, and each of those four with every
  ``*`` deleted; a constraint is followed loosely if any variant passes;
* an empty (or whitespace-only) response follows nothing;
* **prompt level**: a prompt counts as followed when all of its constraints are followed.

Two checkers need NLTK data that cannot be obtained offline (``ratio:stop_words`` needs the stop-word list,
``words:start_verb`` the POS tagger; 18 of the 294 test prompts use them). When that data is missing, a prompt
using one of them is **unscorable**: its result carries the reason in ``error`` and it is left out of the
accuracies (never counted as failed or passed). A checker that raises on a response is reported the same way.
``make assets`` installs the data with NLTK's own downloader where the network allows
(:func:`persona_lib.datasets._nltk_offline.install_optional_nltk_resources`), and those prompts are then scored
normally.

Scorer changelog (``IFBENCH_SCORER_VERSION``):
    1 (2026-11): first version; if-verifiable 0.1.2 checkers, official strict/loose variants.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from persona_lib._text import strip_think
from persona_lib.datasets._nltk_offline import ensure_nltk_data, missing_nltk_resources, nltk_downloads_disabled

IFBENCH_SCORER_VERSION = 1

#: NLTK resources each checker needs beyond the Punkt tokenizer (which :func:`ensure_nltk_data` provides).
_CHECKER_NLTK_RESOURCES = {
    "ratio:stop_words": ("corpora/stopwords",),
    "words:start_verb": ("taggers/averaged_perceptron_tagger_eng",),
}


class IFBenchInputError(ValueError):
    """Bad IFBench input: a malformed test-set row, a response line, or an unknown instruction id."""


@dataclass(frozen=True)
class IFBenchPrompt:
    """One IFBench test prompt with its verifiable constraints.

    Attributes:
        key: The prompt's id in the test set.
        prompt: The full prompt text shown to the model.
        instruction_id_list: The constraint ids, e.g. ``["count:keywords_multiple"]``.
        kwargs: One argument dict per constraint (``None`` values mean "not used").
    """

    key: str
    prompt: str
    instruction_id_list: tuple[str, ...]
    kwargs: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class IFBenchResult:
    """The verification of one response.

    Attributes:
        key: The prompt's id in the test set.
        instruction_id_list: The prompt's constraint ids.
        follow_instruction_list_strict: One bool per constraint (strict); ``None`` when unscorable.
        follow_instruction_list_loose: One bool per constraint (loose); ``None`` when unscorable.
        follow_all_instructions_strict: Prompt-level strict verdict; ``None`` when unscorable.
        follow_all_instructions_loose: Prompt-level loose verdict; ``None`` when unscorable.
        error: Why the prompt could not be scored, or ``None``.
    """

    key: str
    instruction_id_list: list[str]
    follow_instruction_list_strict: list[bool] | None
    follow_instruction_list_loose: list[bool] | None
    follow_all_instructions_strict: bool | None = None
    follow_all_instructions_loose: bool | None = None
    error: str | None = None
    scorer_version: int = field(default=IFBENCH_SCORER_VERSION)

    @property
    def scorable(self) -> bool:
        """Whether the response could be verified."""
        return self.error is None


@functools.cache
def _instruction_registry() -> Mapping[str, type]:
    """The IFBench checker classes by instruction id, imported with offline NLTK data in place."""
    ensure_nltk_data()
    with nltk_downloads_disabled():  # if-verifiable tries nltk.download at import time
        from if_verifiable.ifbench.instructions_registry import INSTRUCTION_DICT
    return INSTRUCTION_DICT


def known_instruction_ids() -> frozenset[str]:
    """Every IFBench instruction id the checkers implement."""
    return frozenset(_instruction_registry())


def to_ifbench_prompt(item_or_record: Any) -> IFBenchPrompt:
    """Validate and normalise one IFBench prompt.

    Args:
        item_or_record: An :class:`IFBenchPrompt`, a test-set row mapping (key, prompt, instruction_id_list,
            kwargs) or a benchmark item with ``item_id``, ``prompt`` and ``meta = {"instruction_id_list",
            "kwargs"}``.

    Returns:
        The prompt as an :class:`IFBenchPrompt`.

    Raises:
        IFBenchInputError: A field is missing, ids and kwargs do not pair up, or an instruction id is unknown.
    """
    if isinstance(item_or_record, IFBenchPrompt):
        return item_or_record
    if isinstance(item_or_record, Mapping):
        missing = [name for name in ("key", "prompt", "instruction_id_list", "kwargs") if name not in item_or_record]
        if missing:
            raise IFBenchInputError(
                f"IFBench record {item_or_record.get('key', '?')!r} lacks field(s) {missing}; "
                "a record needs key, prompt, instruction_id_list and kwargs"
            )
        return _make_prompt(
            item_or_record["key"],
            item_or_record["prompt"],
            item_or_record["instruction_id_list"],
            item_or_record["kwargs"],
        )
    meta = getattr(item_or_record, "meta", None)
    if isinstance(meta, Mapping) and "instruction_id_list" in meta and "kwargs" in meta:
        return _make_prompt(item_or_record.item_id, item_or_record.prompt, meta["instruction_id_list"], meta["kwargs"])
    raise IFBenchInputError(
        f"cannot score {type(item_or_record).__name__}: pass an IFBenchPrompt, a test-set row (key, prompt, "
        "instruction_id_list, kwargs) or a benchmark item whose meta holds instruction_id_list and kwargs"
    )


def _make_prompt(key: Any, prompt: str, instruction_id_list: Sequence[str], kwargs: Sequence[Mapping]) -> IFBenchPrompt:
    if len(instruction_id_list) != len(kwargs):
        raise IFBenchInputError(
            f"IFBench prompt {key!r}: instruction_id_list has {len(instruction_id_list)} ids but kwargs has "
            f"{len(kwargs)} dicts; they must pair up one to one"
        )
    registry = _instruction_registry()
    for instruction_id in instruction_id_list:
        if instruction_id not in registry:
            raise IFBenchInputError(
                f"IFBench prompt {key!r}: unknown instruction id {instruction_id!r}; "
                f"known ids are those of the IFBench registry ({len(registry)} ids, e.g. 'count:word_count_range')"
            )
    return IFBenchPrompt(str(key), prompt, tuple(instruction_id_list), tuple(dict(k or {}) for k in kwargs))


def _build_checker(instruction_id: str, kwargs: Mapping[str, Any], prompt: str) -> Any:
    """Instantiate and configure one checker the way the official IFBench evaluation does."""
    checker = _instruction_registry()[instruction_id](instruction_id)
    checker.build_description(**{name: value for name, value in kwargs.items() if value is not None})
    arguments = checker.get_instruction_args()
    if arguments and "prompt" in arguments:
        checker.build_description(prompt=prompt)
    return checker


def _unscorable_reason(instruction_ids: Iterable[str]) -> str | None:
    """Why these constraints cannot be checked here (missing NLTK data), or ``None``."""
    needs = [(i, resource) for i in instruction_ids for resource in _CHECKER_NLTK_RESOURCES.get(i, ())]
    if not needs:
        return None
    missing = missing_nltk_resources()
    return "; ".join(f"{i}: {missing[resource]}" for i, resource in needs if resource in missing) or None


def score_ifbench_response(item_or_record: Any, response: str) -> IFBenchResult:
    """Verify one response against the constraints of its IFBench prompt.

    ``<think>…</think>`` spans are removed first (:func:`persona_lib._text.strip_think`).

    Args:
        item_or_record: The prompt: an :class:`IFBenchPrompt`, a test-set row mapping (key, prompt,
            instruction_id_list, kwargs) or a benchmark item with ``item_id``, ``prompt`` and
            ``meta = {"instruction_id_list", "kwargs"}``.
        response: The model's answer.

    Returns:
        Strict and loose verdicts per constraint and for the prompt, or an unscorable result whose ``error`` says
        why (missing offline NLTK data, or a checker that raised).

    Raises:
        IFBenchInputError: The record is malformed or names an unknown instruction id.
    """
    prompt = to_ifbench_prompt(item_or_record)
    ids = list(prompt.instruction_id_list)
    reason = _unscorable_reason(ids)
    if reason:
        return IFBenchResult(prompt.key, ids, None, None, error=reason)

    from if_verifiable.common import get_loose_transformations

    text = strip_think(response)
    # the loose variants without duplicates or the original (which the strict check already tried)
    loose_variants = [v for v in dict.fromkeys(get_loose_transformations(text)) if v.strip() and v != text]
    strict, loose = [], []
    for instruction_id, kwargs in zip(ids, prompt.kwargs):
        try:
            checker = _build_checker(instruction_id, kwargs, prompt.prompt)
            followed_strictly = bool(text.strip()) and bool(checker.check_following(text))
            strict.append(followed_strictly)
            loose.append(followed_strictly or any(checker.check_following(v) for v in loose_variants))
        except Exception as err:  # noqa: BLE001 - a crashing checker makes the prompt unscorable, not failed
            if type(err) is LookupError:  # how NLTK reports data that is not installed
                reason = f"{instruction_id}: missing NLTK data: {' '.join(str(err).split())}"
            else:
                reason = f"{instruction_id}: checker raised {type(err).__name__}: {err}"
            return IFBenchResult(prompt.key, ids, None, None, error=reason)
    return IFBenchResult(prompt.key, ids, strict, loose, all(strict), all(loose))


def score_ifbench(records: Iterable[tuple[str, str, Sequence[str], Sequence[Mapping[str, Any]], str]]) -> pd.DataFrame:
    """Verify many responses.

    Args:
        records: ``(key, prompt, instruction_id_list, kwargs, response)`` tuples.

    Returns:
        One row per record with columns ``key``, ``instruction_id_list``, ``follow_instruction_list_strict``,
        ``follow_instruction_list_loose``, ``follow_all_instructions_strict``, ``follow_all_instructions_loose``,
        ``error`` and ``scorer_version``.

    Raises:
        IFBenchInputError: A record is malformed or names an unknown instruction id.
    """
    rows = []
    for key, prompt, instruction_id_list, kwargs, response in records:
        result = score_ifbench_response(
            {"key": key, "prompt": prompt, "instruction_id_list": instruction_id_list, "kwargs": kwargs}, response
        )
        rows.append(result_to_dict(result))
    columns = list(IFBenchResult.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns)


def result_to_dict(result: IFBenchResult) -> dict[str, Any]:
    """A plain, JSON-ready dict of an :class:`IFBenchResult`."""
    return {name: getattr(result, name) for name in IFBenchResult.__dataclass_fields__}


def ifbench_accuracy(scores: pd.DataFrame) -> dict[str, float | int]:
    """Accuracies over the scorable prompts of a :func:`score_ifbench` table.

    The book's headline IFBench number is **prompt-level strict** accuracy (``prompt_level_strict``) over the
    scored prompts; the study's released accuracies are over all 294 test prompts (multiples of 1/294), so they
    are directly comparable only when ``n_unscorable`` is 0.

    Args:
        scores: The table returned by :func:`score_ifbench`.

    Returns:
        ``prompt_level_strict``, ``prompt_level_loose`` (share of prompts with every constraint followed),
        ``instruction_level_strict``, ``instruction_level_loose`` (share of constraints followed), all in [0, 1]
        and NaN when nothing was scorable, plus the counts ``n`` (rows), ``n_scored`` and ``n_unscorable``
        (prompts) and ``n_instructions_scored`` (the constraints of the scored prompts: the denominator of the
        instruction-level accuracies).
    """
    scored = scores[scores["error"].isna()]
    strict_lists = list(scored["follow_instruction_list_strict"])
    loose_lists = list(scored["follow_instruction_list_loose"])
    n_instructions = sum(len(flags) for flags in strict_lists)

    def share(numerator: float, denominator: int) -> float:
        return numerator / denominator if denominator else math.nan

    return {
        "prompt_level_strict": share(sum(all(flags) for flags in strict_lists), len(scored)),
        "prompt_level_loose": share(sum(all(flags) for flags in loose_lists), len(scored)),
        "instruction_level_strict": share(sum(sum(flags) for flags in strict_lists), n_instructions),
        "instruction_level_loose": share(sum(sum(flags) for flags in loose_lists), n_instructions),
        "n": len(scores),
        "n_scored": len(scored),
        "n_unscorable": len(scores) - len(scored),
        "n_instructions_scored": n_instructions,
    }


def load_ifbench_prompts(path: str | Path) -> list[IFBenchPrompt]:
    """Read an IFBench test-set JSONL file (key, prompt, instruction_id_list, kwargs per line).

    Args:
        path: The JSONL file, e.g. ``data/ifbench/IFBench_test.jsonl``.

    Returns:
        The prompts in file order.

    Raises:
        FileNotFoundError: The file does not exist.
        IFBenchInputError: A line is not JSON, lacks a field or names an unknown instruction id; the message
            names the file and line.
    """
    path = Path(path)
    prompts = []
    with path.open("rb") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as err:
                raise IFBenchInputError(f"{path}, line {line_number}: not UTF-8 text ({err.reason})") from None
            except json.JSONDecodeError as err:
                raise IFBenchInputError(f"{path}, line {line_number}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise IFBenchInputError(f"{path}, line {line_number}: expected a JSON object, got {type(row).__name__}")
            try:
                prompts.append(to_ifbench_prompt(row))
            except IFBenchInputError as err:
                raise IFBenchInputError(f"{path}, line {line_number}: {err}") from None
    return prompts
