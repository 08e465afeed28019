"""`persona-eval plan`: the counts follow the protocol, the token counts match a real (scripted) run exactly, the
dialogue prefixes reproduce the study's released lengths, and GPU-hours follow the stated rates."""

from __future__ import annotations

import math

import pytest

from persona_lib.backends import create_backend, prepare_bundled_model
from persona_lib.cli import main
from persona_lib.config import ModelConfig
from persona_lib.generation import generate_benchmarks, generate_dialogues
from persona_lib.paths import PROJECT_ROOT
from persona_lib.personas import select_personas
from persona_lib.plan import GPU_THROUGHPUT, Throughput, plan_run, resolve_throughput
from persona_lib.plan._stages import dialogue_plan
from persona_lib.plan._tokens import released_lengths, token_counter
from persona_lib.released import load_round_lengths
from persona_lib.resolve import load_config
from persona_lib.scoring import score_run, validate_judge
from persona_lib.store import ResponseStore

SCRIPTED = PROJECT_ROOT / "tests" / "configs" / "scripted.yaml"
PAPER = PROJECT_ROOT / "configs" / "paper.yaml"


def _scripted_config(tmp_path, *extra_datasets: str):
    config = load_config(SCRIPTED, output_dir=str(tmp_path / "run"))
    # The scripted backend answers 3 words; with a 3-token cap every estimated answer length is exact too.
    return config.model_copy(
        update={
            "generation": config.generation.model_copy(update={"max_new_tokens": 3}),
            "datasets": [*config.datasets, *extra_datasets],
        }
    )


@pytest.mark.parametrize("judging", [{}, {"mode": "both", "pairwise_orders": 2}], ids=["generate", "both-two-orders"])
def test_plan_matches_what_a_scripted_run_sends_exactly(tmp_path, judging):
    """The scripted backend counts words, so the plan's word counts must equal the prompts really sent (including
    an analysis that reuses RoleBench's answers and only adds judge calls), in every judging mode and order."""
    config = _scripted_config(tmp_path, "rolebench_specific_vs_previous")
    config = config.model_copy(update={"judging": config.judging.model_copy(update=judging)})
    before = plan_run(config).table().set_index("step", append=True)
    store = ResponseStore.for_output_dir(config.output_dir)
    model, judge = create_backend(config.model), create_backend(config.judge)
    dialogues = generate_dialogues(config, model, store)
    answers = generate_benchmarks(config, model, store, dialogues=dialogues)
    score_run(config, judge, store, answers, dialogues, select_personas(config.personas))
    validate_judge(config, judge, store, limit=config.judge_validation_items)

    sent = store.to_dataframe().drop_duplicates("key")
    validation = sent["model_under_test"] == "released-validation-sample"
    actual = {
        ("generate", "dialogues"): sent[sent["stage"] == "dialogue"],
        ("generate", "benchmarks"): sent[sent["stage"] == "benchmark"],
        ("score", "judge"): sent[(sent["stage"] == "judge") & ~validation],
        ("validate", "judge"): sent[(sent["stage"] == "judge") & validation],
    }
    for (stage, step), rows in actual.items():
        planned = before[before["stage"] == stage].xs(step, level="step").iloc[0]
        assert planned["sent"] == len(rows), (stage, step)
        assert planned["prompt_tokens"] == rows["prompt_tokens"].sum(), (stage, step)
        assert planned["prefill_tokens"] < planned["prompt_tokens"]
    assert before["stored"].sum() == 0

    after = plan_run(config).table()
    assert list(after["stored"]) == [
        len(actual[("generate", "dialogues")]),
        len(actual[("generate", "benchmarks")]),
        len(actual[("score", "judge")]),
        0,
        len(actual[("validate", "judge")]),
    ]


@pytest.fixture(scope="module")
def paper_two_personas():
    config = load_config(PAPER)
    return config.model_copy(update={"personas": ["Gaston", "HAL 9000"]})


