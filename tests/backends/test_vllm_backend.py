"""vLLM-specific behaviour: the derived context length and the engine rebuilt when work outgrows it.

Run in the vllm environment: ``.venv-vllm/bin/python -m pytest -m vllm tests`` (``make test-vllm``).
"""

from __future__ import annotations

import pytest

from persona_lib.backends import SamplingParams, create_backend
from persona_lib.config import ModelConfig

pytestmark = pytest.mark.vllm


def test_derived_context_grows_with_the_work(vllm_backend, bundled_dir):
    vllm_backend.close()  # one engine at a time on a small machine; the shared one restarts when next used
    backend = create_backend(
        ModelConfig(backend="vllm", extra={"enforce_eager": True, "max_model_len_granularity": 256})
    )
    try:
        question = [{"role": "user", "content": "What is the capital of France?"}]
        (short,) = backend.generate([question], SamplingParams(max_new_tokens=16))
        assert short.ok and "Paris" in short.text
        assert backend.max_model_len == 256  # derived from the work, not the model's 8192

        long_question = [{"role": "user", "content": "Summarise: " + "the sea is calm today. " * 50}]
        (long,) = backend.generate([long_question], SamplingParams(max_new_tokens=16))
        assert long.ok and long.prompt_tokens > 256
        assert backend.max_model_len == 512  # the engine was rebuilt larger
        assert backend.version_info()["max_model_len"] == "512"
    finally:
        backend.close()


LIKERT = SamplingParams(max_new_tokens=1, answer_prefix="**Result:**", score_labels=(" 1", " 2", " 3", " 4", " 5"))
RATING = [
    {
        "role": "user",
        "content": "How polite is this reply, from 1 (rude) to 5 (very polite)? Reply: 'Thank you so much!'\n"
        "End with **Result:** <an integer from 1 to 5>",
    }
]
PERSONA_RATING = [
    {"role": "system", "content": "You are Gaston, a proud hunter from a small French village."},
    {"role": "user", "content": "How much do you like books, from 1 (not at all) to 5 (very much)?"},
    {"role": "assistant", "content": "Books? Ha! I prefer the hunt."},
    {"role": "user", "content": "Give your answer as **Result:** <an integer from 1 to 5>"},
]
YES_NO = SamplingParams(max_new_tokens=1, answer_prefix="Answer:", score_labels=(" yes", " no"))
WATER = [{"role": "user", "content": "Is water wet? Reply with Answer: <yes or no>"}]
TOO_LONG = [{"role": "user", "content": "Rate this text from 1 to 5: " + "word " * 400}]
TRUNCATED_ENDS = SamplingParams(answer_prefix="**Result:**", score_labels=(" 1", " 5"), truncate_prompt_tokens=64)


@pytest.fixture(scope="module")
def float32_pair(vllm_backend):
    """A vLLM and a transformers backend on the bundled model, both in float32 (bfloat16 kernels round
    differently in the two implementations; float32 shows whether they compute the same thing)."""
    vllm_backend.close()  # one engine at a time on a small machine; the shared one restarts when next used
    config = {"max_model_len": 256, "dtype": "float32"}
    vllm = create_backend(ModelConfig(backend="vllm", extra={"enforce_eager": True}, **config))
    transformers = create_backend(ModelConfig(backend="transformers", batch_size=4, **config))
    yield vllm, transformers
    vllm.close()


def test_label_distributions_match_the_transformers_backend(float32_pair):
    """Same prompts, same model: vLLM's raw label log-probabilities are the transformers forward pass's."""
    from persona_lib.backends import decode_label_distribution

    vllm, transformers = float32_pair
    for conversations, params in (
        ([RATING, PERSONA_RATING, TOO_LONG], LIKERT),
        ([WATER], YES_NO),
        ([TOO_LONG, RATING], TRUNCATED_ENDS),
    ):
        for ours, theirs in zip(vllm.generate(conversations, params), transformers.generate(conversations, params)):
            assert (ours.finish_reason, ours.prompt_tokens) == (theirs.finish_reason, theirs.prompt_tokens)
            if ours.finish_reason == "context_overflow":
                assert ours.prompt_tokens > 256 and ours.error == theirs.error
                continue
            assert ours.ok and ours.completion_tokens == 0
            ours_probs, ours_mass = decode_label_distribution(ours.text)
            theirs_probs, theirs_mass = decode_label_distribution(theirs.text)
            assert list(ours_probs) == list(params.score_labels)
            for label in params.score_labels:  # measured: agree to 1e-5
                assert ours_probs[label] == pytest.approx(theirs_probs[label], abs=1e-3)
            assert ours_mass == pytest.approx(theirs_mass, abs=1e-3)
            assert 0 < ours_mass < 1


def test_label_distributions_refuse_a_logprobs_mode_that_is_not_raw(bundled_dir):
    backend = create_backend(ModelConfig(backend="vllm", extra={"logprobs_mode": "processed_logits"}))

    (completion,) = backend.generate([RATING], LIKERT)

    assert completion.finish_reason == "error" and backend.llm is None  # refused before an engine is started
    assert "model.extra.logprobs_mode is 'processed_logits'" in completion.error
