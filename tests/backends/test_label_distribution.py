"""Label distributions (``SamplingParams.score_labels``): the transformers path checked against the model's own
logits, label tokenization, and the stored form."""

from __future__ import annotations

import math

import pytest


@pytest.mark.slow
def test_label_distribution_matches_a_hand_computed_softmax_of_the_logits(bundled_dir):
    """The transformers path: one forward pass over prompt + prefix, softmax over the labels' first tokens (a fresh
    float32 backend, so neither cached keys/values nor bfloat16 rounding come between the two computations)."""
    import torch

    from persona_lib.backends import SamplingParams, create_backend, decode_label_distribution
    from persona_lib.config import ModelConfig

    transformers_backend = create_backend(ModelConfig(dtype="float32", batch_size=4))

    conversation = [{"role": "user", "content": "Is water wet? End with **Result:** <yes or no>"}]
    params = SamplingParams(max_new_tokens=1, answer_prefix="**Result:**", score_labels=(" yes", " no"))

    completion = transformers_backend.generate([conversation], params)[0]

    tokenizer = transformers_backend.tokenizer
    ids = tokenizer(transformers_backend.renderer.render(conversation) + "**Result:**", add_special_tokens=False)
    ids = ids["input_ids"]
    (yes,), (no,) = (tokenizer(word, add_special_tokens=False)["input_ids"] for word in (" yes", " no"))
    with torch.inference_mode():
        logits = transformers_backend.hf_model(torch.tensor([ids])).logits[0, -1].float()
    expected = torch.softmax(logits[[yes, no]], dim=0).tolist()
    mass = torch.softmax(logits, dim=0)[[yes, no]].sum().item()
    probs, stored_mass = decode_label_distribution(completion.text)
    assert completion.ok and completion.prompt_tokens == len(ids)
    assert abs(sum(probs.values()) - 1) < 1e-6
    assert probs[" yes"] == pytest.approx(expected[0], abs=1e-4)
    assert probs[" no"] == pytest.approx(expected[1], abs=1e-4)
    assert stored_mass == pytest.approx(mass, rel=1e-3)


def test_labels_that_share_a_first_token_are_refused_with_the_fix(bundled_tokenizer):
    from persona_lib.backends import label_token_ids

    with pytest.raises(ValueError, match="judging.mode: generate"):
        label_token_ids(bundled_tokenizer, "**Result:**", [" yes", " yes please"])
    context_ids, label_ids = label_token_ids(bundled_tokenizer, "**Result:**", [" A", " B"])
    assert len(set(label_ids)) == 2 and context_ids


def test_stored_distributions_round_trip_and_renormalise():
    from persona_lib.backends import decode_label_distribution, distribution_completion

    completion = distribution_completion(["a", "b", "c"], [math.log(0.2), math.log(0.2), float("-inf")], 7)
    probs, mass = decode_label_distribution(completion.text)
    assert probs == {"a": 0.5, "b": 0.5, "c": 0.0}
    assert mass == pytest.approx(0.4)
    failed = distribution_completion(["a"], [float("-inf")], 7)
    assert failed.finish_reason == "error" and "none of the labels" in failed.error
    with pytest.raises(ValueError, match="not a stored label distribution"):
        decode_label_distribution("RESULT: 3")


@pytest.mark.slow
def test_openai_distribution_matches_the_local_model(openai_backend, bundled_dir):
    """Through vLLM's own server (top log-probabilities, continued assistant prefix) the distribution is the one the
    same model gives locally (both in float32)."""
    from persona_lib.backends import SamplingParams, create_backend, decode_label_distribution
    from persona_lib.config import ModelConfig

    transformers_backend = create_backend(ModelConfig(dtype="float32", batch_size=4))

    conversation = [{"role": "user", "content": "Rate the reply 'Get lost.' for politeness. **Result:** <1 to 5>"}]
    params = SamplingParams(max_new_tokens=1, answer_prefix="**Result:**", score_labels=(" 1", " 2", " 3", " 4", " 5"))

    remote = decode_label_distribution(openai_backend.generate([conversation], params)[0].text)[0]
    local = decode_label_distribution(transformers_backend.generate([conversation], params)[0].text)[0]

    assert max(abs(remote[label] - local[label]) for label in local) < 1e-3


@pytest.mark.slow
def test_openai_distribution_without_logprobs_names_the_fix(vllm_server, make_openai_config):
    """A server that returns no top log-probabilities (here vLLM asked for none, as a proxy would strip them) gets an
    error completion naming judging.mode: generate."""
    from persona_lib.backends import SamplingParams, create_backend

    backend = create_backend(make_openai_config(vllm_server.base_url, top_logprobs=0))
    params = SamplingParams(max_new_tokens=1, answer_prefix="**Result:**", score_labels=(" yes", " no"))

    completion = backend.generate([[{"role": "user", "content": "Is it raining?"}]], params)[0]

    assert completion.finish_reason == "error"
    assert "no log-probabilities" in completion.error and "judging.mode: generate" in completion.error


@pytest.mark.slow
def test_label_distributions_reuse_shared_prefixes_without_changing_them(bundled_dir):
    """Three criteria of one judged turn share everything up to the criterion: with prefix reuse the shared part is
    computed once, and the distributions equal those computed from scratch (float32)."""
    from persona_lib.backends import SamplingParams, create_backend, decode_label_distribution
    from persona_lib.config import ModelConfig

    turn = "Grade this reply of Gaston.\nUser: Who are you?\nReply: The finest hunter in the village, of course!\n"
    conversations = [
        [{"role": "user", "content": turn + f"Criterion: {criterion}. **Result:** <an integer from 1 to 5>"}]
        for criterion in ("STYLE", "KNOWLEDGE", "IN CHARACTER")
    ]
    params = SamplingParams(max_new_tokens=1, answer_prefix="**Result:**", score_labels=(" 1", " 2", " 3", " 4", " 5"))
    distributions = {}
    for reuse in (False, True):
        backend = create_backend(ModelConfig(dtype="float32", batch_size=8, extra={"prefix_cache": reuse}))
        completions = backend.generate(conversations, params)
        distributions[reuse] = [decode_label_distribution(completion.text)[0] for completion in completions]
        if reuse:
            assert backend.stats.reused_tokens >= 2 * 20  # the second and third prompt reuse the shared turn
    for fresh, reused in zip(distributions[False], distributions[True]):
        assert max(abs(fresh[label] - reused[label]) for label in fresh) < 1e-4
