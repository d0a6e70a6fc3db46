"""The package's import graph, drawn from the code: every `import` of a reprotune module,
at the top of a file or inside a function (a lazy import still ties the two modules).

    python tools/import_graph.py            # cycles (none expected), levels, largest modules
    python tools/import_graph.py --mermaid  # the layer picture docs/architecture.md shows
"""

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "reprotune"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _absolute(node: ast.ImportFrom, here: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = here.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, name, path.name == "__init__.py")
            targets = [f"{source}.{alias.name}" for alias in node.names] + [source]
            # `from pkg import submodule` ties to the submodule; `from pkg import name` to pkg.
            targets = [t for t in targets[:-1] if t in known] or [source]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out


def levels(edges: dict[str, set[str]]) -> dict[str, int]:
    """0 for a module importing no other; else one more than the highest it imports."""
    level: dict[str, int] = {}

    def depth(node: str, seen: frozenset) -> int:
        if node in level:
            return level[node]
        below = [depth(n, seen | {node}) for n in edges[node] if n not in seen]
        level[node] = 1 + max(below, default=-1)
        return level[node]

    for node in edges:
        depth(node, frozenset())
    return level


def layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def layer_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Subpackages and top modules, and which import which."""
    links = defaultdict(set)
    for source, targets in edges.items():
        for target in targets:
            a, b = layer(source), layer(target)
            if a != b and PACKAGE not in (a, b):
                links[a].add(b)
            links.setdefault(b, set())  # every layer is a node
    return links


def reduced(links: dict[str, set[str]]) -> dict[str, set[str]]:
    """Only the links no longer path implies (a transitive reduction): the picture to read."""

    def reach(node: str, seen: set[str]) -> set[str]:
        for nxt in links[node]:
            if nxt not in seen:
                seen.add(nxt)
                reach(nxt, seen)
        return seen

    out = {}
    for source, targets in links.items():
        implied = set().union(*(reach(t, set()) for t in targets)) if targets else set()
        out[source] = targets - implied
    return out


def mermaid(edges: dict[str, set[str]]) -> str:
    links = reduced(layer_edges(edges))
    lines = ["flowchart TD"]
    for source in sorted(links):
        for target in sorted(links[source]):
            lines.append(f"    {source.split('.')[-1]} --> {target.split('.')[-1]}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mermaid", action="store_true", help="print the layer picture")
    args = parser.parse_args()
    edges = graph()
    if args.mermaid:
        print(mermaid(edges))
        return 0
    found = cycles(edges)
    depth = levels(edges)
    print(f"{len(edges)} modules on {max(depth.values()) + 1} levels; {len(found)} import cycles")
    for component in found:
        print("  cycle: " + " <-> ".join(component))
    sizes = sorted(
        ((len(p.read_text().splitlines()), m) for m, p in modules().items()), reverse=True
    )
    print("largest: " + ", ".join(f"{m} {n}" for n, m in sizes[:5]))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