def test_paper_protocol_counts(paper_two_personas):
    table = plan_run(paper_two_personas, use_tokenizer=False).table().set_index(["stage", "step"])
    # Items per condition: BFI 44 + RoleBench 50 (the baseline: both characters', 100) + IFBench 294 + XSTest 450.
    persona_items, baseline_items = 44 + 50 + 294 + 450, 44 + 100 + 294 + 450
    asked = 2 * persona_items + baseline_items
    kinds_x_checkpoints = 2 * 10
    assert table.loc[("generate", "dialogues"), "requests"] == 3 * 2 * 2 * 102
    assert table.loc[("generate", "benchmarks"), "requests"] == asked * kinds_x_checkpoints
    assert table.loc[("generate", "benchmarks"), "sent"] == asked * (kinds_x_checkpoints - 1)  # t=0 shared
    judged = 2 * (44 + 50 + 450) + (44 + 100 + 450)
    # Every turn x 3 criteria: each persona's turns against its own description, the baseline's against both.
    fidelity = (2 + 2) * 2 * 2 * 102 * 3  # (personas + baseline x personas) x kinds x replicates x rounds x criteria
    assert table.loc[("score", "judge"), "requests"] == judged * kinds_x_checkpoints + fidelity
    assert table.loc[("score", "rules"), "requests"] == 294 * 3 * kinds_x_checkpoints
    assert table.loc[("validate", "judge"), "requests"] == 5 * 50
    benchmarks = table.loc[("generate", "benchmarks")]
    assert benchmarks["prefill_tokens"] < benchmarks["prompt_tokens"] / 100  # shared prefixes computed once


def test_dialogue_prefixes_reproduce_the_released_round_lengths(paper_two_personas):
    config = paper_two_personas
    lengths = released_lengths(config.model)
    assert lengths.source == "the study's lengths for Qwen3-4B-Instruct-2507"
    _, shape = dialogue_plan(config, token_counter(config.model, use_tokenizer=False), lengths, None)
    released = load_round_lengths()
    released = released[released["model"] == "Qwen3-4B-Instruct-2507"]
    for (condition, kind), prefix in shape.prefixes.items():
        expected = released[(released["condition"] == condition) & (released["kind"] == kind)]
        assert prefix == expected.sort_values("round")["prefix_tokens"].tolist(), (condition, kind)


def test_a_model_outside_the_study_uses_the_median_of_its_models():
    lengths = released_lengths(ModelConfig(model="bundled:SmolLM2-135M-Instruct"))
    assert lengths.source.startswith("median of the study's 7 models")
    assert len(lengths.for_condition("Someone New", "goal_oriented")) == 102


def test_gpu_hours_follow_the_stated_rates(tmp_path):
    rates = Throughput("test", prefill_tokens_per_second=1000, decode_tokens_per_second=10, source="test")
    table = plan_run(_scripted_config(tmp_path), rates).table()
    for row in table.itertuples():
        expected = 0.0 if row.model == "none" else (row.prefill_tokens / 1000 + row.generated_tokens / 10) / 3600
        assert math.isclose(row.gpu_hours, expected)
    assert math.isnan(plan_run(_scripted_config(tmp_path)).gpu_hours)


def test_throughput_choices():
    assert resolve_throughput("a100-80gb") == GPU_THROUGHPUT["A100-80GB"]
    assert resolve_throughput() is None
    custom = resolve_throughput(tokens_per_second=500)
    assert (custom.decode_tokens_per_second, custom.prefill_tokens_per_second) == (500, 10_000)
    mixed = resolve_throughput("H100-80GB", tokens_per_second=1200)
    assert (mixed.decode_tokens_per_second, mixed.prefill_tokens_per_second) == (1200, 20_000)
    with pytest.raises(ValueError, match="unknown GPU 'TPU'"):
        resolve_throughput("TPU")
    with pytest.raises(ValueError, match="must be positive"):
        resolve_throughput(tokens_per_second=0)


