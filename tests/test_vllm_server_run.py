"""A run whose model and judge are the ``openai`` backend talking to vLLM's own OpenAI-compatible server.

The server (``vllm_server_long`` in ``tests/conftest.py``) is started from ``.venv-vllm`` on the bundled model in
float32: what the backend parses — answers, usage counts, top log-probabilities after a continued assistant prefix,
context errors — is what vLLM writes, not what a server of ours writes. The run goes through the command line
(``persona-eval run``, papermill kernels included) for generation and scoring, with ``judging.mode: both``: every
judged item gets a generated verdict and a label distribution.
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from persona_lib.cli import main
from persona_lib.run import Run

pytestmark = pytest.mark.slow


def _config(server, folder) -> dict:
    endpoint = {
        "backend": "openai",
        "model": server.model,
        "base_url": server.base_url,
        "max_concurrency": 4,
        "extra": {"max_retries": 2, "retry_base_delay": 0.05, "retry_max_delay": 0.2, "timeout": 120},
    }
    return {
        "name": "vllm-server",
        "output_dir": str(folder),
        "model": endpoint,
        "judge": endpoint,
        "generation": {"max_new_tokens": 24},
        "judging": {"mode": "both", "max_new_tokens": 32, "pairwise_orders": 1},
        "personas": ["Gaston"],
        "include_baseline": True,
        "dialogue_kinds": ["persona_directed"],
        "n_rounds": 3,
        "checkpoints": [0, 3],
        "datasets": ["fidelity", "bfi", "rolebench_specific", "ifbench", "xstest"],
        "item_limit": {"bfi": 2, "rolebench_specific": 2, "ifbench": 2, "xstest": 2},
    }


def test_generation_and_judging_in_both_modes_through_vllms_server(vllm_server_long, tmp_path):
    path = tmp_path / "run.yaml"
    folder = tmp_path / "run"
    path.write_text(yaml.safe_dump(_config(vllm_server_long, folder)))

    assert main(["run", "--config", str(path), "--stages", "generate,score"]) == 0

    sent = Run.open(folder).store.to_dataframe()
    assert set(sent["backend"]) == {"openai"} and set(sent["stage"]) == {"dialogue", "benchmark", "judge"}
    failed = sent[sent["finish_reason"].isin(["error", "context_overflow"])]
    assert failed.empty, failed[["stage", "finish_reason", "error"]].to_string()
    judge = sent[sent["stage"] == "judge"]
    assert set(judge["judge_mode"]) == {"generate", "distribution"}

    scores = pd.read_csv(folder / "scores.csv")
    judged = scores[scores["judge_mode"].notna()]
    assert set(judged["dataset"]) == {"fidelity", "bfi", "rolebench_specific", "xstest"}
    assert judged["score_distribution"].notna().all()  # every judged item has its label distribution
    assert judged["judge_mode"].eq("generate").all()  # the score itself comes from the generated verdict
    asked = sent[(sent["stage"] == "benchmark") & (sent["dataset"] == "ifbench")]
    per_cell = asked.groupby(["condition", "checkpoint"]).size()
    assert len(per_cell) == 2 * 2 and (per_cell == 2).all()  # Gaston and the baseline, checkpoints 0 and 3, 2 items
    ifbench = scores[scores["dataset"] == "ifbench"]
    assert set(ifbench["condition"]) == {"Gaston", "empty"} and ifbench["score"].notna().all()
