"""Every cross-reference in the library's docstrings (``:func:`...```, ``:class:``, ``:mod:``, ``:data:``,
``:meth:``, ``:attr:``) names something that exists, so a renamed or moved function cannot leave a stale pointer."""

from __future__ import annotations

import builtins
import importlib
import re
from pathlib import Path

import pytest

from persona_lib.paths import PROJECT_ROOT

ROLE = re.compile(r":(?:func|class|mod|data|meth|attr|exc):`~?(?P<target>[A-Za-z_][\w.]*)(?:\(\))?`")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _has(value, name: str) -> bool:
    """An attribute, or a field or annotated attribute of a class (dataclass fields have no class attribute)."""
    if hasattr(value, name):
        return True
    return isinstance(value, type) and any(name in getattr(base, "__annotations__", {}) for base in value.__mro__)


def _resolves(target: str, module) -> bool:
    """True when ``target`` is importable or an attribute chain of ``module``, one of its classes or its package."""
    head, *rest = target.split(".")
    if not rest and head in vars(builtins):
        return True
    scopes = [vars(module)]
    package = importlib.import_module(module.__name__.rsplit(".", 1)[0]) if "." in module.__name__ else None
    if package is not None:
        scopes.append(vars(package))
    for scope in scopes:
        if head in scope:
            value = scope[head]
            for part in rest:
                if not _has(value, part):
                    break
                value = getattr(value, part, None)
            else:
                return True
    for split in range(len(target.split(".")), 0, -1):  # an absolute dotted path: a module, then attributes
        name, attributes = ".".join(target.split(".")[:split]), target.split(".")[split:]
        try:
            value = importlib.import_module(name)
        except ImportError:
            continue
        try:
            for part in attributes:
                value = getattr(value, part)
            return True
        except AttributeError:
            return False
    classes = [value for value in vars(module).values() if isinstance(value, type)]
    classes = [value for value in classes if value.__module__ == module.__name__]
    return not rest and any(_has(value, head) for value in classes)


SOURCES = sorted(path for path in (PROJECT_ROOT / "persona_lib").rglob("*.py") if path.name != "__main__.py")


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_docstring_references_resolve(path):
    module = importlib.import_module(_module_name(path))
    targets = {match["target"] for match in ROLE.finditer(path.read_text(encoding="utf-8"))}
    assert sorted(target for target in targets if not _resolves(target, module)) == []
