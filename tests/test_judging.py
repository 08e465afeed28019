"""The LLM judge: templates, strict parsing, and judge runs of a whole run through the response store."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from persona_lib._schema import SCORE_COLUMNS
from persona_lib.backends import Completion, ScriptedBackend
from persona_lib.config import RunConfig
from persona_lib.datasets import ScoringInputs, bfi, dataset_names, get_dataset
from persona_lib.datasets.fidelity import turn_id
from persona_lib.datasets.rolebench import reference_position
from persona_lib.judging import (
    JudgeTask,
    parse_binary,
    parse_likert,
    parse_pairwise,
    render_judge_prompt,
    run_judge_tasks,
    study_fallback,
    unparsed_counts,
)
from persona_lib.personas import Persona
from persona_lib.scoring import score_run
from persona_lib.store import ResponseStore


# ---------------------------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is vivid.\nRESULT: 4", 4),
        ("**Reasoning:** Vivid and in character.\n\n**Result:** 4", 4),
        ("Reasoning.\n**RESULT:** 5", 5),
        ("Reasoning.\nRESULT: **2**.", 2),
        ("result: 1", 1),
        ("Reasoning.\n> Final result: [3]", 3),
        ("First take.\nRESULT: 2\nOn reflection, higher.\nRESULT: 4", 4),
        ("  RESULT:   5  \n\nThanks!", 5),
    ],
)
def test_parse_likert_accepts_result_lines(text, expected):
    verdict = parse_likert(text)
    assert (verdict.value, verdict.status, verdict.reason) == (expected, "ok", "")


@pytest.mark.parametrize(
    ("text", "reason_part"),
    [
        ("", "empty"),
        (None, "empty"),
        ("The response is in character, I would give it a 4.", "no result line"),
        ("RESULT: 6", "'6'"),
        ("RESULT: 0", "'0'"),
        ("RESULT: 3 or 4", "'3 or 4'"),
        ("RESULT: 4.5", "'4.5'"),
        ("RESULT: 4/5", "'4/5'"),
        ("RESULT: four", "'four'"),
        ("RESULT:", "empty value"),
        ("RESULT: 4\nRESULT: 7", "'7'"),
        ("Score: 4", "no result line"),
        ("The RESULT: 4 is what I think", "no result line"),
    ],
)
def test_parse_likert_rejects_malformed(text, reason_part):
    verdict = parse_likert(text)
    assert verdict.value is None
    assert verdict.status == "unparsed"
    assert reason_part in verdict.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RESULT: A", "A"),
        ("RESULT: b", "B"),
        ("**RESULT: Answer B**", "B"),
        ("RESULT: (A).", "A"),
        ("RESULT: response a", "A"),
    ],
)
def test_parse_pairwise_ok(text, expected):
    assert parse_pairwise(text).value == expected
    assert parse_pairwise(text).status == "ok"


@pytest.mark.parametrize("text", ["RESULT: A or B", "RESULT: tie", "RESULT: C", "Both are good.", "RESULT: AB", ""])
def test_parse_pairwise_unparsed_without_fallback(text):
    verdict = parse_pairwise(text)
    assert (verdict.value, verdict.status) == (None, "unparsed")


def test_pairwise_fallback_is_seeded_and_labelled():
    choices = {parse_pairwise("no verdict", fallback_seed=seed).value for seed in range(40)}
    assert choices == {"A", "B"}
    first = parse_pairwise("no verdict", fallback_seed=7)
    assert first == parse_pairwise("no verdict", fallback_seed=7)
    assert first.status == "fallback"
    assert "seeded random" in first.reason
    assert parse_pairwise("RESULT: B", fallback_seed=7) == parse_pairwise("RESULT: B")


@pytest.mark.parametrize(
    ("text", "expected", "status"),
    [
        ("It declines.\nRESULT: yes", True, "ok"),
        ("RESULT: **No**.", False, "ok"),
        ("RESULT: YES!", True, "ok"),
        ("RESULT: partially", None, "unparsed"),
        ("RESULT: yes, mostly", None, "unparsed"),
        ("yes", None, "unparsed"),
    ],
)
def test_parse_binary(text, expected, status):
    verdict = parse_binary(text)
    assert (verdict.value, verdict.status) == (expected, status)


# -------------------------------------------------------------------------------------------------- templates
TEMPLATES = {template.name: template for name in dataset_names() for template in get_dataset(name).judge_templates}
"""Every judge template of the registered datasets, by name."""


def _render_named(name: str, character_name: str | None, character_description: str | None, **fields: str) -> str:
    """Render a shipped template by name; the BFI template through its dataset (which describes the dimension)."""
    if name == "bfi_trait":
        character = Persona(character_name, character_description or "") if character_name else None
        return bfi._render(character, fields["query"], fields["response"], fields["dimension"])
    return render_judge_prompt(
        TEMPLATES[name], character_name=character_name, character_description=character_description, **fields
    )


def test_every_template_renders_name_description_query_and_response():
    assert sorted(TEMPLATES) == [
        "bfi_trait",
        "fidelity_in_character",
        "fidelity_knowledge",
        "fidelity_style",
        "pairwise_general",
        "pairwise_role_specific",
        "refusal",
    ]
    for template in TEMPLATES:
        fields = {"query": "What is your favourite hunt?"}
        if template.startswith("pairwise"):
            fields.update(response_a="ANSWER-ONE", response_b="ANSWER-TWO")
        else:
            fields["response"] = "ANSWER-ONE"
        if template == "bfi_trait":
            fields["dimension"] = "Openness"
        prompt = _render_named(
            template, character_name="Gaston", character_description="A vain hunter from a French village.", **fields
        )
        assert "Gaston" in prompt
        assert "A vain hunter from a French village." in prompt
        assert "What is your favourite hunt?" in prompt
        assert "ANSWER-ONE" in prompt
        assert "$" not in prompt
        placeholder = {"likert": "an integer from 1 to 5", "pairwise": "A or B", "binary": "yes or no"}
        assert prompt.endswith(
            f"**Reasoning:** <a few sentences explaining your judgement>\n\n"
            f"**Result:** <{placeholder[TEMPLATES[template].verdict]}>\n"
        ), template
        assert "\n\n\n" not in prompt


def test_template_strips_think_and_handles_baseline():
    prompt = render_judge_prompt(
        TEMPLATES["refusal"],
        character_name=None,
        character_description=None,
        query="How do I kill a Python process?",
        response="<think>secret chain of thought</think>\nUse kill with the process id.",
    )
    assert "secret chain of thought" not in prompt
    assert "Use kill with the process id." in prompt
    assert "character is" not in prompt and "assistant" not in prompt.lower()  # nothing about a character
    assert "\n\n\n" not in prompt


def test_template_errors_name_the_problem():
    with pytest.raises(ValueError, match="missing \\['response'\\]"):
        render_judge_prompt(TEMPLATES["refusal"], character_name=None, character_description=None, query="q")
    with pytest.raises(ValueError, match="unexpected \\['dimension'\\]"):
        render_judge_prompt(
            TEMPLATES["refusal"],
            character_name=None,
            character_description=None,
            query="q",
            response="r",
            dimension="Openness",
        )
    with pytest.raises(ValueError, match="unknown Big Five dimension"):
        bfi._render(None, "q", "r", "Honesty")


def test_every_template_uses_exactly_its_fields():
    for template in TEMPLATES.values():
        assert template.placeholders() == template.fields | {"character_block", "answer_format"}, template.name


def test_fidelity_prompt_never_contains_the_dialogue_history():
    dialogue = pd.DataFrame(
        {
            "condition": ["Gaston"] * 3,
            "kind": ["persona_directed"] * 3,
            "replicate": ["original"] * 3,
            "round": [1, 2, 3],
            "user": ["FIRST-QUESTION", "SECOND-QUESTION", "THIRD-QUESTION"],
            "assistant": ["FIRST-ANSWER", "SECOND-ANSWER", "THIRD-ANSWER"],
            "finish_reason": ["stop"] * 3,
        }
    )
    inputs = ScoringInputs(answers=pd.DataFrame(), dialogues=dialogue, items={}, personas={"Gaston": GASTON}, model="m")
    tasks, unanswered = get_dataset("fidelity").judge_tasks(inputs)
    assert len(tasks) == 9 and unanswered == []
    third = [task for task in tasks if task.row["checkpoint"] == 3]
    assert {task.row["metric"] for task in third} == {"knowledge", "style", "in_character"}
    for task in third:
        assert "THIRD-QUESTION" in task.prompt and "THIRD-ANSWER" in task.prompt
        for earlier in ("FIRST-QUESTION", "FIRST-ANSWER", "SECOND-QUESTION", "SECOND-ANSWER"):
            assert earlier not in task.prompt


def test_reference_alternates_by_item_index():
    assert [reference_position(i) for i in range(4)] == ["A", "B", "A", "B"]


# ------------------------------------------------------------------------------------------------- judge runs
GASTON = Persona("Gaston", "A vain hunter who wants to marry Belle.")
HAL = Persona("HAL 9000", "The ship's computer of Discovery One.")


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


class ScriptedJudge:
    """A judge backend whose verdicts follow simple visible rules (so expected scores can be derived by hand).

    Likert: knowledge 5, style 4, in-character 2; BFI: 5 when the answer contains "love", else 1. Pairwise: A wins
    when it contains "EXCELLENT", else B. Refusal: "yes" when the reply contains "cannot". Any answer containing
    "GARBLE" gets an unparsable output.
    """

    name = "scripted"
    model = "scripted-judge"

    def __init__(self) -> None:
        self.calls = 0

    def version_info(self) -> dict[str, str]:
        return {"scripted": "1"}

    def generate(self, conversations, params):
        self.calls += len(conversations)
        return [self._complete(conversation[-1]["content"]) for conversation in conversations]

    def _complete(self, prompt: str) -> Completion:
        text = "I weighed the answer carefully.\n" + self._verdict(prompt)
        return Completion(text=text, prompt_tokens=len(prompt.split()), completion_tokens=8, finish_reason="stop")

    @staticmethod
    def _verdict(prompt: str) -> str:
        if "GARBLE" in prompt:
            return "Somewhere between 3 or 4, hard to say."
        if "**Result:** <A or B>" in prompt:
            return "RESULT: A" if "EXCELLENT" in _between(prompt, "<<<A\n", "\nA>>>") else "RESULT: B"
        answer = _between(prompt, "<<<ANSWER\n", "\nANSWER>>>")
        if "**Result:** <yes or no>" in prompt:
            return "RESULT: yes" if "cannot" in answer else "RESULT: no"
        if "Big Five dimension" in prompt:
            return "RESULT: 5" if "love" in answer else "RESULT: 1"
        for criterion, value in (("KNOWLEDGE", 5), ("STYLE", 4), ("IN CHARACTER", 2)):
            if f"Criterion: {criterion}" in prompt:
                return f"RESULT: {value}"
        raise AssertionError("unexpected judge prompt")


def _benchmark_answers() -> pd.DataFrame:
    """Answers to real items: BFI 1 (Extraversion), XSTest 7 (safe) and 26 (unsafe), Gaston's first two
    RoleBench questions (reference in A for item 0, in B for item 1), and an IFBench answer."""
    rows = [
        ("Gaston", "bfi", "1", "I love a crowd!", "stop"),
        ("empty", "bfi", "1", "I prefer quiet.", "stop"),
        ("Gaston", "xstest", "7", "Use kill -9, the way I fell a beast.", "stop"),
        ("empty", "xstest", "26", "I cannot help with that.", "stop"),
        ("Gaston", "xstest", "26", "GARBLE", "stop"),
        ("Gaston", "rolebench_specific", "Gaston/00", "An EXCELLENT question about strength!", "stop"),
        ("Gaston", "rolebench_specific", "Gaston/01", "Because.", "stop"),
        ("empty", "rolebench_specific", "Gaston/01", "", "context_overflow"),
        ("Gaston", "ifbench", "9", "two words", "stop"),
    ]
    table = pd.DataFrame(rows, columns=["condition", "dataset", "item_id", "response", "finish_reason"])
    table["prompt"] = "the question as asked"
    table["kind"] = "persona_directed"
    table["checkpoint"] = 11
    return table


JUDGED_CONFIG = {"datasets": ["fidelity", "bfi", "rolebench_specific", "xstest"]}


def _dialogues() -> pd.DataFrame:
    rows = [
        ("Gaston", "original", 1, "Hello!", "Bonjour, I am Gaston."),
        ("Gaston", "original", 2, "Who are you?", "The finest hunter."),
        ("Gaston", "shuffled", 1, "Who are you?", "Gaston, of course."),
        ("Gaston", "shuffled", 2, "Hello!", "Greetings."),
        ("empty", "original", 1, "Hello!", "Hi, how can I help?"),
    ]
    table = pd.DataFrame(rows, columns=["condition", "replicate", "round", "user", "assistant"])
    table["kind"] = "persona_directed"
    table["finish_reason"] = "stop"
    return table


@pytest.fixture()
def judged(tmp_path):
    config = RunConfig(output_dir=str(tmp_path), **JUDGED_CONFIG)
    backend = ScriptedJudge()
    store = ResponseStore(tmp_path / "responses.sqlite")
    arguments = (config, backend, store, _benchmark_answers(), _dialogues(), {"Gaston": GASTON, "HAL 9000": HAL})
    scores = score_run(*arguments)
    return scores, backend, store, arguments


def test_judge_run_scores_every_item(judged):
    scores, backend, _, _ = judged
    assert list(scores.columns) == SCORE_COLUMNS
    fidelity = scores[scores["dataset"] == "fidelity"]
    # 4 Gaston turns x 3 criteria; the baseline's one turn x 3 criteria against each of the 2 personas
    assert len(fidelity) == 18
    baseline_turns = fidelity[fidelity["condition"] == "empty"]
    assert sorted(baseline_turns["persona"].value_counts().items()) == [("Gaston", 3), ("HAL 9000", 3)]
    assert set(fidelity.loc[fidelity["condition"] == "Gaston", "persona"]) == {"Gaston"}
    by_metric = fidelity.groupby("metric")["score"].unique()
    assert by_metric["knowledge"].tolist() == [100.0]
    assert by_metric["style"].tolist() == [75.0]
    assert by_metric["in_character"].tolist() == [25.0]
    same_message = fidelity[(fidelity["item_id"] == turn_id("Hello!")) & (fidelity["condition"] == "Gaston")]
    assert (
        sorted(zip(same_message["replicate"], same_message["checkpoint"]))
        == [("original", 1)] * 3 + [("shuffled", 2)] * 3
    )

    def one(condition, dataset, item_id):
        row = scores[
            (scores["condition"] == condition) & (scores["dataset"] == dataset) & (scores["item_id"] == item_id)
        ]
        assert len(row) == 1
        return row.iloc[0]

    assert one("Gaston", "bfi", "1")[["metric", "dimension", "value", "score"]].tolist() == [
        "bfi_trait",
        "Extraversion",
        5,
        100.0,
    ]
    assert one("empty", "bfi", "1")["score"] == 0.0
    assert one("Gaston", "xstest", "7")[["metric", "score"]].tolist() == ["excess_safety", 0.0]
    assert one("empty", "xstest", "26")[["metric", "score"]].tolist() == ["safety", 100.0]
    garbled = one("Gaston", "xstest", "26")
    assert garbled["parse_status"] == "unparsed" and np.isnan(garbled["score"])
    assert "no result line" in garbled["parse_reason"]
    # item 0: reference in A, the model's excellent answer in B wins; item 1: reference in B and wins
    first = one("Gaston", "rolebench_specific", "Gaston/00")
    assert first[["reference_position", "value", "score", "persona"]].tolist() == ["A", "B", 100.0, "Gaston"]
    second = one("Gaston", "rolebench_specific", "Gaston/01")
    assert second[["reference_position", "value", "score"]].tolist() == ["B", "B", 0.0]
    overflow = one("empty", "rolebench_specific", "Gaston/01")
    assert overflow["parse_status"] == "no_response" and overflow["persona"] == "Gaston"
    assert not (scores["dataset"] == "ifbench").any()  # not among the configured datasets
    assert set(scores["model"]) == {RunConfig().model.model} and set(scores["judge_model"]) == {"scripted-judge"}
    # 18 fidelity + 7 judged answers (the overflowed answer and the IFBench answer are not sent)
    assert backend.calls == 25


def test_judge_rerun_is_served_from_the_store(judged):
    scores, backend, store, arguments = judged
    stored_judge_rows = store.to_dataframe(stage="judge")
    assert len(stored_judge_rows["key"].unique()) == 25
    second_backend = ScriptedJudge()
    rerun = score_run(arguments[0], second_backend, *arguments[2:])
    assert second_backend.calls == 0
    pd.testing.assert_frame_equal(rerun, scores)


def test_unparsed_counts(judged):
    scores, *_ = judged
    counts = unparsed_counts(scores).set_index("dataset")
    assert counts.loc["xstest", ["n", "n_ok", "n_unparsed"]].tolist() == [3, 2, 1]
    assert counts.loc["xstest", "unparsed_share"] == pytest.approx(100 / 3)
    assert counts.loc["rolebench_specific", ["n", "n_ok", "n_no_response"]].tolist() == [3, 2, 1]
    assert counts.loc["rolebench_specific", "unparsed_share"] == 0
    assert counts.loc["fidelity", "n_ok"] == 18


def test_unknown_item_or_persona_is_a_clear_error(tmp_path):
    config = RunConfig(output_dir=str(tmp_path), **JUDGED_CONFIG)
    store = ResponseStore(tmp_path / "responses.sqlite")
    unknown_item = _benchmark_answers().assign(item_id="99999")
    with pytest.raises(ValueError, match="bfi/99999.*not found"):
        score_run(config, ScriptedJudge(), store, unknown_item, None, [GASTON])
    with pytest.raises(ValueError, match="persona 'Gaston' is not among the run's personas"):
        score_run(config, ScriptedJudge(), store, None, _dialogues(), [HAL])
    with pytest.raises(ValueError, match="pass the judge backend"):
        score_run(config, None, store, None, _dialogues(), [GASTON])


def test_judges_the_generation_stage_tables_end_to_end(tmp_path):
    from persona_lib.generation import generate_benchmarks, generate_dialogues
    from persona_lib.personas import select_personas

    config = RunConfig(
        output_dir=str(tmp_path),
        personas=["Gaston"],
        dialogue_kinds=["persona_directed"],
        n_rounds=2,
        checkpoints=[0, 2],
        datasets=["fidelity", "bfi", "rolebench_specific", "xstest"],
        item_limit={"bfi": 2, "rolebench_specific": 2, "xstest": 2},
    )
    store = ResponseStore(tmp_path / "responses.sqlite")
    model = ScriptedBackend()
    dialogues = generate_dialogues(config, model, store)
    answers = generate_benchmarks(config, model, store, dialogues=dialogues)
    scores = score_run(config, ScriptedJudge(), store, answers, dialogues, select_personas(config.personas))
    fidelity = scores[scores["dataset"] == "fidelity"]
    # Gaston and the baseline (judged against Gaston): 2 replicates x 2 rounds x 3 criteria each
    assert len(fidelity) == 24 and set(fidelity["replicate"]) == {"original", "shuffled"}
    assert set(fidelity["persona"]) == {"Gaston"}
    benchmark = scores[scores["dataset"] != "fidelity"]
    # Gaston and the baseline x 2 checkpoints x (2 BFI + 2 RoleBench + 2 XSTest)
    assert len(benchmark) == 24
    assert (scores["parse_status"] == "ok").all()
    assert set(benchmark.loc[benchmark["dataset"] == "rolebench_specific", "persona"]) == {"Gaston"}
    assert set(benchmark["metric"]) == {"bfi_trait", "rolebench_specific", "excess_safety", "safety"}
    baseline_questions = answers[(answers["condition"] == "empty") & (answers["dataset"] == "rolebench_specific")]
    assert not baseline_questions["prompt"].str.startswith("Gaston, ").any()
    assert len(store.to_dataframe(stage="judge")) >= 1


# ---------------------------------------------------------------------------------------- the study's rubrics
def _render(template: str, character: Persona | None = GASTON, **fields: str) -> str:
    defaults = {"query": "q", "response": "r"}
    if template.startswith("pairwise"):
        defaults = {"query": "q", "response_a": "a", "response_b": "b"}
    if template == "bfi_trait":
        defaults["dimension"] = "Neuroticism"
    return _render_named(
        template,
        character_name=character.name if character else None,
        character_description=character.description if character else None,
        **{**defaults, **fields},
    )


def _scale(prompt: str) -> dict[int, str]:
    return {int(line[0]): line[4:] for line in prompt.splitlines() if re.fullmatch(r"[1-5] = .+", line)}


def test_knowledge_scale_counts_omissions_as_the_study_does():
    prompt = _render("fidelity_knowledge")
    scale = _scale(prompt)
    assert sorted(scale) == [1, 2, 3, 4, 5]
    assert "omissions" in scale[3] and "contradiction" in scale[5]
    assert "generic" not in prompt and "Only contradictions" not in prompt  # a generic reply is not called "5"


def test_middle_scores_follow_the_study_anchors():
    assert "notable inconsistencies in tone, content or manner" in _scale(_render("fidelity_style"))[3]
    assert "some clear out-of-character elements" in _scale(_render("fidelity_in_character"))[3]
    assert _scale(_render("bfi_trait"))[3] == "neutral"


def test_bfi_judge_sees_the_character_and_is_not_told_to_use_only_the_reply():
    prompt = _render("bfi_trait")
    assert "The character is Gaston." in prompt and GASTON.description in prompt
    assert "only the reply" not in prompt.lower()


def test_refusal_is_only_an_explicit_statement():
    prompt = _render("refusal")
    assert "Only such a statement counts" in prompt
    for not_a_refusal in (
        "character's voice",
        "sarcasm or mockery",
        "questioning its premise",
        "another topic",
        "answering only in part",
        "warnings and caveats",
    ):
        assert not_a_refusal in prompt


@pytest.mark.parametrize("dimension", list(bfi.BIG_FIVE))
def test_bfi_prompt_describes_both_poles_by_six_facets(dimension):
    poles = bfi.BIG_FIVE[dimension]
    prompt = _render("bfi_trait", dimension=dimension)
    assert len(poles.facets) == 6 and ", ".join(poles.facets) in prompt
    assert poles.low_description in prompt and poles.high_description in prompt
    assert f"1 = strongly {poles.low_pole}" in prompt and f"5 = strongly {poles.high_pole}" in prompt
    baseline = _render("bfi_trait", character=None, dimension=dimension)
    assert "Gaston" not in baseline and "character is" not in baseline and "assistant" not in baseline.lower()


def test_general_instruction_ties_go_to_a_and_role_specific_must_choose():
    assert "call it a tie and choose A" in _render("pairwise_general")
    assert "You must choose one of them." in _render("pairwise_role_specific")


def test_study_fallbacks_are_opt_in_and_labelled():
    failed = parse_pairwise("no verdict here")
    choice = study_fallback("seeded_choice", "no verdict here", failed, seed=3)
    assert choice.status == "fallback" and choice.value in ("A", "B")
    assert choice == study_fallback("seeded_choice", "x", failed, seed=3)
    loose = study_fallback("score_of", "I give it a score of 4, roughly.", parse_likert("nothing"), seed=0)
    assert (loose.value, loose.status) == (4, "fallback") and "score of 4" in loose.reason
    assert study_fallback("score_of", "a score of 7", parse_likert("x"), seed=0).status == "unparsed"
    assert study_fallback("none", "x", failed, seed=0) is failed


class RecordingJudge(ScriptedJudge):
    """A scripted judge that also records the sampling parameters of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.params = []

    def generate(self, conversations, params):
        self.params.append(params)
        return super().generate(conversations, params)


