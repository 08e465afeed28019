"""The backend registry: every backend a configuration's ``backend`` can name, found by name.

A backend is one module: its class (the :class:`~persona_lib.contract.Backend` contract) and, at the bottom, a
:func:`register_backend` call with its :class:`BackendSpec` — how to build it and what the checks, the plan and the
provenance need to know about it. The built-in backends register when :mod:`persona_lib.backends` is imported; a
backend of your own is a module listed in the run configuration's ``backend_modules``, imported before any backend
is looked up. Building a backend (:func:`create_backend`) is the only step that imports its heavy libraries.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from persona_lib.config import ModelConfig
from persona_lib.contract import Backend, SamplingParams

ModelSource = Literal["local", "remote", "none"]


class SettingProblem(NamedTuple):
    """A setting the backend's own library rejects, found before any model loads (see
    :attr:`BackendSpec.check_settings`).

    Attributes:
        field: The configuration field, as a dotted path (``model.extra.tensor_parallel_size``).
        what: What is wrong.
        fix: How to fix it.
        severity: ``error`` stops the run; ``note`` is shown and the run goes ahead.
    """

    field: str
    what: str
    fix: str
    severity: Literal["error", "note"] = "error"


SettingsCheck = Callable[[ModelConfig, str, Sequence[tuple[str, SamplingParams]], "int | None"], list[SettingProblem]]
"""``check(config, field, requests, gpus)``: the problems of one model configuration (``field`` is ``model``,
``judge`` or ``comparison_judges[i]``) and of the decoding settings it will be sent, each ``(settings field,
parameters)``; ``gpus`` is how many GPUs a scheduler gives its engine (a study's ``gpus`` on Ray), ``None`` for the
GPUs visible on this machine."""


@dataclass(frozen=True)
class BackendSpec:
    """What the pipeline knows about one backend.

    Attributes:
        name: The value of ``backend`` in a configuration.
        create: Builds the backend for a model configuration (heavy libraries are imported here, not before).
        libraries: Modules that must be importable to build it (checked before any model loads).
        install: How to install them (shown when one is missing).
        model_source: ``local`` (``model`` is a bundled name, a model folder or a hub id: its files and tokenizer
            are on this machine or the hub), ``remote`` (an API model: nothing local, a key in the environment) or
            ``none`` (no model at all: a test double).
        needs_base_url: The configuration must give ``base_url``.
        tokens_per_word: For a backend that counts tokens itself as words times this figure (the plan uses it
            instead of a tokenizer); ``None`` otherwise.
        batch_invariance: The backend can run in a batch-invariant mode (``ModelConfig.batch_invariant``).
        check_settings: Validates the engine arguments and decoding settings against the backend's installed
            library without loading a model (``persona-eval check`` runs it); ``None`` when there is nothing
            beyond the generic checks.
    """

    name: str
    create: Callable[[ModelConfig], Backend]
    libraries: tuple[str, ...] = ()
    install: str = ""
    model_source: ModelSource = "local"
    needs_base_url: bool = False
    tokens_per_word: float | None = None
    batch_invariance: bool = False
    check_settings: SettingsCheck | None = None

    @property
    def runs_a_model(self) -> bool:
        """False for a test double, whose answers and verdicts no model wrote."""
        return self.model_source != "none"

    def missing_libraries(self) -> list[str]:
        """The :attr:`libraries` that cannot be imported in this environment."""
        return [module for module in self.libraries if importlib.util.find_spec(module) is None]


_BACKENDS: dict[str, BackendSpec] = {}


class UnknownBackendError(ValueError):
    """A backend name that nothing registered; the message lists the registered ones."""


def register_backend(spec: BackendSpec) -> BackendSpec:
    """Add a backend to the registry (call it at the bottom of the backend's module).

    Registering the same spec again (a module imported twice) is a no-op.

    Raises:
        ValueError: if another spec already uses the name.
    """
    existing = _BACKENDS.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"backend name {spec.name!r} is already registered by another spec; choose another name")
    _BACKENDS[spec.name] = spec
    return spec


def backend_names() -> tuple[str, ...]:
    """Names of every registered backend, in registration order."""
    return tuple(_BACKENDS)


def get_backend(name: str) -> BackendSpec:
    """The registered spec called ``name``.

    Raises:
        UnknownBackendError: naming the registered backends and how to register another.
    """
    try:
        return _BACKENDS[name]
    except KeyError:
        raise UnknownBackendError(
            f"unknown backend {name!r}; registered backends: {', '.join(_BACKENDS)}. A backend of your own is a "
            "module that calls persona_lib.backends.register_backend(...); list it under backend_modules"
        ) from None


def import_backend_modules(modules: Iterable[str]) -> None:
    """Import modules that register backends of their own (the configuration's ``backend_modules``).

    Raises:
        ValueError: naming a module that cannot be imported and how to make it importable.
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except (ImportError, TypeError, ValueError) as err:  # TypeError/ValueError: a relative or empty name
            raise ValueError(
                f"backend module {module!r} cannot be imported ({err}); put its folder on PYTHONPATH or install it"
            ) from None


def create_backend(config: ModelConfig) -> Backend:
    """The backend ``config.backend`` names, set up for ``config.model``.

    Its libraries (torch/transformers, vllm, openai...) are imported here, not when :mod:`persona_lib.backends`
    is imported.

    Raises:
        UnknownBackendError: for a backend nothing registered.
        ImportError: naming how to install a missing library.
        ValueError: when the backend needs ``base_url`` and the configuration has none.
    """
    spec = get_backend(config.backend)
    missing = spec.missing_libraries()
    if missing:
        raise ImportError(
            f"the {spec.name!r} backend needs {', '.join(missing)}, which is not installed: {spec.install}"
        )
    if spec.needs_base_url and not config.base_url:
        raise ValueError(f"backend {spec.name!r} needs base_url (e.g. http://127.0.0.1:8000/v1)")
    return spec.create(config)
