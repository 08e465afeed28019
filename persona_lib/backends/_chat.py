"""Chat-template choice and the system-prompt fallback, shared by every backend.

The no-persona baseline must reach the model with *no* system prompt. Some chat templates (SmolLM2's among
them) inject a default system prompt when the conversation has none, so the bundled model is rendered with
``templates/chatml_no_default_system.jinja``: the same ChatML format, with a system block only when the
conversation contains a system message.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from persona_lib.backends._bundled import is_bundled
from persona_lib.config import ModelConfig
from persona_lib.contract import Conversation

NO_DEFAULT_SYSTEM_TEMPLATE = "chatml_no_default_system.jinja"


def packaged_template(name: str = NO_DEFAULT_SYSTEM_TEMPLATE) -> str:
    """The text of a chat template shipped in ``persona_lib/backends/templates``."""
    return resources.files("persona_lib.backends").joinpath("templates").joinpath(name).read_text(encoding="utf-8")


def chat_template_for(config: ModelConfig) -> str | None:
    """The Jinja chat template to render ``config.model`` with, or ``None`` for the model's own.

    ``config.chat_template`` (a file path) wins; the bundled model gets the packaged no-default-system ChatML
    template; any other model uses its own template.

    Raises:
        FileNotFoundError: if ``config.chat_template`` names a missing file.
    """
    if config.chat_template:
        path = Path(config.chat_template)
        if not path.is_file():
            raise FileNotFoundError(
                f"model.chat_template: template file {path} not found; give a path to a Jinja chat template "
                "or remove the field to use the model's own template"
            )
        return path.read_text(encoding="utf-8")
    if is_bundled(config.model):
        return packaged_template()
    return None


def merge_system_into_first_user(conversation: Conversation) -> Conversation:
    """Fold system messages into the first user turn, for chat templates without a system role.

    The system text (several system messages joined by a blank line) is prepended to the first user message,
    separated from it by a blank line. A conversation without a system message is returned unchanged.

    Raises:
        ValueError: if the conversation has a system message but no user message to merge it into.
    """
    system_texts = [message["content"] for message in conversation if message["role"] == "system"]
    if not system_texts:
        return list(conversation)
    rest = [message for message in conversation if message["role"] != "system"]
    first_user = next((i for i, message in enumerate(rest) if message["role"] == "user"), None)
    if first_user is None:
        raise ValueError("cannot merge the system prompt into the first user turn: the conversation has no user turn")
    merged = dict(rest[first_user])
    merged["content"] = "\n\n".join(system_texts) + "\n\n" + merged["content"]
    return rest[:first_user] + [merged] + rest[first_user + 1 :]


def prepare_conversation(conversation: Conversation, config: ModelConfig) -> Conversation:
    """Check a conversation's messages and apply ``config.system_prompt_fallback``, before it is rendered or sent.

    Every backend calls it, so a malformed conversation fails the same way everywhere — also where a server's chat
    template would render a role of its own invention (vLLM's renders any role it is given).

    Raises:
        TypeError: for a message that is not a dict with a string ``content``.
        ValueError: for an empty conversation or a role other than system, user and assistant.
    """
    _check_conversation(conversation)
    if config.system_prompt_fallback == "merge_into_first_user":
        return merge_system_into_first_user(conversation)
    return list(conversation)


def overflow_message(prompt_tokens: int, context: int) -> str:
    """The ``Completion.error`` text for a prompt that does not fit the context."""
    return f"prompt has {prompt_tokens} tokens; context is {context}"


class PromptRenderer:
    """Renders conversations to prompt text and token ids with a Hugging Face tokenizer.

    Used by the local backends to count prompt tokens (and to find context overflows) exactly as the model
    will see the prompt.

    Args:
        tokenizer: A ``transformers`` tokenizer with a chat template (or ``template`` given).
        template: A Jinja chat template overriding the tokenizer's own (``None`` keeps it).
        config: The model configuration (for the system-prompt fallback).
    """

    def __init__(self, tokenizer, template: str | None, config: ModelConfig) -> None:
        self.tokenizer = tokenizer
        self.template = template
        self.config = config

    def render(self, conversation: Conversation) -> str:
        """The prompt text, ending with the assistant generation prompt."""
        _check_conversation(conversation)
        return self.tokenizer.apply_chat_template(
            prepare_conversation(conversation, self.config),
            chat_template=self.template,
            add_generation_prompt=True,
            tokenize=False,
        )

    def token_ids(self, conversation: Conversation) -> list[int]:
        """The prompt's token ids (the template already carries the special tokens)."""
        return self.tokenizer(self.render(conversation), add_special_tokens=False)["input_ids"]

    def round_tokens(self, user: str, assistant: str, *, first: bool) -> int:
        """Tokens one dialogue round adds to the context, counted as the study counted them.

        The round's two messages are rendered alone with the chat template (no system prompt, no generation
        prompt); every round but the first counts one token less, as in the study, which removed the
        beginning-of-sequence token a template repeats in front of each rendering (it did so for every model, so
        for templates without one this is a one-token-per-round undercount, kept for comparability).

        Args:
            user: The round's user message.
            assistant: The model's answer.
            first: Whether this is the dialogue's first round.
        """
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
            chat_template=self.template,
            add_generation_prompt=False,
            tokenize=False,
        )
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) - (0 if first else 1)


def local_renderer(config: ModelConfig) -> PromptRenderer | None:
    """A renderer with the model's tokenizer when it can be loaded without a network (the bundled model, a local
    folder or a cached hub download); ``None`` otherwise (e.g. an API model)."""
    from persona_lib.backends._bundled import resolve_model_path

    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(config.model), local_files_only=True)
    except (ImportError, OSError, ValueError):
        return None
    return PromptRenderer(tokenizer, chat_template_for(config), config)


def _check_conversation(conversation: Conversation) -> None:
    if not conversation:
        raise ValueError("empty conversation: it needs at least one user message")
    for index, message in enumerate(conversation):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise TypeError(f"message {index} must be a dict with a string 'content', got {message!r}")
        if message.get("role") not in ("system", "user", "assistant"):
            raise ValueError(f"message {index} has role {message.get('role')!r}; use 'system', 'user' or 'assistant'")
