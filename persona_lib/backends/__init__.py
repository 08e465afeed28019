"""Model access: one interface over local ``transformers``, offline ``vllm`` and OpenAI-compatible endpoints.

Importing this package imports none of torch, vllm or openai; :func:`create_backend` imports the one it needs.
"""

from persona_lib.contract import (
    Backend,
    Completion,
    Conversation,
    Message,
    SamplingParams,
    decode_label_distribution,
    encode_label_distribution,
)
from persona_lib.backends._bundled import bundled_model_dir, prepare_bundled_model, resolve_model_path
from persona_lib.backends._chat import (
    PromptRenderer,
    chat_template_for,
    local_renderer,
    merge_system_into_first_user,
    prepare_conversation,
)
from persona_lib.backends._context import derive_max_model_len
from persona_lib.backends._dtype import DtypeChoice, cpu_model, machine_summary, native_bf16_flags, resolve_dtype
from persona_lib.backends._factory import create_backend
from persona_lib.backends._labels import distribution_completion, label_token_ids
from persona_lib.backends._scripted import ScriptedBackend

__all__ = [
    "Backend",
    "Completion",
    "Conversation",
    "DtypeChoice",
    "Message",
    "PromptRenderer",
    "SamplingParams",
    "ScriptedBackend",
    "bundled_model_dir",
    "chat_template_for",
    "cpu_model",
    "create_backend",
    "decode_label_distribution",
    "derive_max_model_len",
    "distribution_completion",
    "encode_label_distribution",
    "label_token_ids",
    "local_renderer",
    "machine_summary",
    "merge_system_into_first_user",
    "native_bf16_flags",
    "prepare_bundled_model",
    "prepare_conversation",
    "resolve_dtype",
    "resolve_model_path",
]
