"""Every `parley ...` command the README and the guides show exists, with the options they use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from parley.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WORDS = r"((?: (?:--?[a-z][\w-]*(?: [A-Z~/.\w-]+)?|[a-z][\w-]*))+)"
INLINE = re.compile(r"`parley" + WORDS)
IN_BLOCK = re.compile(r"^\s*(?:\$ )?parley" + WORDS)


def _commands() -> list[tuple[str, str]]:
    """Commands in code: inline `parley ...` spans, and lines of fenced blocks."""
    found = []
    for doc in DOCS:
        in_block = False
        for line in doc.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("```"):
                in_block = not in_block
                continue
            matches = [IN_BLOCK.match(line)] if in_block else list(INLINE.finditer(line))
            found.extend((doc.name, m.group(1).strip()) for m in matches if m)
    return found


_CONTEXT = typer.Context(typer.main.get_command(app))


def _resolve(words: list[str]) -> tuple[object, list[str]]:
    command = typer.main.get_command(app)
    options: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("-"):
            options.append(word)
            index += 2 if word == "--home" else 1  # the global option that takes a value
            continue
        found = command.get_command(_CONTEXT, word) if hasattr(command, "commands") else None
        if found is not None:
            command = found
            index += 1
            continue
        break
    return command, options + [w for w in words[index:] if w.startswith("-")]


@pytest.mark.parametrize(("doc", "line"), _commands())
def test_documented_command_exists(doc, line):
    command, options = _resolve(line.split())
    assert not hasattr(command, "commands") or line.split()[0].startswith("-"), f"{doc}: 'parley {line}' names no command"
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    known |= {"--home", "--json", "--version", "--help"}
    for option in options:
        assert option in known, f"{doc}: 'parley {line}' uses unknown option {option}"


def test_docs_mention_commands_at_all():
    assert len(_commands()) > 20