def test_plan_command_prints_the_table_with_gpu_hours(tmp_path, capsys):
    config = tmp_path / "scripted.yaml"
    config.write_text(SCRIPTED.read_text())
    assert main(["plan", "--config", str(config), "--out", str(tmp_path / "run"), "--gpu", "A100-80GB"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "requests" in line)
    assert header.split() == [
        "stage",
        "step",
        "model",
        "requests",
        "sent",
        "prompt",
        "tokens",
        "(no",
        "cache)",
        "prefill",
        "(prefix",
        "cache)",
        "generated",
        "stored",
        "GPU-hours",
    ]
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    # requests: 48 dialogue rounds + 282 benchmark questions + 402 judge calls + 72 IFBench checks + 15 validation;
    # sent: the interview's first round is the same in both replicates, checkpoint 0 the same in both kinds
    assert total.split()[1:3] == ["819", "710"]
    assert "A100-80GB: rough assumption" in out
    assert main(["plan", "--config", str(config), "--gpu", "abacus"]) == 2
    assert "unknown GPU 'abacus'" in capsys.readouterr().err


def test_the_bundled_models_tokenizer_counts_when_it_is_here():
    folder = prepare_bundled_model()
    transformers = pytest.importorskip("transformers")
    counter = token_counter(ModelConfig())
    assert counter.label == f"the model's tokenizer ({folder})"
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    text = "Take on the role of Gaston. You are known for your confidence."
    assert counter.count(text) == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert token_counter(ModelConfig(), use_tokenizer=False).label.startswith("words x 1.3")


def test_the_running_at_scale_chapter_prints_the_plan_the_paper_configuration_has():
    """The chapter's plan block and the figures its prose quotes are this plan, recomputed (one source)."""
    import re

    config = load_config(PROJECT_ROOT / "configs" / "paper.yaml")
    a100 = plan_run(config, resolve_throughput("A100-80GB", None, None), use_tokenizer=False)
    h100 = plan_run(config, resolve_throughput("H100-80GB", None, None), use_tokenizer=False)
    chapter = (PROJECT_ROOT / "book" / "running_at_scale.md").read_text()
    block = re.search(r"```text\n(plan of run 'paper'.*?)\n```", chapter, re.S).group(1)
    assert block == a100.format().rstrip("\n")
    benchmarks = a100.table().set_index("step").loc["benchmarks"]
    prose = " ".join(chapter.split())
    assert (
        f"would cost {benchmarks['prompt_tokens'] / 1e9:.1f} billion prompt tokens, of which "
        f"{benchmarks['prefill_tokens'] / 1e6:.1f} million"
    ) in prose
    assert f"the same plan is {h100.gpu_hours:.1f} GPU-hours" in prose
    # The prose's judge calls per model are the plan's, and its parts add up to them.
    judge = int(a100.table().set_index(["stage", "step"]).loc[("score", "judge"), "requests"])
    fidelity = 3 * 102 * 2 * 2 * 8  # criteria x turns x kinds x replicates x personas (the baseline: x 8 references)
    assert f"then {judge:,} judge calls" in prose and judge == 2 * fidelity + 104_920
    assert f"{fidelity:,} fidelity verdicts on the persona dialogues' turns, {fidelity:,} on the baseline's" in prose


def test_the_cache_simulation_uses_the_engines_block_size():
    """``model.extra.block_size`` (a vLLM engine argument) sets the simulated block: larger blocks leave more prompt
    tokens in partial blocks, which a prefix cache never serves; without it the plan assumes vLLM's GPU default."""
    config = load_config(PROJECT_ROOT / "configs" / "default.yaml")

    def benchmark_row(block_size: int | None):
        extra = dict(config.model.extra) | ({"block_size": block_size} if block_size else {})
        model = config.model.model_copy(update={"extra": extra})
        plan = plan_run(config.model_copy(update={"model": model}), use_tokenizer=False)
        return plan.table().set_index("step").loc["benchmarks"], plan.notes

    default, notes = benchmark_row(None)
    sixteen, _ = benchmark_row(16)
    one, _ = benchmark_row(1)
    thirty_two, notes_32 = benchmark_row(32)
    assert default.equals(sixteen) and "16-token blocks" in " ".join(notes)
    assert "32-token blocks" in " ".join(notes_32)
    assert one["prompt_tokens"] == sixteen["prompt_tokens"] == thirty_two["prompt_tokens"]
    assert one["prefill_tokens"] < sixteen["prefill_tokens"] < thirty_two["prefill_tokens"]
