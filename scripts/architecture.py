"""Measure what issue 10 asks of the gateway package's shape, and print it.

    .venv/bin/python scripts/architecture.py [package_dir]

- sizes: the largest class (lines), and the median and 90th percentile of function
  lengths (lines from `def` to the last line of the body, docstring included);
- Twilio REST outside the telephony port: uses of a REST client (`.calls(`, `.calls.create`,
  `.conferences(`) in any module but gateway/telephony.py;
- import cycles between the package's modules. Imports under `if TYPE_CHECKING:` are left
  out (they never run); imports inside functions count, as they run on first call.

Exits 1 when a limit is broken: a class over 300 lines, a median over 10, a p90 over 30,
any REST use outside the port, or any cycle.
"""

from __future__ import annotations

import ast
import re
import statistics
import sys
from pathlib import Path

MAX_CLASS, MAX_MEDIAN, MAX_P90 = 300, 10, 30
PORT = "gateway/telephony.py"
REST_USE = re.compile(r"\.calls\(|\.calls\.create\(|\.conferences\(")


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def sizes(trees: dict[str, ast.Module]) -> tuple[list[tuple[int, str]], list[int]]:
    classes, functions = [], []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            length = (
                (node.end_lineno or node.lineno) - node.lineno + 1 if hasattr(node, "lineno") else 0
            )
            if isinstance(node, ast.ClassDef):
                classes.append((length, f"{name}.{node.name}"))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append(length)
    return sorted(classes, reverse=True), functions


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    found: set[str] = set()
    skip = {
        id(n)
        for t in ast.walk(tree)
        if isinstance(t, ast.If) and _type_checking(t)
        for n in ast.walk(t)
    }
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "gateway").resolve()
    found = modules(root)
    trees = {name: ast.parse(path.read_text()) for name, path in found.items()}
    classes, functions = sizes(trees)
    # Package-level imports (gateway.web) also mean the package's own __init__ runs.
    graph = {name: imports(name, tree, set(found)) for name, tree in trees.items()}
    loops = cycles(graph)
    rest = [
        f"{path.relative_to(root.parent)}:{number}"
        for path in found.values()
        if path.relative_to(root.parent).as_posix() != PORT
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if REST_USE.search(line)
    ]
    median = statistics.median(functions)
    p90 = statistics.quantiles(functions, n=10)[-1]
    print(f"largest classes: {', '.join(f'{n} ({size} lines)' for size, n in classes[:3])}")
    print(f"functions: {len(functions)}, median {median:g} lines, p90 {p90:g} lines")
    print(f"Twilio REST outside {PORT}: {len(rest)} {rest if rest else ''}".rstrip())
    print(f"import cycles: {len(loops)} {loops if loops else ''}".rstrip())
    broken = classes[0][0] > MAX_CLASS or median > MAX_MEDIAN or p90 > MAX_P90
    return 1 if broken or rest or loops else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
