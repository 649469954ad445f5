"""``parley.cli.plain_values``: texts, lists of texts and paths convert as typer converts them (values and
refusals alike), without pydantic; every other kind keeps typer's own conversion."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import typer

from parley.cli.plain_values import plain_values


def _command(plain: bool) -> tuple[Any, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    app = typer.Typer()

    @app.command()
    def probe(
        name: str = typer.Argument(...),
        where: Path | None = typer.Option(None, "--where"),
        existing: Path | None = typer.Option(None, "--existing", exists=True, dir_okay=False),
        resolved: Path | None = typer.Option(None, "--resolved", resolve_path=True),
        words: list[str] | None = typer.Option(None, "--word"),
        count: int = typer.Option(3, "--count", min=1, max=5),
        ratio: float = typer.Option(0.25, "--ratio"),
        when: datetime | None = typer.Option(None, "--when"),
        flag: bool = typer.Option(False, "--flag"),
        title: str = typer.Option("untitled", "--title"),
    ) -> None:
        seen.append({"name": name, "where": where, "existing": existing, "resolved": resolved, "words": words,
                     "count": count, "ratio": ratio, "when": when, "flag": flag, "title": title})

    command = typer.main.get_command(app)
    return (plain_values(command) if plain else command), seen


def _outcome(plain: bool, args: list[str]) -> Any:
    command, seen = _command(plain)
    try:
        command.main(args=args, prog_name="probe", standalone_mode=False)
    except typer.BadParameter as exc:
        return ("refused", exc.format_message())
    except Exception as exc:  # noqa: BLE001 - the same failure either way is what is compared
        return ("failed", type(exc).__name__, str(exc))
    return seen[0], {key: type(value).__name__ for key, value in seen[0].items()}


@pytest.mark.parametrize("args", [
    ["Ukraine"],
    ["Ukraine", "--where", "some/folder", "--title", "A title"],
    ["Ukraine", "--where", "-"],
    ["Ukraine", "--existing", "/no/such/file"],
    ["Ukraine", "--existing", "{tmp}"],  # a directory where a file is wanted
    ["Ukraine", "--existing", "{tmp}/file.txt"],
    ["Ukraine", "--resolved", "{tmp}/./x/../file.txt"],
    ["Ukraine", "--word", "one", "--word", "two words"],
    ["Ukraine", "--count", "9"],
    ["Ukraine", "--count", "2", "--when", "2026-12-07T10:00:00", "--flag"],
    ["Ukraine", "--count", "two"],
    ["Ukraine", "--count", "5", "--ratio", "0.5"],
    ["Ukraine", "--where", ""],
    ["Ukraine", "--title", ""],
], ids=lambda args: " ".join(args[1:]) or "defaults")
def test_plain_values_convert_as_typer_does(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "file.txt").write_text("x")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    assert _outcome(True, args) == _outcome(False, args)


def test_plain_values_need_no_pydantic_and_others_still_use_it() -> None:
    probe = ("import sys\n"
             "sys.path.insert(0, sys.argv[1])\n"
             "from test_cli_plain_values import _outcome\n"
             "_outcome(True, sys.argv[2:])\n"
             "print('pydantic' in sys.modules)\n")
    here = str(Path(__file__).parent)

    def pydantic_loaded(*args: str) -> bool:
        done = subprocess.run([sys.executable, "-c", probe, here, *args], capture_output=True, text=True, check=True)
        return done.stdout.split()[-1] == "True"

    assert not pydantic_loaded("Ukraine", "--where", "x", "--word", "a", "--title", "t", "--flag")
    assert pydantic_loaded("Ukraine", "--count", "2")  # a number typed: typer's conversion, as before