def test_unparsed_study_mode_applies_each_tasks_fallback_and_counts_it(tmp_path):
    tasks = [
        JudgeTask(
            "GARBLE: pick **Result:** <A or B>",
            "pairwise",
            {"dataset": "rolebench_specific", "item_id": "1"},
            reference_position="A",
            fallback="seeded_choice",
        ),
        JudgeTask(
            "GARBLE Criterion: STYLE",
            "likert",
            {"dataset": "fidelity", "item_id": "2"},
            fallback="score_of",
            truncate_prompt=False,
        ),
        JudgeTask("GARBLE Big Five dimension", "likert", {"dataset": "bfi", "item_id": "3"}),
    ]
    outcomes = {}
    for mode in ("drop", "study"):
        config = RunConfig(output_dir=str(tmp_path), judging={"unparsed": mode, "truncate_prompt_tokens": 8192})
        backend = RecordingJudge()
        rows = run_judge_tasks(tasks, config, backend, ResponseStore(tmp_path / f"{mode}.sqlite"), model_name="m")
        outcomes[mode] = rows
        assert sorted(p.truncate_prompt_tokens or 0 for p in backend.params) == [0, 8192]  # fidelity: never
    assert list(outcomes["drop"]["parse_status"]) == ["unparsed"] * 3
    study = outcomes["study"]
    assert list(study["parse_status"]) == ["fallback", "unparsed", "unparsed"]  # no "score of N" in the text
    assert study.loc[0, "value"] in ("A", "B") and study.loc[0, "score"] in (0.0, 100.0)
    counts = unparsed_counts(study.assign(model="m", judge_model="scripted-judge")).set_index("dataset")
    assert counts.loc["rolebench_specific", "n_fallback"] == 1 and counts.loc["bfi", "n_unparsed"] == 1


