"""Loaders for the results the study's authors released (``data/released/``).

Two files are read here (the human-validation ``sampled_*_ratings.csv`` files belong to ``persona_lib.judging``):

* ``ifbench_results.json`` -- IFBench accuracy per model, keyed ``<ifbench|inst-ifbench>_<persona>_<round>``.
  ``ifbench`` is the persona-directed dialogue, ``inst-ifbench`` the goal-oriented one; persona ``empty`` is the
  no-persona baseline. Every value is a fraction k/294 of the IFBench test prompts.
* ``round_lengths.csv`` -- tokens in the dialogue prefix before each round, per model, persona and dialogue kind.

Both come back in the long, unit-level format of the project's scores table (one row per model x condition x
kind x checkpoint x metric, ``score`` on the 0-100 scale), so the same ``persona_lib.stats`` functions analyse the
authors' numbers and ours. Model metadata (family and the size code the study regresses on) is in
:data:`MODEL_INFO`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from persona_lib._records import DataFileError, read_csv_records, read_json
from persona_lib.paths import released_dir
from persona_lib.personas import BASELINE

PERSONA_DIRECTED = "persona_directed"
GOAL_ORIENTED = "goal_oriented"

#: The checkpoints (rounds of dialogue before the item) at which the study evaluated: int(linspace(0, 102, 10)).
CHECKPOINTS: tuple[int, ...] = (0, 11, 22, 34, 45, 56, 68, 79, 90, 102)

#: The eight personas of the study, as written in ``roles.json`` and ``round_lengths.csv``.
PERSONAS: tuple[str, ...] = (
    "Blair Waldorf",
    "Gaston",
    "HAL 9000",
    "Juno MacGuff",
    "Lestat de Lioncourt",
    "Mary Sibley",
    "Michael Scott",
    "Queen Catherine",
)

#: Number of IFBench test prompts behind every released accuracy.
IFBENCH_PROMPTS = 294

_KIND_BY_PREFIX = {"ifbench": PERSONA_DIRECTED, "inst-ifbench": GOAL_ORIENTED}
_SCORE_COLUMNS = ["model", "condition", "persona", "kind", "checkpoint", "dataset", "metric", "score"]


@dataclass(frozen=True)
class ModelInfo:
    """What the analysis needs to know about one model of the study.

    Attributes:
        family: Model family (``gemma``, ``nemotron``, ``qwen``, ``gemini``).
        size: The study's size code: 1 = the small model of its family, 2 = the large one, 3 = Gemini.
        display_name: Short name used in figures.
    """

    family: str
    size: int
    display_name: str


#: The seven models of the study, keyed as in the released files, in the order the paper lists them.
MODEL_INFO: dict[str, ModelInfo] = {
    "gemma-3-4b-it": ModelInfo("gemma", 1, "Gemma3-4B"),
    "gemma-3-27b-it": ModelInfo("gemma", 2, "Gemma3-27B"),
    "Llama-3.1-Nemotron-Nano-8B-v1": ModelInfo("nemotron", 1, "Nemotron-8B"),
    "Llama-3_3-Nemotron-Super-49B-v1": ModelInfo("nemotron", 2, "Nemotron-49B"),
    "Qwen3-4B-Instruct-2507": ModelInfo("qwen", 1, "Qwen3-4B"),
    "Qwen3-30B-A3B-Instruct-2507": ModelInfo("qwen", 2, "Qwen3-30B"),
    "gemini-2.5-flash": ModelInfo("gemini", 3, "Gemini-2.5-Flash"),
}


def model_metadata() -> pd.DataFrame:
    """The study's models as a table: ``model, family, size, display_name`` (paper order)."""
    return pd.DataFrame(
        [
            {"model": model, "family": info.family, "size": info.size, "display_name": info.display_name}
            for model, info in MODEL_INFO.items()
        ]
    )


