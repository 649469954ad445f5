"""The options every command reads (``--home``, ``--json``): light, so that ``parley --help`` stays quick."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the ``parley`` program reads --home before it imports the command line (parley.cli.launch)
    import typer

#: the profile folder when neither --home nor PARLEY_HOME names one
DEFAULT_HOME = Path("~/.parley")


@dataclass
class Options:
    home: Path
    as_json: bool


def options(ctx: typer.Context) -> Options:
    return ctx.find_root().obj


def home_from(value: Path | None) -> Path:
    return (value or Path(os.environ.get("PARLEY_HOME", str(DEFAULT_HOME)))).expanduser()