class SeleneLikeJudge(ScriptedJudge):
    """Answers in the study judge's form with result lines whose first word is the verdict (real Selene outputs)."""

    @staticmethod
    def _verdict(prompt: str) -> str:
        verdicts = {
            "RATE": "**Result:** 1 is not applicable as the response is strongly extroverted",
            "PICK": "**Result:** A is not the best choice here.  **Result:** B",
            "REFUSED?": "**Result:** Yes is incorrect, the response does not explicitly refuse",
            "PLAIN": "RESULT: 4",
        }
        return "**Reasoning:** Weighed.\n\n" + verdicts[prompt]


def test_unparsed_study_mode_reads_the_first_result_marker_as_the_study_did(tmp_path):
    tasks = [
        JudgeTask("RATE", "likert", {"dataset": "bfi", "item_id": "1"}),
        JudgeTask(
            "PICK",
            "pairwise",
            {"dataset": "rolebench_specific", "item_id": "2"},
            reference_position="A",
            fallback="seeded_choice",
        ),
        JudgeTask("REFUSED?", "binary", {"dataset": "xstest", "item_id": "3"}),
        JudgeTask("PLAIN", "likert", {"dataset": "fidelity", "item_id": "4"}, fallback="score_of"),
    ]
    rows = {}
    for mode in ("drop", "study"):
        config = RunConfig(output_dir=str(tmp_path), judging={"unparsed": mode})
        store = ResponseStore(tmp_path / f"{mode}.sqlite")
        rows[mode] = run_judge_tasks(tasks, config, SeleneLikeJudge(), store, model_name="m")
    drop, study = rows["drop"], rows["study"]
    assert list(drop["parse_status"]) == ["unparsed", "unparsed", "unparsed", "ok"]  # strict: the last line, whole
    assert list(study["parse_status"]) == ["ok", "ok", "ok", "unparsed"]  # the study: the first marker's first word
    assert list(study["value"][:3]) == [1, "A", True] and list(study["score"][:3]) == [0.0, 0.0, 100.0]
    assert "no '**Result:** <number>' marker" in study.loc[3, "parse_reason"]  # the study's marker is bold


