"""The file-name grammar of the authors' repository (``metrics/`` and ``generations/``).

Judge outputs live at ``metrics/<folder>/<judge>/<model>/<file>``, model answers at ``generations/<model>/<file>``.
``<folder>`` is one of :data:`FOLDERS`; ``<judge>`` is the judge's model name (``Selene-1-Mini-Llama-3.1-8B``,
``Flow-Judge-v0.1``); ``<Persona>`` is a persona's name with spaces written as underscores (``Blair_Waldorf``),
or ``empty`` for the no-persona baseline; ``<round>`` is a checkpoint (0, 11, ..., 102).

Benchmark files (``bfi``, ``xstest``, ``instruction_role_specific``, ``instruction_general``; generations also
``ifbench``)::

    [inst-]<dataset>_<Persona>_<round>.json.csv                  judge outputs for one model, condition, round
    [inst-]<dataset>_<Persona>_<round>.json_zero_reference.csv   pairwise only: the reference answer is the
                                                                 model's own answer at round 0
    [inst-]<dataset>_<Persona>_<round>.json_previous_reference.csv   ... its answer at the previous round
    [inst-]<dataset>_empty_<round>.json-<Reference Persona>.csv  pairwise baseline, judged on the questions and
                                                                 reference answers of one persona
    [inst-]<dataset>_<Persona>_<round>.json                      generations: the model's answers

The ``inst-`` prefix marks the goal-oriented dialogue (PRISM requests); without it the prefix dialogue is the
persona-directed interview.

Dialogue files (folders ``knowledge``, ``style``, ``in_character``: the three fidelity criteria)::

    <interview|instructions>_<Persona>[_shuffle].json.csv               one row per dialogue turn
    <interview|instructions>_empty[_shuffle].json-<Reference Persona>.csv   the baseline's turns, judged against
                                                                        one persona's description
    <interview|instructions>_<Persona>[_shuffle].json                   generations: the dialogue itself

``interview`` is the persona-directed dialogue, ``instructions`` the goal-oriented one; ``_shuffle`` marks the
replicate asked in shuffled order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from persona_lib.datasets import dataset_names, get_dataset
from persona_lib.personas import BASELINE, STUDY_PERSONAS
from persona_lib.released import CHECKPOINTS, GOAL_ORIENTED, PERSONA_DIRECTED


def _release_folders() -> dict[str, tuple[str, str]]:
    """Every ``metrics/`` folder of the release -> (this project's dataset, verdict kind), from the registry: each
    dataset spec names its release folders and its judge template says the verdict."""
    folders = {}
    for name in dataset_names():
        spec = get_dataset(name)
        if spec.release_folders and spec.judge_templates:
            folders.update({folder: (spec.name, spec.judge_templates[0].verdict) for folder in spec.release_folders})
    return folders


#: metrics/ folder -> (this project's dataset name, verdict kind).
FOLDERS: dict[str, tuple[str, str]] = _release_folders()
#: The folders of the judged dialogue turns (a dataset judged over the dialogues, not asked at checkpoints).
DIALOGUE_FOLDERS: tuple[str, ...] = tuple(
    folder for folder, (dataset, _) in FOLDERS.items() if not get_dataset(dataset).asked_at_checkpoints
)
PAIRWISE_FOLDERS: tuple[str, ...] = tuple(folder for folder, (_, kind) in FOLDERS.items() if kind == "pairwise")
#: Benchmarks that have generation files (IFBench is scored by rule, so it has no metrics/ folder).
GENERATION_DATASETS: tuple[str, ...] = tuple(
    spec.release_prefix for spec in map(get_dataset, dataset_names()) if spec.release_prefix
)
_KIND_BY_CONVERSATION = {"interview": PERSONA_DIRECTED, "instructions": GOAL_ORIENTED}
_REFERENCE_BY_SUFFIX = {"": "dataset", "_zero_reference": "zero", "_previous_reference": "previous"}
_BENCHMARK = re.compile(
    r"(?P<condition>.+)_(?P<round>\d+)\.json"
    r"(?:(?P<suffix>_zero_reference|_previous_reference)?\.csv|-(?P<reference_persona>[^/]+)\.csv)?"
)
_DIALOGUE = re.compile(
    r"(?P<conversation>interview|instructions)_(?P<condition>.+?)(?P<shuffle>_shuffle)?\.json"
    r"(?:\.csv|-(?P<reference_persona>[^/]+)\.csv)?"
)
_BENCHMARK_FORMS = (
    "'[inst-]<dataset>_<Persona>_<round>.json.csv', '..._<round>.json_zero_reference.csv', "
    "'..._<round>.json_previous_reference.csv' or '[inst-]<dataset>_empty_<round>.json-<Reference Persona>.csv'"
)
_DIALOGUE_FORMS = (
    "'<interview|instructions>_<Persona>[_shuffle].json.csv' or "
    "'<interview|instructions>_empty[_shuffle].json-<Reference Persona>.csv'"
)


class ReleaseNameError(ValueError):
    """A file in the authors' repository whose path does not follow the documented grammar."""

    def __init__(self, path: str | PurePosixPath, problem: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class ReleaseFile:
    """What a file's path says about its contents.

    Attributes:
        path: Path relative to the repository root (``/``-separated).
        folder: The ``metrics/`` folder, or the dataset token of a generations file (``ifbench``, ``interview``).
        dataset: This project's dataset name (``fidelity``, ``bfi``, ``rolebench_specific``,
            ``rolebench_general``, ``xstest``, ``ifbench``).
        criterion: The fidelity criterion (``knowledge``, ``style``, ``in_character``) for dialogue files.
        judge: The judge folder (``None`` for generations).
        model: The model that answered.
        kind: ``persona_directed`` or ``goal_oriented``.
        condition: A persona name (with spaces) or ``empty``.
        checkpoint: The round the item was asked after (``None`` for dialogue files: their rows are the turns).
        replicate: ``original`` or ``shuffled`` for dialogue files, ``None`` otherwise.
        reference: Which reference answer a pairwise verdict compares with: ``dataset`` (RoleBench's),
            ``zero`` (the model's own round-0 answer) or ``previous`` (its answer at the previous round);
            ``dataset`` for every non-pairwise file.
        reference_persona: For baseline files judged against one persona (pairwise benchmarks and dialogues),
            that persona; ``None`` otherwise.
    """

    path: str
    folder: str
    dataset: str
    criterion: str | None
    judge: str | None
    model: str
    kind: str
    condition: str
    checkpoint: int | None
    replicate: str | None
    reference: str
    reference_persona: str | None

    @property
    def is_dialogue(self) -> bool:
        """True for the dialogue-turn files (fidelity criteria, or a dialogue in generations/)."""
        return self.checkpoint is None


def _condition(token: str, path: PurePosixPath) -> str:
    name = token.replace("_", " ")
    if name != BASELINE and name not in STUDY_PERSONAS:
        raise ReleaseNameError(
            path,
            f"unknown persona {token!r}; expected 'empty' or one of {', '.join(STUDY_PERSONAS)} "
            "(spaces written as underscores)",
        )
    return name


def _reference_persona(token: str | None, condition: str, path: PurePosixPath) -> str | None:
    if token is None:
        judged_per_persona = path.parts[0] == "metrics" and path.parts[1] in (*DIALOGUE_FOLDERS, *PAIRWISE_FOLDERS)
        if condition == BASELINE and judged_per_persona:
            raise ReleaseNameError(
                path, "a baseline file here must name its reference persona: '...json-<Persona>.csv'"
            )
        return None
    if condition != BASELINE:
        raise ReleaseNameError(path, f"only baseline ('empty') files name a reference persona, got {token!r}")
    if token not in STUDY_PERSONAS:
        raise ReleaseNameError(
            path, f"unknown reference persona {token!r}; expected one of {', '.join(STUDY_PERSONAS)}"
        )
    return token


def _benchmark(path: PurePosixPath, name: str, folder: str, judge: str | None, model: str) -> ReleaseFile:
    kind = GOAL_ORIENTED if name.startswith("inst-") else PERSONA_DIRECTED
    rest = name.removeprefix("inst-")
    if not rest.startswith(f"{folder}_"):
        raise ReleaseNameError(path, f"expected the name to start with '[inst-]{folder}_'; forms: {_BENCHMARK_FORMS}")
    match = _BENCHMARK.fullmatch(rest[len(folder) + 1 :])
    is_metric = judge is not None
    if match is None or (is_metric != name.endswith(".csv")):
        forms = _BENCHMARK_FORMS if is_metric else "'[inst-]<dataset>_<Persona>_<round>.json'"
        raise ReleaseNameError(path, f"cannot read the name; expected {forms}")
    checkpoint = int(match["round"])
    if checkpoint not in CHECKPOINTS:
        raise ReleaseNameError(path, f"round {checkpoint} is not one of the study's checkpoints {list(CHECKPOINTS)}")
    condition = _condition(match["condition"], path)
    reference = _REFERENCE_BY_SUFFIX[match["suffix"] or ""]
    if reference != "dataset" and folder not in PAIRWISE_FOLDERS:
        raise ReleaseNameError(path, f"self-reference variants exist only for {', '.join(PAIRWISE_FOLDERS)}")
    return ReleaseFile(
        path=str(path),
        folder=folder,
        dataset=FOLDERS.get(folder, (folder, ""))[0],
        criterion=None,
        judge=judge,
        model=model,
        kind=kind,
        condition=condition,
        checkpoint=checkpoint,
        replicate=None,
        reference=reference,
        reference_persona=_reference_persona(match["reference_persona"], condition, path),
    )


def _dialogue(path: PurePosixPath, name: str, folder: str | None, judge: str | None, model: str) -> ReleaseFile:
    match = _DIALOGUE.fullmatch(name)
    is_metric = judge is not None
    if match is None or (is_metric != name.endswith(".csv")):
        forms = _DIALOGUE_FORMS if is_metric else "'<interview|instructions>_<Persona>[_shuffle].json'"
        raise ReleaseNameError(path, f"cannot read the name; expected {forms}")
    condition = _condition(match["condition"], path)
    return ReleaseFile(
        path=str(path),
        folder=folder or match["conversation"],
        dataset="fidelity",
        criterion=folder,
        judge=judge,
        model=model,
        kind=_KIND_BY_CONVERSATION[match["conversation"]],
        condition=condition,
        checkpoint=None,
        replicate="shuffled" if match["shuffle"] else "original",
        reference="dataset",
        reference_persona=_reference_persona(match["reference_persona"], condition, path),
    )


def parse_release_path(relative_path: str | PurePosixPath) -> ReleaseFile:
    """Read what a file's path in the authors' repository says (see the module docstring for the grammar).

    Args:
        relative_path: Path relative to the repository root, e.g.
            ``metrics/bfi/Selene-1-Mini-Llama-3.1-8B/gemma-3-4b-it/inst-bfi_Gaston_11.json.csv``.

    Returns:
        The parsed :class:`ReleaseFile`.

    Raises:
        ReleaseNameError: naming the file and the expected form, for a path outside ``metrics/<folder>/<judge>/
            <model>/`` or ``generations/<model>/``, an unknown folder or persona, a round that is not a
            checkpoint, or a name that fits no form.
    """
    path = PurePosixPath(relative_path)
    parts = path.parts
    if len(parts) == 5 and parts[0] == "metrics":
        _, folder, judge, model, name = parts
        if folder not in FOLDERS:
            raise ReleaseNameError(path, f"unknown metrics folder {folder!r}; expected one of {', '.join(FOLDERS)}")
        if folder in DIALOGUE_FOLDERS:
            return _dialogue(path, name, folder, judge, model)
        return _benchmark(path, name, folder, judge, model)
    if len(parts) == 3 and parts[0] == "generations":
        _, model, name = parts
        if name.startswith(("interview_", "instructions_")):
            return _dialogue(path, name, None, None, model)
        token = name.removeprefix("inst-")
        for dataset in GENERATION_DATASETS:
            if token.startswith(f"{dataset}_"):
                return _benchmark(path, name, dataset, None, model)
        raise ReleaseNameError(
            path,
            f"unknown generations file; expected a dataset prefix ({', '.join(GENERATION_DATASETS)}) "
            "or a dialogue ('interview_', 'instructions_')",
        )
    raise ReleaseNameError(path, "expected 'metrics/<folder>/<judge>/<model>/<file>' or 'generations/<model>/<file>'")
