"""The file-name grammar of the release's ``results/`` folder (``metrics/`` and ``generations/``: ``_names``).

``results/`` holds the authors' derived tables: four named files directly in it (:data:`RESULTS_FILES`), and one
file per model, dataset, dialogue kind and condition under ``results/premise/``::

    premise_<model>_[inst-]<dataset>_<Persona>[_last_round].csv

``<dataset>`` is a benchmark token (:data:`PREMISE_DATASETS`), ``inst-`` marks the goal-oriented dialogue,
``<Persona>`` a persona with spaces written as underscores or ``empty`` for the baseline, and ``_last_round`` a file
about the last round only. Model names may hold underscores (``Llama-3_3-Nemotron-Super-49B-v1``), so the dataset
token, not the first underscore, ends the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from persona_lib.authors_release._names import ReleaseNameError, _condition
from persona_lib.released import GOAL_ORIENTED, PERSONA_DIRECTED

#: The files directly in ``results/``.
RESULTS_FILES: tuple[str, ...] = ("all_ratings.pkl", "bfi_ratings.csv", "ifbench_results.json", "round_lengths.csv")
#: The benchmark tokens of ``results/premise/`` file names.
PREMISE_DATASETS: tuple[str, ...] = ("bfi", "ifbench", "instruction_general", "instruction_role_specific", "xstest")
_PREMISE = re.compile(
    rf"premise_(?P<model>.+?)_(?P<inst>inst-)?(?P<dataset>{'|'.join(PREMISE_DATASETS)})_"
    r"(?P<condition>.+?)(?P<last_round>_last_round)?\.csv"
)


@dataclass(frozen=True)
class ResultsFile:
    """What a ``results/`` file's path says.

    Attributes:
        path: Path relative to the repository root.
        name: The file name.
        model: The model a premise file is about (``None`` for the files directly in ``results/``).
        dataset: Its benchmark token.
        kind: ``persona_directed`` or ``goal_oriented``.
        condition: A persona name (with spaces) or ``empty``.
        last_round: True for a file about the last round only.
    """

    path: str
    name: str
    model: str | None = None
    dataset: str | None = None
    kind: str | None = None
    condition: str | None = None
    last_round: bool = False


def parse_results_path(relative_path: str | PurePosixPath) -> ResultsFile:
    """Read what a ``results/`` file's path says (see the module docstring for the grammar).

    Raises:
        ReleaseNameError: naming the file and the expected forms, for any other path.
    """
    path = PurePosixPath(relative_path)
    parts = path.parts
    if len(parts) == 2 and parts[0] == "results" and parts[1] in RESULTS_FILES:
        return ResultsFile(str(path), parts[1])
    if len(parts) == 3 and parts[:2] == ("results", "premise"):
        match = _PREMISE.fullmatch(parts[2])
        if match is None:
            raise ReleaseNameError(
                path,
                "expected 'premise_<model>_[inst-]<dataset>_<Persona>[_last_round].csv' with a dataset of "
                f"{', '.join(PREMISE_DATASETS)}",
            )
        return ResultsFile(
            str(path),
            parts[2],
            model=match["model"],
            dataset=match["dataset"],
            kind=GOAL_ORIENTED if match["inst"] else PERSONA_DIRECTED,
            condition=_condition(match["condition"], path),
            last_round=bool(match["last_round"]),
        )
    raise ReleaseNameError(path, f"expected 'results/<{'|'.join(RESULTS_FILES)}>' or 'results/premise/premise_...csv'")
