"""One package, two installs: a delegation's (`pip install parley`) and a relay operator's (`parley[relay]`,
`parley[postgres]`). What a delegation runs imports nothing of the relay's install, and every library the
code imports is declared where its users get it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from cli_runner import run

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "parley"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

#: what needs parley[relay]: the relay and its storage, and the commands that start one
RELAY_SIDE = ("relay/", "store/", "demo.py", "cli/relay.py")


def _declared(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=;! ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def _module_level_imports(path: Path) -> set[str]:
    """Top-level names imported when the module is imported (not inside functions)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.If | ast.Try):  # guarded imports still run at import time
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    names |= {alias.name for alias in inner.names}
                elif isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
                    names.add(inner.module)
    return names


def _delegation_modules() -> list[Path]:
    return [p for p in sorted(SRC.rglob("*.py"))
            if not p.relative_to(SRC).as_posix().startswith(RELAY_SIDE) and "migrations" not in p.parts]


def test_a_delegations_modules_import_nothing_of_the_relays_install() -> None:
    relay_only = {"fastapi", "sqlalchemy", "alembic", "psycopg", "prometheus_client", "structlog",
                  "parley.relay", "parley.store"}
    offenders = {}
    for path in _delegation_modules():
        found = {name for name in _module_level_imports(path)
                 if any(name == r or name.startswith(r + ".") for r in relay_only)}
        if found:
            offenders[path.relative_to(SRC).as_posix()] = sorted(found)
    assert offenders == {}


def test_every_imported_library_is_declared_for_its_users() -> None:
    base = _declared(PROJECT["dependencies"])
    relay = base | _declared(PROJECT["optional-dependencies"]["relay"]) | _declared(
        PROJECT["optional-dependencies"]["postgres"])
    providers = packages_distributions()
    missing = {}
    for path in sorted(SRC.rglob("*.py")):
        declared = relay if path.relative_to(SRC).as_posix().startswith(RELAY_SIDE) else base
        for name in _module_level_imports(path):
            top = name.split(".")[0]
            if top == "parley" or top in sys.stdlib_module_names or top == "__future__":
                continue
            dists = {d.lower().replace("_", "-") for d in providers.get(top, [top])}
            if not dists & declared:
                missing.setdefault(path.relative_to(SRC).as_posix(), []).append(top)
    assert missing == {}


def test_relay_command_without_the_relay_install_names_the_pip_command(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as on a delegation's install
    code, _, err = run("relay", "init", "--data", str(tmp_path / "relay"))
    assert code == 2 and "pip install 'parley[relay]'" in err and "fastapi" in err
    assert not (tmp_path / "relay").exists()


def test_postgres_database_without_the_postgres_install_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.errors import ConfigError
    from parley.store.engine import make_engine

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigError, match=r"parley\[postgres\]"):
        make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
