"""The dataset registry: every dataset the pipeline knows, found by name.

Built-in datasets are the public modules of this package; each registers its :class:`DatasetSpec` when imported.
A user's own benchmark is one module that builds a spec and calls :func:`register_dataset`; list the module in the
run configuration's ``dataset_modules`` and the pipeline imports it before it reads ``datasets``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from persona_lib.datasets._spec import DatasetSpec, MetricSpec

_DATASETS: dict[str, DatasetSpec] = {}
_EXTRA_METRICS: dict[str, MetricSpec] = {}


class UnknownDatasetError(ValueError):
    """A dataset or metric name that nothing registered; the message lists the registered ones."""


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset to the registry (call it at the bottom of the dataset's module).

    Registering the same spec again (a module imported twice) is a no-op.

    Args:
        spec: The dataset specification.

    Returns:
        ``spec``, so a module can write ``SPEC = register_dataset(DatasetSpec(...))``.

    Raises:
        ValueError: if another spec already uses the name, or one of its metric names is taken.
    """
    existing = _DATASETS.get(spec.name)
    if existing is not None:
        if existing == spec:
            return existing
        raise ValueError(f"dataset name {spec.name!r} is already registered by another spec; choose another name")
    taken = metric_specs()
    clashes = [metric.name for metric in spec.metrics if metric.name in taken]
    if clashes:
        raise ValueError(f"dataset {spec.name!r}: metric name(s) {clashes} are already registered")
    _DATASETS[spec.name] = spec
    return spec


def register_metric(metric: MetricSpec) -> MetricSpec:
    """Register a metric that belongs to no dataset (e.g. an analysis such as similarity to the baseline)."""
    existing = metric_specs().get(metric.name)
    if existing is not None and existing != metric:
        raise ValueError(f"metric name {metric.name!r} is already registered")
    _EXTRA_METRICS[metric.name] = metric
    return metric


def dataset_names() -> tuple[str, ...]:
    """Names of every registered dataset, in registration order."""
    return tuple(_DATASETS)


def get_dataset(name: str) -> DatasetSpec:
    """The registered spec called ``name``.

    Raises:
        UnknownDatasetError: naming the registered datasets and how to register another.
    """
    try:
        return _DATASETS[name]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; registered datasets: {', '.join(_DATASETS)}. A dataset of your own is a "
            "module that calls persona_lib.datasets.register_dataset(...); list it under dataset_modules"
        ) from None


def metric_specs() -> dict[str, MetricSpec]:
    """Every registered metric by name: the datasets' metrics, then metrics registered on their own."""
    metrics = {metric.name: metric for spec in _DATASETS.values() for metric in spec.metrics}
    return {**metrics, **_EXTRA_METRICS}


def get_metric(name: str) -> MetricSpec:
    """The registered metric called ``name``.

    Raises:
        UnknownDatasetError: naming the registered metrics.
    """
    metrics = metric_specs()
    try:
        return metrics[name]
    except KeyError:
        raise UnknownDatasetError(f"unknown metric {name!r}; registered metrics: {', '.join(metrics)}") from None


def import_dataset_modules(modules: Iterable[str]) -> None:
    """Import modules that register datasets of their own (the configuration's ``dataset_modules``).

    Raises:
        ValueError: naming a module that cannot be imported and how to make it importable.
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except (ImportError, TypeError, ValueError) as err:  # TypeError/ValueError: a relative or empty name
            raise ValueError(
                f"dataset module {module!r} cannot be imported ({err}); put its folder on PYTHONPATH or install it"
            ) from None


def import_builtin_datasets(package: str, path: Iterable[str]) -> None:
    """Import every public module of the built-in dataset package, so each registers its spec."""
    for module in sorted(info.name for info in pkgutil.iter_modules(list(path)) if not info.name.startswith("_")):
        importlib.import_module(f"{package}.{module}")