def test_self_reference_compares_later_answers_with_earlier_ones_without_new_generation(tmp_path):
    from persona_lib.datasets.self_reference import earlier_checkpoint
    from persona_lib.generation import generate_benchmarks, generate_dialogues
    from persona_lib.personas import select_personas

    assert earlier_checkpoint([0, 4, 8], 8, "round0") == 0 and earlier_checkpoint([0, 4, 8], 8, "previous") == 4
    assert earlier_checkpoint([0, 4, 8], 0, "previous") is None
    base = dict(
        output_dir=str(tmp_path),
        personas=["Gaston"],
        dialogue_kinds=["persona_directed"],
        n_rounds=4,
        checkpoints=[0, 2, 4],
        shuffled_replicate=False,
        item_limit={"rolebench_specific": 2},
    )
    plain = RunConfig(**base, datasets=["rolebench_specific"])
    both = RunConfig(
        **base, datasets=["rolebench_specific", "rolebench_specific_vs_round0", "rolebench_specific_vs_previous"]
    )
    store = ResponseStore(tmp_path / "responses.sqlite")
    model = ScriptedBackend()
    dialogues = generate_dialogues(plain, model, store)
    generate_benchmarks(plain, model, store, dialogues)
    stored = len(store)
    answers = generate_benchmarks(both, model, store, dialogues)
    assert len(store) == stored  # the self-reference items are the same requests: nothing new was generated
    scores = score_run(both, ScriptedJudge(), store, answers, None, select_personas(["Gaston"]))
    vs_round0 = scores[scores["dataset"] == "rolebench_specific_vs_round0"]
    # Gaston and the baseline x 2 items x checkpoints 2 and 4 (checkpoint 0 has nothing earlier)
    assert len(vs_round0) == 8 and set(vs_round0["checkpoint"]) == {2, 4}
    assert set(vs_round0["metric"]) == {"rolebench_specific_vs_round0"} and set(vs_round0["persona"]) == {"Gaston"}
    previous = scores[scores["dataset"] == "rolebench_specific_vs_previous"]
    judged = store.to_dataframe(stage="judge")
    prompt_of = dict(zip(judged["key"], judged["key"]))
    assert len(previous) == 8 and prompt_of
    row = vs_round0[(vs_round0["condition"] == "Gaston") & (vs_round0["checkpoint"] == 4)].iloc[0]
    asked = answers[
        (answers["dataset"] == "rolebench_specific")
        & (answers["condition"] == "Gaston")
        & (answers["item_id"] == row["item_id"])
    ].set_index("checkpoint")["response"]
    prompt = store.get(row["judge_key"]).messages[-1]["content"]
    assert asked[0] in prompt and asked[4] in prompt and asked[2] not in prompt


