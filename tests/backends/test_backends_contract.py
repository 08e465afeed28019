"""The contract every backend honours, checked on each backend available in this environment.

All backends serve the bundled SmolLM2-135M-Instruct with a 256-token context (see conftest.py).
"""

from __future__ import annotations

from persona_lib.backends import Backend, Completion, SamplingParams

SHORT = SamplingParams(max_new_tokens=16)
CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]
PERSONA = [
    {"role": "system", "content": "You are Gaston, a proud hunter from a small French village."},
    {"role": "user", "content": "Tell me about yourself."},
    {"role": "assistant", "content": "I am the finest hunter in the village, and everyone knows it."},
    {"role": "user", "content": "What do you do on a quiet evening at the tavern?"},
]
POEM = [{"role": "user", "content": "Write a short poem about the sea."}]
TOO_LONG = [{"role": "user", "content": "Repeat after me: " + "word " * 400}]


def test_backend_structure_and_order(backend):
    assert isinstance(backend, Backend)
    assert backend.name in ("transformers", "vllm", "openai")
    assert backend.model.endswith("SmolLM2-135M-Instruct")
    info = backend.version_info()
    assert info["backend"] == backend.name and info["model"] == backend.model

    completions = backend.generate([PERSONA, CAPITAL, POEM], SHORT)

    assert len(completions) == 3
    assert all(isinstance(c, Completion) and c.ok and c.error is None for c in completions)
    assert all(c.text.strip() and 0 < c.completion_tokens <= 16 for c in completions)
    assert "Paris" in completions[1].text  # answers come back in input order
    # The four-message persona conversation is the longest prompt, the capital question the shortest.
    assert completions[0].prompt_tokens > completions[2].prompt_tokens > completions[1].prompt_tokens > 0


def test_greedy_generation_is_deterministic(backend):
    first = backend.generate([POEM, PERSONA], SHORT)
    second = backend.generate([POEM, PERSONA], SHORT)
    assert [c.text for c in first] == [c.text for c in second]
    assert [c.completion_tokens for c in first] == [c.completion_tokens for c in second]


def test_tiny_budget_ends_with_length(backend):
    (completion,) = backend.generate([POEM], SamplingParams(max_new_tokens=3))
    assert completion.finish_reason == "length"
    assert completion.completion_tokens == 3
    assert completion.text


def test_short_answer_ends_with_stop(backend):
    (completion,) = backend.generate([CAPITAL], SamplingParams(max_new_tokens=48))
    assert completion.finish_reason == "stop"
    assert completion.completion_tokens < 48


def test_context_overflow_is_an_outcome_inside_a_batch(backend, context_length):
    completions = backend.generate([CAPITAL, TOO_LONG, POEM], SHORT)

    overflow = completions[1]
    assert overflow.finish_reason == "context_overflow"
    assert overflow.text == "" and overflow.completion_tokens == 0
    assert overflow.prompt_tokens > context_length
    assert overflow.error == f"prompt has {overflow.prompt_tokens} tokens; context is {context_length}"
    assert completions[0].ok and "Paris" in completions[0].text
    assert completions[2].ok and completions[2].text


def test_budget_is_cut_to_the_free_context(backend, context_length):
    """A prompt that fits, with fewer free positions than max_new_tokens, is answered within the context."""
    long_question = [{"role": "user", "content": "Summarise: " + "the sea is calm today. " * 40}]
    completions = backend.generate([long_question, CAPITAL], SamplingParams(max_new_tokens=context_length))
    long_answer, capital = completions
    assert long_answer.ok and long_answer.prompt_tokens > context_length // 2
    assert long_answer.prompt_tokens + long_answer.completion_tokens <= context_length
    assert capital.ok and "Paris" in capital.text


def test_a_malformed_conversation_fails_alone(backend):
    bad = [{"role": "narrator", "content": "Once upon a time."}]
    good, failed = backend.generate([CAPITAL, bad], SHORT)
    assert good.ok and "Paris" in good.text
    assert failed.finish_reason == "error" and failed.text == ""
    assert "narrator" in failed.error


def test_baseline_prompt_has_no_system_block(backend, bundled_tokenizer):
    """The model sees exactly the ChatML turns it was given: no injected default system prompt."""
    expected = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    expected_tokens = len(bundled_tokenizer(expected, add_special_tokens=False)["input_ids"])
    with_system = [{"role": "system", "content": "You are Gaston."}] + CAPITAL
    system_block = "<|im_start|>system\nYou are Gaston.<|im_end|>\n"
    system_tokens = len(bundled_tokenizer(system_block, add_special_tokens=False)["input_ids"])

    baseline, persona = backend.generate([CAPITAL, with_system], SamplingParams(max_new_tokens=1))

    assert baseline.prompt_tokens == expected_tokens
    assert persona.prompt_tokens == expected_tokens + system_tokens


def test_a_truncated_prompt_keeps_its_end_and_fits(backend, context_length):
    (whole, truncated) = backend.generate([TOO_LONG], SHORT) + backend.generate(
        [TOO_LONG], SamplingParams(max_new_tokens=16, truncate_prompt_tokens=64)
    )
    assert whole.finish_reason == "context_overflow"
    assert truncated.ok and truncated.prompt_tokens == 64 and truncated.text


RATING = [
    {
        "role": "user",
        "content": "How polite is this reply, from 1 (rude) to 5 (very polite)? Reply: 'Get lost.'\n"
        "End with **Result:** <an integer from 1 to 5>",
    }
]
LIKERT_LABELS = SamplingParams(
    max_new_tokens=1, answer_prefix="**Result:**", score_labels=(" 1", " 2", " 3", " 4", " 5")
)


def test_label_distribution_sums_to_one_and_generates_nothing(backend):
    from persona_lib.backends import decode_label_distribution

    rating, capital = backend.generate([RATING, CAPITAL], LIKERT_LABELS)

    for completion in (rating, capital):
        assert completion.ok and completion.completion_tokens == 0
        probs, mass = decode_label_distribution(completion.text)
        assert list(probs) == [" 1", " 2", " 3", " 4", " 5"]
        assert abs(sum(probs.values()) - 1) < 1e-6 and all(p >= 0 for p in probs.values())
        assert 0 < mass <= 1 + 1e-6
    assert rating.prompt_tokens > 0
    assert decode_label_distribution(rating.text) != decode_label_distribution(capital.text)


def test_label_distributions_agree_across_calls_and_batches(backend):
    """The same prompt alone and inside a padded batch: the same distribution up to rounding (bfloat16 on CPUs that
    have it moves probabilities by a few hundredths; float32 by less than 1e-4)."""
    from persona_lib.backends import decode_label_distribution

    alone = backend.generate([RATING], LIKERT_LABELS)[0]
    batched = backend.generate([POEM, RATING, PERSONA], LIKERT_LABELS)[1]

    first, _ = decode_label_distribution(alone.text)
    second, _ = decode_label_distribution(batched.text)
    assert max(abs(first[label] - second[label]) for label in first) < 0.06
    assert max(first, key=first.get) == max(second, key=second.get)
