"""Model access: one interface over local ``transformers``, offline ``vllm`` and OpenAI-compatible endpoints.

Each backend is one module that registers a :class:`BackendSpec` (:func:`register_backend`); the built-in ones
register when this package is imported. Importing it imports none of torch, vllm or openai;
:func:`create_backend` imports the libraries of the backend it builds.
"""

# The built-in backends, each registering itself (torch, vllm and openai are imported only when one is built).
from persona_lib.backends import _openai, _scripted, _transformers, _vllm  # noqa: F401
from persona_lib.backends._bundled import (
    BUNDLED_MODEL_NAME,
    BUNDLED_PREFIX,
    BUNDLED_WHEEL,
    bundled_gguf_path,
    bundled_model_dir,
    prepare_bundled_model,
    resolve_model_path,
)
from persona_lib.backends._chat import (
    PromptRenderer,
    chat_template_for,
    local_renderer,
    merge_system_into_first_user,
    prepare_conversation,
)
from persona_lib.backends._context import derive_max_model_len
from persona_lib.backends._dtype import DtypeChoice, cpu_model, machine_summary, native_bf16_flags, resolve_dtype
from persona_lib.backends._labels import distribution_completion, label_token_ids
from persona_lib.backends._registry import (
    BackendSpec,
    SettingProblem,
    SettingsCheck,
    UnknownBackendError,
    backend_names,
    create_backend,
    get_backend,
    import_backend_modules,
    register_backend,
)
from persona_lib.backends._scripted import ScriptedBackend
from persona_lib.contract import (
    Backend,
    Completion,
    Conversation,
    Message,
    SamplingParams,
    decode_label_distribution,
    encode_label_distribution,
)

__all__ = [
    "BUNDLED_MODEL_NAME",
    "BUNDLED_PREFIX",
    "BUNDLED_WHEEL",
    "Backend",
    "BackendSpec",
    "Completion",
    "Conversation",
    "DtypeChoice",
    "Message",
    "PromptRenderer",
    "SamplingParams",
    "ScriptedBackend",
    "SettingProblem",
    "SettingsCheck",
    "UnknownBackendError",
    "backend_names",
    "bundled_gguf_path",
    "bundled_model_dir",
    "chat_template_for",
    "cpu_model",
    "create_backend",
    "decode_label_distribution",
    "derive_max_model_len",
    "distribution_completion",
    "encode_label_distribution",
    "get_backend",
    "import_backend_modules",
    "label_token_ids",
    "local_renderer",
    "machine_summary",
    "merge_system_into_first_user",
    "native_bf16_flags",
    "prepare_bundled_model",
    "prepare_conversation",
    "register_backend",
    "resolve_dtype",
    "resolve_model_path",
]
