"""The layout's rules, checked on the source (``ast``, nothing imported):

- only ``parley.crypto`` touches ``cryptography`` (keys and ciphers go through its recipes);
- no import cycles between modules (a lazy import inside a function counts too: it is a dependency all
  the same, and a cycle of them is a knot nobody can take apart later);
- the protocol core imports no shell (client, relay, store, cli, ui, tracing, demo) and draws no
  randomness of its own (no ``secrets``, ``random``, ``os.urandom``, ``uuid``): callers bring it.

``TYPE_CHECKING`` imports are left out: they are annotations, not dependencies at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "parley"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import outside ``if TYPE_CHECKING:`` blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # "from parley.cli import demo" imports the module parley.cli.demo
                yield f"{target}.{alias.name}", node.lineno
        stack.extend(ast.iter_child_nodes(node))


def _modules() -> dict[str, tuple[Path, list[tuple[str, int]]]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found[name] = (path, list(_imports(tree, name, path.name == "__init__.py")))
    return found


MODULES = _modules()


def _graph() -> dict[str, set[str]]:
    """Module -> the parley modules it imports (a package's ``__init__`` stands for the package)."""
    graph: dict[str, set[str]] = {}
    for name, (_, imports) in MODULES.items():
        graph[name] = {target for target, _ in imports if target in MODULES and target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _is_package_init(name: str) -> bool:
    return MODULES[name][0].name == "__init__.py"


def test_only_parley_crypto_imports_cryptography():
    offenders = [f"{MODULES[name][0].relative_to(SRC)}:{line} imports {target}"
                 for name, (_, imports) in MODULES.items() if not name.startswith("parley.crypto")
                 for target, line in imports if target == "cryptography" or target.startswith("cryptography.")]
    assert offenders == []


def test_no_import_cycles_between_modules():
    graph = _graph()
    # A package's __init__ that re-exports its modules is not a module of its own in a cycle.
    for name in graph:
        graph[name] = {t for t in graph[name] if not (_is_package_init(t) and name.startswith(t + "."))}
    assert _cycles(graph) == []


SHELLS = ("parley.client", "parley.relay", "parley.store", "parley.cli", "parley.ui", "parley.tracing",
          "parley.demo")
RANDOMNESS = ("secrets", "random", "uuid", "os.urandom")


def test_protocol_core_imports_no_shell_and_no_randomness():
    offenders = []
    for name, (path, imports) in MODULES.items():
        if not name.startswith("parley.protocol"):
            continue
        for target, line in imports:
            if any(target == s or target.startswith(s + ".") for s in SHELLS + RANDOMNESS):
                offenders.append(f"{path.relative_to(SRC)}:{line} imports {target}")
        text = path.read_text(encoding="utf-8")
        if "urandom(" in text:
            offenders.append(f"{path.relative_to(SRC)} calls os.urandom")
    assert offenders == []


def test_the_checks_see_the_imports_they_are_about():
    """The rules above would pass vacuously if the walker missed imports: it must see known ones."""
    assert "parley.crypto.keys" in _graph()["parley.tlog.note"]
    assert any(t.startswith("cryptography") for t, _ in MODULES["parley.crypto.keys"][1])
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
