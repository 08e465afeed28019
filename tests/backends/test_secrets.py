"""API keys come from the environment only and end up in no file of a run: not the configuration, the store, the
tables, the executed notebooks or the logs. The run talks to the hand-written ``fault_server``, the one server that
reports which key it received (as a SHA-256)."""

from __future__ import annotations

import hashlib
import logging
import uuid

import pytest

from persona_lib.backends import create_backend
from persona_lib.config import ConfigError, config_from_dict
from persona_lib.pipeline import parse_stages, run_pipeline
from persona_lib.run import Run
from persona_lib.scoring import score_run

KEY_VARIABLE = "PERSONA_EVAL_SECRET_TEST_KEY"


def test_a_key_cannot_be_written_into_a_configuration():
    with pytest.raises(ConfigError, match=r"model\.api_key: Extra inputs are not permitted"):
        config_from_dict({"model": {"backend": "openai", "base_url": "http://x/v1", "api_key": "sk-abc"}})


@pytest.mark.slow
def test_the_key_reaches_the_server_and_no_file_of_the_run(fault_server, tmp_path, monkeypatch, caplog, capfd):
    key = f"sk-persona-eval-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_VARIABLE, key)
    caplog.set_level(logging.DEBUG)  # the most talkative logging a user could switch on
    endpoint = {
        "backend": "openai",
        "model": "SmolLM2-135M-Instruct",
        "base_url": fault_server.base_url,
        "api_key_env": KEY_VARIABLE,
        "max_concurrency": 2,
        "extra": {"max_retries": 1, "retry_base_delay": 0.01, "retry_max_delay": 0.05, "timeout": 60},
    }
    config = config_from_dict(
        {
            "name": "secrets",
            "output_dir": str(tmp_path / "run"),
            "model": endpoint,
            "judge": endpoint,
            "generation": {"max_new_tokens": 8},
            "judging": {"max_new_tokens": 8},
            "personas": ["Gaston"],
            "include_baseline": True,
            "dialogue_kinds": ["persona_directed"],
            "n_rounds": 1,
            "checkpoints": [0, 1],
            "shuffled_replicate": False,
            "datasets": ["xstest"],
            "item_limit": {"xstest": 1},
        }
    )

    run_pipeline(config, parse_stages("generate"))  # the dialogue and benchmark notebooks, through papermill
    run = Run.open(config.output_dir)
    scores = score_run(config, create_backend(config.judge), run.store, run.answers(), run.dialogues(), run.personas())
    run.write_scores(scores)

    sent = run.store.to_dataframe()
    assert set(sent["backend"]) == {"openai"} and set(sent["stage"]) == {"dialogue", "benchmark", "judge"}
    assert hashlib.sha256(key.encode()).hexdigest() in fault_server.key_digests()  # the key was really used
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert {path.name for path in files} >= {
        "config.yaml",
        "responses.sqlite",
        "scores.csv",
        "dialogues.ipynb",
        "benchmark_answers.ipynb",
    }
    leaking = [str(path) for path in files if key.encode() in path.read_bytes()]
    assert leaking == []
    assert KEY_VARIABLE in (tmp_path / "run" / "config.yaml").read_text()  # only the variable's name is kept
    output = capfd.readouterr()
    assert key not in output.out and key not in output.err
    assert key not in caplog.text