def with_model_metadata(table: pd.DataFrame, models: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add ``family``, ``size`` and ``display_name`` columns to a table with a ``model`` column.

    Args:
        table: Any table with a ``model`` column.
        models: Metadata with columns ``model, family, size`` (default: :func:`model_metadata`), e.g. for new
            runs with other models.

    Raises:
        ValueError: if a model of ``table`` has no metadata (names the models and how to supply them).
    """
    models = model_metadata() if models is None else models
    unknown = sorted(set(table["model"]) - set(models["model"]))
    if unknown:
        raise ValueError(
            f"no family/size metadata for model(s) {', '.join(unknown)}; pass models= a table with columns "
            "model, family, size (size 1 = small of its family, 2 = large, 3 = API model)"
        )
    extra = [column for column in models.columns if column != "model" and column not in table.columns]
    return table.merge(models[["model", *extra]], on="model", how="left", validate="many_to_one")


def _parse_ifbench_key(key: str, path: Path, model: str) -> tuple[str, str, int]:
    where = f"model '{model}', key '{key}'"
    prefix, _, rest = key.partition("_")
    condition, _, round_text = rest.rpartition("_")
    if prefix not in _KIND_BY_PREFIX or not condition or not round_text:
        raise DataFileError(
            path,
            "expected a key '<ifbench|inst-ifbench>_<persona>_<round>', e.g. 'ifbench_Blair_Waldorf_11'",
            where=where,
        )
    if not round_text.isdecimal() or int(round_text) not in CHECKPOINTS:
        raise DataFileError(
            path, f"round {round_text!r} is not one of the study's checkpoints {list(CHECKPOINTS)}", where=where
        )
    condition = condition.replace("_", " ")
    if condition != BASELINE and condition not in PERSONAS:
        raise DataFileError(
            path, f"unknown persona {condition!r}; expected 'empty' or one of {', '.join(PERSONAS)}", where=where
        )
    return _KIND_BY_PREFIX[prefix], condition, int(round_text)


def load_ifbench_results(path: str | Path | None = None) -> pd.DataFrame:
    """Load the released IFBench accuracies as a unit-level scores table.

    Args:
        path: The JSON file (default: ``data/released/ifbench_results.json``).

    Returns:
        One row per model x condition x kind x checkpoint with columns ``model, condition, persona, kind,
        checkpoint, dataset, metric, score``; ``condition`` is a persona name or ``"empty"`` (baseline),
        ``persona`` is the persona name or ``None`` for the baseline, ``dataset`` and ``metric`` are
        ``"ifbench"`` and ``score`` is the accuracy in percent (0-100).

    Raises:
        DataFileError: on a missing file, a model that is not an object, a malformed key, an accuracy outside
            [0, 1], or a model whose keys do not cover every kind x condition x checkpoint exactly once.
    """
    path = Path(path) if path is not None else released_dir() / "ifbench_results.json"
    data = read_json(path)
    if not isinstance(data, dict) or not data:
        raise DataFileError(path, "expected a JSON object mapping model names to {key: accuracy} objects")
    rows = []
    expected_keys = 2 * (len(PERSONAS) + 1) * len(CHECKPOINTS)
    for model, values in data.items():
        if not isinstance(values, dict):
            raise DataFileError(
                path, "expected an object of '<dataset>_<persona>_<round>': accuracy", where=f"model '{model}'"
            )
        if len(values) != expected_keys:
            raise DataFileError(
                path,
                f"expected {expected_keys} keys (2 kinds x 9 conditions x 10 checkpoints), found {len(values)}",
                where=f"model '{model}'",
            )
        for key, accuracy in values.items():
            kind, condition, checkpoint = _parse_ifbench_key(key, path, model)
            if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)) or not 0 <= accuracy <= 1:
                raise DataFileError(
                    path,
                    f"expected an accuracy between 0 and 1, got {accuracy!r}",
                    where=f"model '{model}', key '{key}'",
                )
            rows.append(
                {
                    "model": model,
                    "condition": condition,
                    "persona": None if condition == BASELINE else condition,
                    "kind": kind,
                    "checkpoint": checkpoint,
                    "dataset": "ifbench",
                    "metric": "ifbench",
                    "score": 100.0 * float(accuracy),
                }
            )
    table = pd.DataFrame(rows, columns=_SCORE_COLUMNS)
    duplicated = table.duplicated(["model", "condition", "kind", "checkpoint"])
    if duplicated.any():
        first = table[duplicated].iloc[0]
        raise DataFileError(
            path,
            f"two keys name the same cell ({first['kind']}, {first['condition']}, round {first['checkpoint']})",
            where=f"model '{first['model']}'",
        )
    return table.sort_values(["model", "kind", "condition", "checkpoint"], ignore_index=True)


def load_round_lengths(path: str | Path | None = None) -> pd.DataFrame:
    """Load the released prefix lengths (tokens in the dialogue before each round) in long format.

    Args:
        path: The CSV file (default: ``data/released/round_lengths.csv``).

    Returns:
        Columns ``model, condition, kind, round, prefix_tokens``: one row per model x condition x dialogue kind
        x round 0-102. Merge on ``round == checkpoint`` to attach lengths to a scores table (see
        :func:`persona_lib.stats.attach_prefix_tokens`).

    Raises:
        DataFileError: on a missing column, a non-integer or negative count (naming line and field), or a
            prefix that shrinks from one round to the next.
    """
    path = Path(path) if path is not None else released_dir() / "round_lengths.csv"
    columns = {"n_tokens_persona_directed": PERSONA_DIRECTED, "n_tokens_goal_oriented": GOAL_ORIENTED}
    records = read_csv_records(path, ["model", "role", "pos", *columns])
    rows = []
    for record in records:
        model, condition, round_number = record.text("model"), record.text("role"), record.integer("pos")
        if round_number < 0:
            raise record.error("pos", f"expected a round number >= 0, got {round_number}")
        for column, kind in columns.items():
            tokens = record.integer(column)
            if tokens < 0:
                raise record.error(column, f"expected a token count >= 0, got {tokens}")
            rows.append((model, condition, kind, round_number, tokens))
    table = pd.DataFrame(rows, columns=["model", "condition", "kind", "round", "prefix_tokens"])
    table = table.sort_values(["model", "condition", "kind", "round"], ignore_index=True)
    shrinking = table.groupby(["model", "condition", "kind"])["prefix_tokens"].diff() < 0
    if shrinking.any():
        bad = table[shrinking].iloc[0]
        raise DataFileError(
            path,
            f"prefix length shrinks at round {bad['round']} ({bad['kind']}); lengths must be cumulative",
            where=f"model '{bad['model']}', role '{bad['condition']}'",
        )
    return table


def final_prefix_range(path: str | Path | None = None) -> tuple[int, int]:
    """The shortest and the longest dialogue prefix of the study after its last round (round 102), in tokens.

    The one source of the context lengths the book and the configurations quote: over every model, condition and
    dialogue kind of :func:`load_round_lengths`.

    Args:
        path: The CSV file (default: ``data/released/round_lengths.csv``).

    Returns:
        ``(shortest, longest)`` prefix at the largest round in the file.
    """
    lengths = load_round_lengths(path)
    last = lengths[lengths["round"] == lengths["round"].max()]["prefix_tokens"]
    return int(last.min()), int(last.max())
