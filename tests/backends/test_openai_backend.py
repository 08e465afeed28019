"""The openai backend: retries and give-up against injected failures (the hand-written ``fault_server``, since a
real server does not fail on demand); context errors and budget cuts against vLLM's own server (``vllm_server``)."""

from __future__ import annotations

import random
import socket

import pytest

from persona_lib.backends import SamplingParams, create_backend
from persona_lib.backends._openai import (
    backoff_delay,
    is_context_length_error,
    parse_budget_limit,
    parse_context_numbers,
)

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
SHORT = SamplingParams(max_new_tokens=8)
VLLM_MESSAGE = (
    "This model's maximum context length is 256 tokens. However, you requested 310 tokens "
    "(278 in the messages, 32 in the completion). Please reduce the length of the messages or completion."
)


VLLM_032_MESSAGES = {  # vLLM 0.32's wordings (vllm/renderers/params.py, vllm/entrypoints/serve/utils/api_utils.py)
    "This model's maximum context length is 256 tokens. However, your prompt contains 300 input tokens, which "
    "exceeds this limit even without any output tokens. Please reduce the length of the input prompt.": (300, 256),
    "This model's maximum context length is 256 tokens. However, your prompt contains at least 257 input tokens, "
    "which exceeds this limit even without any output tokens.": (257, 256),
    "Input length (300) exceeds model's maximum context length (256).": (300, 256),
}


def test_context_error_messages_are_recognised_and_parsed():
    assert is_context_length_error(VLLM_MESSAGE)
    assert parse_context_numbers(VLLM_MESSAGE) == (278, 256)
    for message, numbers in VLLM_032_MESSAGES.items():
        assert is_context_length_error(message) and parse_context_numbers(message) == numbers
    budget = "max_tokens=8192 cannot be greater than max_model_len=256. Please request fewer output tokens."
    assert parse_budget_limit(budget) == 256 and parse_budget_limit(VLLM_MESSAGE) is None
    openai_style = "This model's maximum context length is 8192 tokens. However, your messages resulted in 9001 tokens."
    assert parse_context_numbers(openai_style) == (9001, 8192)
    assert not is_context_length_error("Invalid value for 'temperature'")
    assert parse_context_numbers("prompt too long") is None


def test_backoff_grows_exponentially_within_the_cap():
    rng = random.Random(0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 5.0)]:
        delays = [backoff_delay(attempt, base=0.5, maximum=5.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # full jitter spreads over the whole interval


@pytest.mark.slow
def test_rate_limits_and_server_errors_are_retried(fault_server, make_openai_config):
    backend = create_backend(make_openai_config(fault_server.base_url))
    fault_server.fail_next([429, 500, 503])
    (completion,) = backend.generate([QUESTION], SHORT)
    assert completion.ok and "Paris" in completion.text
    assert completion.extra["attempts"] == 4
    assert fault_server.stats() == {"requests": 4, "injected_failures": 3}


@pytest.mark.slow
def test_an_error_is_recorded_after_the_last_retry(fault_server, make_openai_config):
    backend = create_backend(make_openai_config(fault_server.base_url, max_retries=2))
    fault_server.fail_next([500, 500, 500, 500])
    (completion,) = backend.generate([QUESTION], SHORT)
    assert completion.finish_reason == "error" and completion.text == ""
    assert completion.error == "gave up after 3 attempts: HTTP 500: injected failure 500"
    assert fault_server.stats()["requests"] == 3


@pytest.mark.slow
def test_one_failing_request_does_not_fail_the_batch(fault_server, make_openai_config):
    backend = create_backend(make_openai_config(fault_server.base_url, max_retries=0, max_concurrency=1))
    fault_server.fail_next([429])  # with one worker, the first conversation gets the 429
    first, second = backend.generate([QUESTION, QUESTION], SHORT)
    assert first.finish_reason == "error" and "HTTP 429" in first.error
    assert second.ok and "Paris" in second.text


@pytest.mark.slow
def test_unreachable_server_is_an_error_not_a_crash(make_openai_config):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    backend = create_backend(make_openai_config(f"http://127.0.0.1:{free_port}/v1", max_retries=1))
    (completion,) = backend.generate([QUESTION], SHORT)
    assert completion.finish_reason == "error"
    assert completion.error.startswith("gave up after 2 attempts: APIConnectionError")


@pytest.mark.slow
def test_budget_is_cut_when_only_the_generation_does_not_fit(openai_backend, context_length):
    """A prompt that fits but leaves fewer than max_new_tokens free positions is answered with a cut budget: vLLM's
    400 names the prompt's length and the context, and the backend asks again with what is free."""
    long_question = [{"role": "user", "content": "Summarise: " + "the sea is calm today. " * 30}]
    (completion,) = openai_backend.generate([long_question], SamplingParams(max_new_tokens=context_length))
    assert completion.ok, completion.error
    assert completion.prompt_tokens + completion.completion_tokens == context_length  # the whole free budget
    assert completion.finish_reason == "length"


@pytest.mark.slow
def test_a_budget_larger_than_the_whole_context_is_cut_to_it(openai_backend, context_length):
    """vLLM 0.32 refuses max_tokens above its max_model_len outright; the backend asks again for the context, which
    the server cuts to the free positions (a study setting of 8,192 new tokens on a smaller server)."""
    (completion,) = openai_backend.generate([QUESTION], SamplingParams(max_new_tokens=8192))
    assert completion.ok, completion.error
    assert completion.extra["attempts"] == 1  # of the second request; the first got the 400
    assert 0 < completion.prompt_tokens + completion.completion_tokens <= context_length


def test_api_key_defaults_to_empty_for_local_servers(make_openai_config, monkeypatch):
    pytest.importorskip("openai")
    monkeypatch.delenv("PERSONA_TEST_KEY", raising=False)
    config = make_openai_config("http://127.0.0.1:9/v1").model_copy(update={"api_key_env": "PERSONA_TEST_KEY"})
    assert create_backend(config).client.api_key == "EMPTY"
    monkeypatch.setenv("PERSONA_TEST_KEY", "sk-test")
    assert create_backend(config).client.api_key == "sk-test"


def test_request_options_and_prompt_truncation_reach_the_server(fault_server, make_openai_config):
    """What arrived at the server (the hand-written one reports the fields it received; a real server does not)."""
    import json
    import urllib.request

    backend = create_backend(make_openai_config(fault_server.base_url, request_options={"reasoning_effort": "none"}))
    (completion,) = backend.generate([QUESTION], SamplingParams(max_new_tokens=8, truncate_prompt_tokens=4096))
    assert completion.ok
    root = fault_server.base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/last_fields") as response:
        fields = json.load(response)["fields"]
    assert {"reasoning_effort", "truncate_prompt_tokens", "messages", "max_tokens"} <= set(fields)
    assert backend.version_info()["request_options"] == "{'reasoning_effort': 'none'}"
