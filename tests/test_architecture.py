"""The library's structure, measured from its import statements: layers, cycles, private modules, module size.

Every ``import`` and ``from ... import`` of ``persona_lib`` is read (deferred imports inside functions included), so
an import placed in a function to dodge a cycle still counts. The layers are listed in ``LAYERS`` (lowest first);
``CONTRIBUTING.md`` explains them (a test keeps its table and this list the same).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from persona_lib.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "persona_lib"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("_records", "_schema", "_text", "paths", "contract"),
    ("config",),
    ("personas", "dialogues", "released"),
    ("stats", "store", "backends"),
    ("judging",),
    ("datasets",),
    ("resolve", "plots"),
    ("generation", "scoring"),
    ("run",),
    ("stages",),
    ("authors_release", "reproduce", "report", "checks", "plan", "book"),
    ("pipeline", "study", "paper"),
    ("cli",),
)
"""The units of the library (top-level modules and packages of ``persona_lib``) from the lowest layer up. A unit
may import from its own layer's units only when no cycle results, and from lower layers freely."""

MAX_MODULE_LINES = 500


def _unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The ``persona_lib`` modules ``module`` imports (the most specific known module of each name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("persona_lib.") and name != module:
                found.add(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {module: _imports(module, path, known) for module, path in modules.items()}


def _layer_of(unit: str) -> int:
    for index, layer in enumerate(LAYERS):
        if unit in layer:
            return index
    raise AssertionError(f"persona_lib.{unit} is in no layer of LAYERS: add it to the list (and to the docs)")


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def test_every_unit_has_a_layer(graph):
    units = {_unit_of(module) for module in graph} - {""}
    for unit in sorted(units):
        _layer_of(unit)


def test_no_import_points_up_the_layers(graph):
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _unit_of(module)
        for target in targets
        if _layer_of(_unit_of(target)) > _layer_of(_unit_of(module))
    )
    assert upward == []


def test_no_import_cycles_between_modules_or_units(graph):
    assert _cycles(graph) == []
    units: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        units[_unit_of(module)] |= {_unit_of(target) for target in targets if _unit_of(target) != _unit_of(module)}
    assert _cycles(units) == []


def test_no_private_module_is_imported_from_another_unit(graph):
    private = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if target.rsplit(".", 1)[-1].startswith("_")
        and _unit_of(target) != _unit_of(module)
        and _unit_of(target) not in LAYERS[0]
    )
    assert private == []


def test_the_configuration_imports_no_dataset_or_judging_code(graph):
    assert {_unit_of(target) for target in graph["persona_lib.config"]} <= set(LAYERS[0])


def test_no_library_module_is_over_the_size_limit():
    long = {
        str(path.relative_to(PROJECT_ROOT)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_the_contributors_guide_lists_the_same_layers():
    guide = (PROJECT_ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    rows = [line for line in guide.splitlines() if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    listed = tuple(tuple(name.strip(" `") for name in row.split("|")[2].split(",")) for row in rows)
    assert listed == LAYERS


def test_the_book_orders_the_results_chapters_as_the_pipeline_runs_them():
    """The paper's results (the reproduce stage) come first, as a part of their own; the embedded run's part follows
    in the order the pipeline runs its stages."""
    import yaml

    from persona_lib.pipeline import STAGES

    toc = yaml.safe_load((PROJECT_ROOT / "_toc.yml").read_text(encoding="utf-8"))
    parts = [
        [chapter["file"].removeprefix("book/run/") for chapter in part["chapters"]]
        for part in toc["parts"]
        if any(chapter["file"].startswith("book/run/") for chapter in part["chapters"])
    ]
    names = {stage.name: [notebook.removesuffix(".ipynb") for notebook in stage.notebooks] for stage in STAGES}
    assert parts == [
        names["reproduce"],
        [name for stage in STAGES if stage.name != "reproduce" for name in names[stage.name]],
    ]
    assert not [path.name for path in (PROJECT_ROOT / "notebooks").glob("[0-9]*")]  # numbered by _toc.yml alone
