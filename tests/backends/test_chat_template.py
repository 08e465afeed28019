"""The no-default-system chat template and the system-prompt fallback."""

from __future__ import annotations

import pytest

from persona_lib.backends import chat_template_for, merge_system_into_first_user, prepare_conversation
from persona_lib.backends._chat import PromptRenderer, packaged_template
from persona_lib.config import ModelConfig

QUESTION = [{"role": "user", "content": "Are you talkative?"}]
GASTON = "You are Gaston, the proudest hunter in the village."


@pytest.fixture(scope="module")
def renderer(bundled_tokenizer):
    return PromptRenderer(bundled_tokenizer, chat_template_for(ModelConfig()), ModelConfig())


def test_bundled_model_uses_the_packaged_template():
    assert chat_template_for(ModelConfig()) == packaged_template()
    assert chat_template_for(ModelConfig(model="some/other-model")) is None


def test_explicit_template_file_wins_and_a_missing_one_is_named(tmp_path):
    template = tmp_path / "plain.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    assert chat_template_for(ModelConfig(chat_template=str(template))) == template.read_text()
    with pytest.raises(FileNotFoundError, match="missing.jinja"):
        chat_template_for(ModelConfig(chat_template=str(tmp_path / "missing.jinja")))


def test_the_models_own_template_injects_a_default_system_prompt(bundled_tokenizer):
    """Why the packaged template exists: SmolLM2's own template adds a system prompt to the baseline."""
    own = bundled_tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    assert "SmolLM" in own and "<|im_start|>system" in own


def test_baseline_prompt_has_no_system_block(renderer):
    prompt = renderer.render(QUESTION)
    assert prompt == "<|im_start|>user\nAre you talkative?<|im_end|>\n<|im_start|>assistant\n"
    assert "SmolLM" not in prompt and "helpful" not in prompt and "system" not in prompt


def test_persona_prompt_has_the_system_block_exactly_once(renderer):
    prompt = renderer.render([{"role": "system", "content": GASTON}] + QUESTION)
    assert prompt.count("<|im_start|>system") == 1
    assert prompt.count(GASTON) == 1
    assert prompt.startswith(f"<|im_start|>system\n{GASTON}<|im_end|>\n<|im_start|>user\n")
    assert "SmolLM" not in prompt


def test_history_turns_are_rendered_in_order(renderer):
    history = QUESTION + [{"role": "assistant", "content": "Oh yes."}, {"role": "user", "content": "Why?"}]
    prompt = renderer.render(history)
    assert prompt.index("Are you talkative?") < prompt.index("Oh yes.") < prompt.index("Why?")
    assert prompt.endswith("<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n")


def test_merge_into_first_user_prepends_the_system_text():
    conversation = [
        {"role": "system", "content": GASTON},
        {"role": "user", "content": "Hello."},
        {"role": "assistant", "content": "Bonjour."},
        {"role": "user", "content": "Are you talkative?"},
    ]
    merged = merge_system_into_first_user(conversation)
    assert [m["role"] for m in merged] == ["user", "assistant", "user"]
    assert merged[0]["content"] == f"{GASTON}\n\nHello."
    assert merged[2]["content"] == "Are you talkative?"
    assert conversation[1]["content"] == "Hello."  # the input is not modified


def test_merge_leaves_a_baseline_conversation_unchanged_and_needs_a_user_turn():
    assert merge_system_into_first_user(QUESTION) == QUESTION
    with pytest.raises(ValueError, match="no user turn"):
        merge_system_into_first_user([{"role": "system", "content": GASTON}])


def test_fallback_is_applied_only_when_configured(bundled_tokenizer):
    conversation = [{"role": "system", "content": GASTON}] + QUESTION
    merge = ModelConfig(system_prompt_fallback="merge_into_first_user")
    assert prepare_conversation(conversation, ModelConfig()) == conversation
    assert prepare_conversation(conversation, merge) == [{"role": "user", "content": f"{GASTON}\n\nAre you talkative?"}]

    prompt = PromptRenderer(bundled_tokenizer, chat_template_for(merge), merge).render(conversation)
    assert "<|im_start|>system" not in prompt
    assert prompt.startswith(f"<|im_start|>user\n{GASTON}\n\nAre you talkative?<|im_end|>")


def test_malformed_messages_are_rejected_with_their_position(renderer):
    with pytest.raises(ValueError, match="message 1 has role 'narrator'"):
        renderer.render(QUESTION + [{"role": "narrator", "content": "x"}])
    with pytest.raises(TypeError, match="message 0 must be a dict with a string 'content'"):
        renderer.render([{"role": "user"}])
    with pytest.raises(ValueError, match="empty conversation"):
        renderer.render([])
