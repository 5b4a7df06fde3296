"""The package's structure: no import cycles between its modules (function-local imports count too),
and no module imports from a __main__ module (command-line modules only parse arguments)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pneumonia_tf"


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """{module: the package modules it imports anywhere in its file}."""
    mods = modules()

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {name: set() for name in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                resolved = owner(target) if target.startswith("pneumonia_tf") else None
                if resolved and resolved != name:
                    graph[name].add(resolved)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_the_package():
    assert cycles(import_graph()) == []


def test_no_module_imports_from_a_main_module():
    offenders = {name: sorted(t for t in targets if t.endswith("__main__"))
                 for name, targets in import_graph().items()}
    assert not {name: t for name, t in offenders.items() if t}


def test_a_spent_budget_skips_the_tests_not_started_and_says_why():
    """`--budget` (CI's limit for the slow tests): no test starts after it, each one left out is listed."""
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[1]
    chosen = ["tests/test_structure.py::test_no_module_imports_from_a_main_module"]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *chosen, "--budget"]
    spent = subprocess.run([*command, "-1"], cwd=root, capture_output=True, text=True, timeout=120)
    assert spent.returncode == 0 and "1 skipped" in spent.stdout, spent.stdout
    assert "--budget of -1 s was spent" in spent.stdout and chosen[0] in spent.stdout, spent.stdout
    left = subprocess.run([*command, "600"], cwd=root, capture_output=True, text=True, timeout=120)
    assert left.returncode == 0 and "1 passed" in left.stdout, left.stdout
