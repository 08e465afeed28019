"""Re-score the released IFBench answers (``generations/``) with this project's verifier.

Each ``generations/<model>/[inst-]ifbench_<Persona>_<round>.json`` is a JSON list of the model's answers to the
294 IFBench test prompts, in test-set order (``null`` where the API returned nothing). Every answer is verified
with :func:`persona_lib.scoring.score_ifbench_response`, strict and loose; an answer the verifier cannot score
(offline: the 18 prompts whose checker needs NLTK data that is not installed) counts as not followed and is
counted in ``n_unscorable``, so that the accuracies keep the release's denominator, all 294 prompts. The
accuracies are set beside the released value of the same cell to see which variant the authors'
``ifbench_results.json`` holds; the one it is compared with everywhere is
:data:`persona_lib.datasets.ifbench.RELEASED_IFBENCH_VARIANT`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from persona_lib import released
from persona_lib.authors_release._clone import IFBENCH_RESULTS, generation_files
from persona_lib.authors_release._names import ReleaseFile
from persona_lib.datasets.ifbench import PROMPT_LEVEL_METRICS, RELEASED_IFBENCH_VARIANT
from persona_lib.paths import data_dir
from persona_lib.personas import DataFileError
from persona_lib.scoring import IFBenchPrompt, load_ifbench_prompts, score_ifbench_response

RESCORE_COLUMNS = [
    "path",
    "model",
    "kind",
    "condition",
    "checkpoint",
    "n_answers",
    "complete",
    "n_empty",
    "n_scored",
    "n_unscorable",
    "strict_correct",
    "loose_correct",
    "released_correct",
    "strict",
    "loose",
    "released",
]
VARIANTS: tuple[str, ...] = tuple(PROMPT_LEVEL_METRICS)


def _answers(path: Path) -> list[str | None]:
    answers = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(answers, list) or not all(a is None or isinstance(a, str) for a in answers):
        raise DataFileError(path, "expected a JSON list of answers (strings, or null where none was returned)")
    return answers


def rescore_ifbench(
    root: str | Path,
    *,
    prompts: Sequence[IFBenchPrompt] | None = None,
    files: Iterable[ReleaseFile] | None = None,
) -> pd.DataFrame:
    """Verify every released IFBench answer and compare per-file accuracies with ``ifbench_results.json``.

    Args:
        root: The clone's top folder.
        prompts: The IFBench test prompts in order (default: ``data/ifbench/IFBench_test.jsonl``).
        files: The generation files to score (default: every ``ifbench`` file of the clone).

    Returns:
        One row per file (columns :data:`RESCORE_COLUMNS`): counts of correct answers (strict, loose, and in the
        released accuracy), accuracies in percent of the file's answers (unscorable ones counted as not
        followed), ``n_scored`` and ``n_unscorable`` answers, and ``complete`` (the file answers every prompt, so
        the comparison with the released value is meaningful).

    Raises:
        DataFileError: for a file that is not a list of answers or has more answers than there are prompts.
    """
    root = Path(root)
    if prompts is None:
        prompts = load_ifbench_prompts(data_dir() / "ifbench" / "IFBench_test.jsonl")
    prompts = list(prompts)
    files = list(files) if files is not None else generation_files(root, dataset="ifbench")
    released_scores = released.load_ifbench_results(root / IFBENCH_RESULTS).set_index(
        ["model", "kind", "condition", "checkpoint"]
    )["score"]
    rows = []
    for release_file in files:
        path = root / release_file.path
        answers = _answers(path)
        if len(answers) > len(prompts):
            raise DataFileError(path, f"has {len(answers)} answers but IFBench has {len(prompts)} prompts")
        strict = loose = unscorable = 0
        for prompt, answer in zip(prompts, answers):
            result = score_ifbench_response(prompt, answer or "")
            unscorable += not result.scorable
            strict += bool(result.follow_all_instructions_strict)
            loose += bool(result.follow_all_instructions_loose)
        key = (release_file.model, release_file.kind, release_file.condition, release_file.checkpoint)
        released_score = released_scores.get(key, np.nan)
        n = len(answers)
        rows.append(
            {
                "path": release_file.path,
                "model": release_file.model,
                "kind": release_file.kind,
                "condition": release_file.condition,
                "checkpoint": release_file.checkpoint,
                "n_answers": n,
                "complete": n == len(prompts),
                "n_empty": sum(not (a or "").strip() for a in answers),
                "n_scored": n - unscorable,
                "n_unscorable": unscorable,
                "strict_correct": strict,
                "loose_correct": loose,
                "released_correct": round(released_score / 100 * len(prompts)) if pd.notna(released_score) else pd.NA,
                "strict": 100 * strict / n if n else np.nan,
                "loose": 100 * loose / n if n else np.nan,
                "released": released_score,
            }
        )
    return pd.DataFrame(rows, columns=RESCORE_COLUMNS)


def ifbench_variant_summary(rescored: pd.DataFrame) -> pd.DataFrame:
    """Which scoring variant reproduces the released accuracies: per variant, over complete files.

    An unscorable answer counts as not followed, so where answers are unscorable the re-scored count is a lower
    bound: the released count is *consistent* with a variant when it lies between that count and the count plus
    the file's unscorable answers.

    Returns:
        One row per variant (``strict``, ``loose``): ``compared`` (the variant the release is compared with,
        :data:`~persona_lib.datasets.ifbench.RELEASED_IFBENCH_VARIANT`), ``n_files`` compared, ``n_exact`` (same
        number of correct answers as the released value), ``n_consistent``, ``n_unscorable`` (answers, over the
        compared files), ``mean_abs_diff`` and ``max_abs_diff`` (percentage points) and ``reproduces`` (every
        compared file matches exactly; False when nothing could be compared).
    """
    comparable = rescored[rescored["complete"] & rescored["released"].notna()]
    rows = []
    for variant in VARIANTS:
        gap = (comparable[variant] - comparable["released"]).abs()
        correct = comparable[f"{variant}_correct"]
        exact = int((correct == comparable["released_correct"]).sum())
        consistent = comparable["released_correct"].between(correct, correct + comparable["n_unscorable"])
        rows.append(
            {
                "variant": variant,
                "compared": variant == RELEASED_IFBENCH_VARIANT,
                "n_files": len(comparable),
                "n_exact": exact,
                "n_consistent": int(consistent.sum()),
                "n_unscorable": int(comparable["n_unscorable"].sum()),
                "mean_abs_diff": gap.mean() if len(comparable) else np.nan,
                "max_abs_diff": gap.max() if len(comparable) else np.nan,
                "reproduces": bool(len(comparable)) and exact == len(comparable),
            }
        )
    return pd.DataFrame(rows)
