"""The house rules of imports, read from the source: the library's modules import each other
without a cycle, and an import inside a function only defers a heavy or optional dependency."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

#: Third-party modules that are heavy to load or optional; only these may be imported lazily.
HEAVY = {"torch", "fairseq", "faiss", "matplotlib", "pedalboard", "soxr", "kaldi_native_fbank", "silero_vad",
         "pyannote", "pocketsphinx", "onnx", "onnxscript", "omegaconf", "sklearn", "tqdm",
         "tde", "pandas"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(node: ast.ImportFrom | ast.Import, module: str, is_package: bool) -> list[str]:
    """Absolute names of what ``node`` imports (``from . import x`` may name a submodule x)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        base = node.module
    else:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def library_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((REPO / "sse").rglob("*.py"))}


def top_level_imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:  # unconditional, module-level imports
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(resolve(node, module, path.name == "__init__.py"))
    # A package is loaded before its modules anyway: `from . import x` adds no edge to it.
    return {name for name in names if not module.startswith(name + ".")}


def import_graph() -> dict[str, set[str]]:
    modules = library_modules()
    graph = {}
    for module, path in modules.items():
        imported = top_level_imports(path, module)
        # importing sse.x.y first runs the package sse.x: the package edge is real too
        graph[module] = {name for name in imported if name in modules and name != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                return stack[stack.index(child):] + [child]
            if child not in state and (cycle := visit(child)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def loads_torch(graph: dict[str, set[str]]) -> set[str]:
    """Library modules whose import loads torch, directly or through other library modules."""
    modules = library_modules()
    direct = {module for module, path in modules.items()
              if any(name.split(".")[0] in HEAVY - {"tqdm"} for name in top_level_imports(path, module))}
    heavy, grew = set(direct), True
    while grew:
        grown = {module for module, imported in graph.items() if imported & heavy}
        grew = not grown <= heavy
        heavy |= grown
    return heavy


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_library_has_no_import_cycle():
    graph = import_graph()
    assert "sse.prep.textgrid" in graph["sse.prep.labels"] and "sse.prep.alignments" in graph["sse.prep.textgrid"]
    assert find_cycle(graph) is None


#: The library's layers, lowest first (docs/design.md "Layout"): a module imports its own
#: package and lower layers only. prep and method share a rank, so neither imports the other.
LAYERS = {"sse.defaults": 0, "sse.core": 1, "sse.frames": 2, "sse.prep": 3, "sse.method": 3, "sse.inference": 4,
          "sse.evaluation": 5, "sse.discovery": 6, "sse.pipeline": 7, "sse.plugin": 7, "sse.api": 7, "sse": 8}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return next((name for name in (".".join(parts[:2]), parts[0]) if name in LAYERS), None)


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{module} -> {name}" for module, imported in graph.items() for name in imported
                  if layer(module) != layer(name) and LAYERS[layer(name)] >= LAYERS[layer(module)])


def test_layer_violations_are_found():
    assert layer_violations({"sse.method.mining": {"sse.inference.search", "sse.frames.formats"}}) == [
        "sse.method.mining -> sse.inference.search"]
    assert layer_violations({"sse.prep.vad": {"sse.method.segments"}}) == ["sse.prep.vad -> sse.method.segments"]
    assert layer_violations({"sse.method.mining": {"sse.method.knn", "sse.defaults"}}) == []


def test_every_module_sits_in_a_layer_and_imports_only_downwards():
    graph = import_graph()
    flat = {module for module in graph if module.count(".") == 1 and module not in LAYERS}
    assert flat == set(), "a module of sse/ outside the layers' packages"
    assert {layer(module) for module in graph} == set(LAYERS)
    assert layer_violations(graph) == []


def test_imports_inside_functions_only_defer_heavy_dependencies():
    graph = import_graph()
    heavy_library = loads_torch(graph)
    assert {"sse.method.model", "sse.pipeline.mining_run", "sse.frames.features"} <= heavy_library
    assert not {"sse.core.cli", "sse.defaults", "sse.frames.formats"} & heavy_library
    assert not {module for module in heavy_library if module.startswith("sse.prep")}  # as sse/prep says
    offenders = []
    files = sorted((REPO / "sse").rglob("*.py")) + sorted((REPO / "utils").rglob("*.py"))
    for path in files:
        module = module_name(path)
        for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                names = resolve(node, module, path.name == "__init__.py")
                first = names[0]
                if first.split(".")[0] in HEAVY or first in heavy_library or set(names) & heavy_library:
                    continue
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {first}")
    assert offenders == []
