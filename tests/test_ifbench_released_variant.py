"""Which IFBench variant the study's published numbers are compared with, and how unscorable prompts enter it."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from persona_lib import authors_release as release
from persona_lib import released
from persona_lib.authors_release._ifbench import VARIANTS
from persona_lib.datasets import _ifbench_rules, get_metric, load_items
from persona_lib.datasets.ifbench import PROMPT_LEVEL_METRICS, RELEASED_IFBENCH_METRIC, RELEASED_IFBENCH_VARIANT
from persona_lib.paths import released_dir
from persona_lib.reproduce import TABLE_METRICS
from persona_lib.scoring import to_ifbench_prompt

GEMMA_GASTON_0 = "generations/gemma-3-4b-it/ifbench_Gaston_0.json"  # released accuracy 45/294


def test_released_accuracies_are_prompt_level_over_all_294_prompts():
    items = load_items("ifbench")
    n_constraints = sum(len(item.meta["instruction_id_list"]) for item in items)
    values = [
        v
        for model in json.loads((released_dir() / "ifbench_results.json").read_text()).values()
        for v in model.values()
    ]

    def multiples_of(denominator: int) -> int:
        return sum(abs(v * denominator - round(v * denominator)) < 1e-9 for v in values)

    assert (len(items), n_constraints, len(values)) == (294, 335, 1260)
    assert multiples_of(294) == 1260  # prompt-level, every prompt scored (the 18 NLTK-dependent ones included)
    assert multiples_of(335) == 0  # not instruction-level
    assert multiples_of(294 - 18) == 10  # not over the prompts scorable without NLTK's data


def test_one_variant_is_compared_with_the_release_everywhere():
    assert RELEASED_IFBENCH_VARIANT == "strict"
    assert RELEASED_IFBENCH_METRIC == PROMPT_LEVEL_METRICS[RELEASED_IFBENCH_VARIANT] == "ifbench"
    assert RELEASED_IFBENCH_VARIANT in get_metric(RELEASED_IFBENCH_METRIC).description
    assert set(released.load_ifbench_results()["metric"]) == {RELEASED_IFBENCH_METRIC}  # released units
    assert TABLE_METRICS["IFBench"] == ("ifbench", RELEASED_IFBENCH_METRIC)  # Tables 5 and 6 from a run's units
    assert VARIANTS == tuple(PROMPT_LEVEL_METRICS)


def _rescored(**counts) -> pd.DataFrame:
    row = {"complete": True, "released": 100 * 45 / 294, "released_correct": 45, **counts}
    row.update({variant: 100 * row[f"{variant}_correct"] / 294 for variant in VARIANTS})
    return pd.DataFrame([row], columns=release.RESCORE_COLUMNS)


def test_variant_summary_marks_the_compared_variant_and_allows_for_unscorable_answers():
    summary = release.ifbench_variant_summary(_rescored(strict_correct=40, loose_correct=47, n_unscorable=6)).set_index(
        "variant"
    )
    assert summary["compared"].to_dict() == {"strict": True, "loose": False}
    assert summary.loc["strict", ["n_exact", "n_consistent", "n_unscorable"]].tolist() == [0, 1, 6]  # 40 <= 45 <= 46
    assert summary.loc["loose", ["n_exact", "n_consistent"]].tolist() == [0, 0]  # 47 > 45: loose cannot be it
    assert not summary["reproduces"].any()


def test_rescore_counts_scored_and_unscorable_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(_ifbench_rules, "missing_nltk_resources", lambda: {"corpora/stopwords": "not here"})
    (tmp_path / "results").mkdir()
    shutil.copy(released_dir() / "ifbench_results.json", tmp_path / release.IFBENCH_RESULTS)
    answers = tmp_path / GEMMA_GASTON_0
    answers.parent.mkdir(parents=True)
    answers.write_text(json.dumps(["No,sets_are_classes.", "Weights add up."]))  # keys 296 and 171
    items = {item.item_id: item for item in load_items("ifbench")}
    prompts = [to_ifbench_prompt(items[key]) for key in ("296", "171")]
    [row] = release.rescore_ifbench(
        tmp_path, prompts=prompts, files=[release.parse_release_path(GEMMA_GASTON_0)]
    ).itertuples()
    assert (row.n_answers, row.n_scored, row.n_unscorable, row.strict_correct) == (2, 1, 1, 1)
    assert row.strict == pytest.approx(50.0)  # over every answer: the unscorable one counts as not followed
