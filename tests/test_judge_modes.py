"""Judging modes (generate, distribution, both) and pairwise comparisons in both orders, with hand-derived values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from persona_lib.backends import Completion, ScriptedBackend, distribution_completion
from persona_lib.config import RunConfig
from persona_lib.judging import JudgeTask, run_judge_tasks
from persona_lib.store import ResponseStore

LIKERT = {" 1": 0.1, " 2": 0.2, " 3": 0.4, " 4": 0.2, " 5": 0.1}  # expected rating 3.0 → 50
LEANING_HIGH = {" 1": 0.0, " 2": 0.0, " 3": 0.3, " 4": 0.3, " 5": 0.4}  # 4.1 → 77.5, verdict 4


class PositionJudge:
    """A judge that reads prompts of the form ``<A:...|B:...>`` and follows visible rules.

    Generated verdicts: ``RESULT: A`` when A's answer says "good", else B — or always ``A`` when the prompt says
    "BIASED" (a judge with position bias); Likert prompts get ``RESULT: 2`` unless they say "GARBLE".
    Distributions: pairwise 0.8 on the answer that says "good" (0.7 on A when "BIASED"); Likert :data:`LIKERT`
    or :data:`LEANING_HIGH` when the prompt says "HIGH"; binary p(yes) = 0.3.
    """

    name = "position"
    model = "position-judge"

    def __init__(self) -> None:
        self.params = []

    def version_info(self) -> dict[str, str]:
        return {"position": "1"}

    def generate(self, conversations, params):
        self.params.append(params)
        return [self._answer(conversation[-1]["content"], params) for conversation in conversations]

    @staticmethod
    def _a_is_good(prompt: str) -> bool:
        return "good" in prompt.split("A:", 1)[1].split("|", 1)[0]

    def _answer(self, prompt: str, params) -> Completion:
        if params.score_labels:
            labels = params.score_labels
            if labels == (" A", " B"):
                p_a = 0.7 if "BIASED" in prompt else (0.8 if self._a_is_good(prompt) else 0.2)
                probs = [p_a, 1 - p_a]
            elif labels == (" yes", " no"):
                probs = [0.3, 0.7]
            else:
                probs = list((LEANING_HIGH if "HIGH" in prompt else LIKERT).values())
            return distribution_completion(labels, [math.log(p) if p else float("-inf") for p in probs], 5)
        if "<A:" in prompt:
            choice = "A" if "BIASED" in prompt or self._a_is_good(prompt) else "B"
            return Completion(f"Compared.\n**Result:** {choice}", 5, 3, "stop")
        return Completion("Hmm, 3 or 4" if "GARBLE" in prompt else "Fine.\n**Result:** 2", 5, 3, "stop")


def _pair(first: str, second: str, extra: str = "") -> str:
    return f"{extra}<A:{first}|B:{second}>"


def _pairwise_task(model_answer: str, reference: str, position: str, extra: str = "", item: str = "1") -> JudgeTask:
    pair = (reference, model_answer) if position == "A" else (model_answer, reference)
    return JudgeTask(
        _pair(*pair, extra),
        "pairwise",
        {"dataset": "rolebench_specific", "item_id": item},
        reference_position=position,
        swapped_prompt=_pair(*reversed(pair), extra),
    )


def _run(tmp_path, tasks, name: str, **judging) -> tuple[pd.DataFrame, PositionJudge]:
    config = RunConfig(output_dir=str(tmp_path), judging=judging)
    judge = PositionJudge()
    rows = run_judge_tasks(tasks, config, judge, ResponseStore(tmp_path / f"{name}.sqlite"), model_name="m")
    return rows, judge


def test_distribution_mode_scores_by_expected_value_and_probability(tmp_path):
    tasks = [
        JudgeTask("rate it", "likert", {"dataset": "bfi", "item_id": "1"}),
        JudgeTask("rate it HIGH", "likert", {"dataset": "bfi", "item_id": "2"}),
        JudgeTask("refused?", "binary", {"dataset": "xstest", "item_id": "3"}),
        _pairwise_task("good answer", "plain reference", "A", item="4"),  # the model's answer (B) is preferred
    ]

    rows, judge = _run(tmp_path, tasks, "distribution", mode="distribution")

    assert list(rows["parse_status"]) == ["ok"] * 4 and set(rows["judge_mode"]) == {"distribution"}
    assert rows["score"].tolist() == pytest.approx([50.0, 77.5, 30.0, 80.0])
    assert rows["value"].tolist() == [3, 4, False, "B"]
    assert rows["score"].tolist() == rows["score_distribution"].tolist()
    assert all(params.max_new_tokens == 1 and params.answer_prefix == "**Result:**" for params in judge.params)
    assert {params.score_labels for params in judge.params} == {
        (" 1", " 2", " 3", " 4", " 5"),
        (" yes", " no"),
        (" A", " B"),
    }


def test_both_modes_keep_the_generated_score_and_the_distribution_beside_it(tmp_path):
    tasks = [
        JudgeTask("rate it", "likert", {"dataset": "bfi", "item_id": "1"}),
        JudgeTask("rate it GARBLE", "likert", {"dataset": "bfi", "item_id": "2"}),
    ]

    rows, _ = _run(tmp_path, tasks, "both", mode="both")

    assert list(rows["judge_mode"]) == ["generate", "generate"]
    assert list(rows["parse_status"]) == ["ok", "unparsed"]
    assert rows.loc[0, "score"] == 25.0 and math.isnan(rows.loc[1, "score"])  # generated 2 → 25; nothing parsed
    assert rows["score_distribution"].tolist() == [50.0, 50.0]  # the distribution always gives a score
    assert rows["value_distribution"].tolist() == [3, 3]
    assert '"probs"' in rows.loc[1, "label_probs"]


def test_a_verdict_that_follows_the_position_is_a_tie_in_both_orders(tmp_path):
    tasks = [
        _pairwise_task("good answer", "plain reference", "A", item="1"),  # consistent: the model's answer wins
        _pairwise_task("plain answer", "good reference", "B", item="2"),  # consistent: the reference wins
        _pairwise_task("good answer", "plain reference", "A", extra="BIASED", item="3"),  # always "A"
    ]

    rows, judge = _run(tmp_path, tasks, "orders", pairwise_orders=2)

    assert len(judge.params) == 1  # both orders of every comparison go out in one batch
    assert rows["value"].tolist() == ["B", "B", "tie"]
    assert rows["score"].tolist() == [100.0, 0.0, 50.0]
    assert rows["order_flipped"].tolist() == [False, False, True]
    assert rows.loc[2, "parse_reason"] == "the two orders preferred different answers"


def test_distributions_of_both_orders_are_averaged_per_answer(tmp_path):
    biased = _pairwise_task("good answer", "plain reference", "A", extra="BIASED")

    rows, _ = _run(tmp_path, [biased], "distribution-orders", mode="distribution", pairwise_orders=2)

    # Original order: the model's answer is B with p 0.3; swapped: it is A with p 0.7 → mean 0.5.
    assert rows.loc[0, "score"] == pytest.approx(50.0)
    assert bool(rows.loc[0, "order_flipped"]) is True


def test_two_orders_need_a_swapped_prompt(tmp_path):
    task = JudgeTask(
        _pair("x", "y"), "pairwise", {"dataset": "rolebench_specific", "item_id": "1"}, reference_position="A"
    )
    with pytest.raises(ValueError, match="swapped_prompt"):
        _run(tmp_path, [task], "missing", pairwise_orders=2)


def test_distribution_judgements_are_stored_and_served_again(tmp_path):
    config = RunConfig(output_dir=str(tmp_path), judging={"mode": "distribution"})
    store = ResponseStore(tmp_path / "responses.sqlite")
    tasks = [JudgeTask("rate it", "likert", {"dataset": "bfi", "item_id": "1"})]
    first_judge, second_judge = PositionJudge(), PositionJudge()

    first = run_judge_tasks(tasks, config, first_judge, store, model_name="m")
    second = run_judge_tasks(tasks, config, second_judge, store, model_name="m")

    assert len(first_judge.params) == 1 and second_judge.params == []
    pd.testing.assert_frame_equal(first, second)


def test_the_scripted_backend_gives_every_judged_metric_a_score_in_distribution_mode(tmp_path):
    from persona_lib.scoring import score_run
    from tests.test_judging import GASTON, HAL, JUDGED_CONFIG, _benchmark_answers, _dialogues

    config = RunConfig(output_dir=str(tmp_path), judging={"mode": "distribution"}, **JUDGED_CONFIG)
    scores = score_run(
        config,
        ScriptedBackend(),
        ResponseStore(tmp_path / "s.sqlite"),
        _benchmark_answers(),
        _dialogues(),
        {"Gaston": GASTON, "HAL 9000": HAL},
    )

    judged = scores[scores["judge_model"] != "rule-based"]
    answered = judged[judged["parse_status"] != "no_response"]
    assert not answered.empty and set(answered["parse_status"]) == {"ok"}
    assert answered["score"].between(0, 100).all()


def test_position_bias_counts_order_dependent_verdicts_per_judge_and_mode(tmp_path):
    from persona_lib.judging import position_bias

    tasks = [
        _pairwise_task("good answer", "plain reference", "A", item="1"),
        _pairwise_task("good answer", "plain reference", "A", extra="BIASED", item="2"),
        _pairwise_task("plain answer", "good reference", "B", extra="BIASED", item="3"),
    ]
    rows, _ = _run(tmp_path, tasks, "bias", pairwise_orders=2)
    path = tmp_path / "scores.csv"
    rows.assign(model="m", judge_model="position-judge").to_csv(path, index=False)  # as a run stores it

    table = position_bias(pd.read_csv(path))

    assert table[["dataset", "judge_mode", "n", "n_flipped"]].values.tolist() == [
        ["rolebench_specific", "generate", 3, 2]
    ]
    assert table.loc[0, "flip_rate"] == pytest.approx(200 / 3)
    assert position_bias(rows.assign(order_flipped=None, model="m", judge_model="j")).empty