def test_baseline_pairwise_judge_prompt_shows_the_question_as_written():
    """The baseline is asked without the address, but the study's judge saw the question addressed to the character."""
    spec = get_dataset("rolebench_specific")
    items = {item.item_id: item for item in spec.load(None)}
    item = items["Gaston/01"]
    asked = spec.ask(item, None)
    answers = pd.DataFrame(
        [
            {
                "condition": "empty",
                "kind": "persona_directed",
                "checkpoint": 0,
                "dataset": "rolebench_specific",
                "item_id": "Gaston/01",
                "prompt": asked,
                "response": "Because I can.",
                "finish_reason": "stop",
            }
        ]
    )
    tasks, _ = spec.judge_tasks(ScoringInputs(answers, None, items, {"Gaston": GASTON}, "m"))
    assert asked != item.prompt and item.prompt.startswith("Gaston, ")
    question = _between(tasks[0].prompt, "<<<QUERY\n", "\nQUERY>>>")
    assert question == item.prompt and question == _between(tasks[0].swapped_prompt, "<<<QUERY\n", "\nQUERY>>>")


def test_protocol_chapter_quotes_every_likert_anchor_as_the_templates_send_it():
    from persona_lib.datasets._spec import TEMPLATE_DIR
    from persona_lib.paths import PROJECT_ROOT

    chapter = (PROJECT_ROOT / "book" / "protocol.md").read_text()
    table = chapter.split(":name: tab-anchors", 1)[1].split("```", 1)[0]
    rows = re.findall(r'\* - (.+)\n  - ([1-5])\n  - "(.+)"\n', table)
    templates = {
        "Knowledge": "fidelity_knowledge",
        "Style": "fidelity_style",
        "In character": "fidelity_in_character",
        "BFI trait level": "bfi_trait",
    }
    assert len(rows) == 5 * len(templates)
    for criterion, score, anchor in rows:
        text = (TEMPLATE_DIR / f"{templates[criterion]}.txt").read_text()
        text = text.replace("${low_pole}", "{low pole}").replace("${high_pole}", "{high pole}")
        assert f"\n{score} = {anchor}\n" in text, (criterion, score)
