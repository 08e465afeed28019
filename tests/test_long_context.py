"""Long contexts at small scale, the same on every backend.

The paper's runs hold 128,000-token contexts, and dialogues that outgrow them stop; judge prompts of benchmark answers
keep their last 8,192 tokens. Here the bundled model gets a 384-token context and dialogues of seven rounds that
outgrow it, and the judge's prompts are cut to their last 160 tokens. On transformers, on vLLM and on vLLM's
OpenAI-compatible server alike: the stop is recorded with its round (not an error), items at checkpoints past the stop
are skipped and counted, judge prompts are cut as the protocol cuts them, and the three agree on all of it.

Run in ``.venv-vllm`` (``make test`` does).
"""

from __future__ import annotations

import pandas as pd
import pytest

from persona_lib import stages
from persona_lib.backends import create_backend
from persona_lib.config import ModelConfig, RunConfig
from persona_lib.run import Run

pytestmark = pytest.mark.vllm

CONTEXT = 384
CUT = 160
ROUNDS = 7
BUNDLED = "bundled:SmolLM2-135M-Instruct"


def _config(model: ModelConfig, folder) -> RunConfig:
    return RunConfig(
        output_dir=str(folder),
        model=model,
        judge=model,
        generation={"max_new_tokens": 48},
        judging={"max_new_tokens": 8, "truncate_prompt_tokens": CUT},
        personas=["Gaston"],
        include_baseline=True,
        dialogue_kinds=["persona_directed"],
        n_rounds=ROUNDS,
        shuffled_replicate=False,
        checkpoints=[0, 2, ROUNDS],
        datasets=["fidelity", "xstest"],
        item_limit={"xstest": 2},
    )


def _models(server) -> dict[str, ModelConfig]:
    local = {"model": BUNDLED, "dtype": "float32", "max_model_len": CONTEXT}
    return {
        "transformers": ModelConfig(backend="transformers", batch_size=4, **local),
        "vllm": ModelConfig(backend="vllm", extra={"enforce_eager": True}, **local),
        "openai": ModelConfig(
            backend="openai",
            model=server.model,
            base_url=server.base_url,
            max_concurrency=4,
            extra={"max_retries": 2, "retry_base_delay": 0.05, "retry_max_delay": 0.2, "timeout": 120},
        ),
    }


@pytest.fixture(scope="module")
def outcomes(vllm_servers, tmp_path_factory) -> dict[str, dict]:
    results = {}
    for name, model in _models(vllm_servers(CONTEXT)).items():
        run = Run.create(_config(model, tmp_path_factory.mktemp(name)))
        backend = create_backend(model)
        try:
            dialogue_table = stages.dialogues(run, backend)
            answers = stages.benchmark_answers(run, backend, dialogue_table)
            stages.scores(run, backend, answers, dialogue_table)
        finally:
            getattr(backend, "close", lambda: None)()
        results[name] = {
            "dialogues": dialogue_table,
            "skipped": answers.attrs["skipped_checkpoints"],
            "sent": run.store.to_dataframe(),
        }
    return results


def _stops(dialogue_table: pd.DataFrame) -> dict[str, tuple]:
    """Per condition: the round its dialogue stopped at and the finish reason (the message after it gives token
    counts, which a server may state as a lower bound: vLLM's "at least N input tokens")."""
    first = dialogue_table.groupby("condition").first()
    return {c: (row.stopped_at_round, row.stop_reason.split(":")[0]) for c, row in first.iterrows()}


def test_a_dialogue_that_outgrows_the_context_stops_and_says_where(outcomes):
    stops = _stops(outcomes["transformers"]["dialogues"])
    assert {reason for _, reason in stops.values()} == {"context_overflow"}, stops
    assert all(1 < round_ < ROUNDS for round_, _ in stops.values()), stops  # past the start, before the end
    for name in ("vllm", "openai"):
        assert _stops(outcomes[name]["dialogues"]) == stops, name
    sent = outcomes["transformers"]["sent"]
    assert not sent["finish_reason"].eq("error").any()  # the stop is an outcome, not a failure


def test_items_past_the_stop_are_skipped_and_counted_alike(outcomes):
    skipped = outcomes["transformers"]["skipped"]
    available = {
        condition: round_ - 1 for condition, (round_, _) in _stops(outcomes["transformers"]["dialogues"]).items()
    }
    expected = sorted(
        (condition, checkpoint)
        for condition in available
        for checkpoint in (0, 2, ROUNDS)
        if checkpoint > available[condition]
    )
    assert sorted(zip(skipped["condition"], skipped["checkpoint"])) == expected and (
        ROUNDS in skipped["checkpoint"].values
    )
    columns = ["condition", "kind", "checkpoint", "rounds_available"]
    for name in ("vllm", "openai"):
        pd.testing.assert_frame_equal(
            outcomes[name]["skipped"][columns].reset_index(drop=True), skipped[columns].reset_index(drop=True)
        )


def test_judge_prompts_of_benchmark_answers_keep_their_last_tokens_alike(outcomes):
    counts = {}
    for name, outcome in outcomes.items():
        judged = outcome["sent"]
        benchmark_verdicts = judged[(judged["stage"] == "judge") & (judged["dataset"] == "xstest")]
        turn_verdicts = judged[(judged["stage"] == "judge") & (judged["dataset"] == "fidelity")]
        assert len(benchmark_verdicts) and benchmark_verdicts["prompt_tokens"].max() == CUT, name
        assert turn_verdicts["prompt_tokens"].max() > CUT, name  # dialogue-turn prompts are never cut
        counts[name] = sorted(benchmark_verdicts["prompt_tokens"])
    assert counts["vllm"] == counts["transformers"] == counts["openai"]
