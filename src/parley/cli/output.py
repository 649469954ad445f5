"""Output helpers: JSON for scripts, Rich tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

# soft_wrap: lines are never broken by Rich; a terminal wraps them itself, and a message written to a log
# or a pipe stays one line that grep finds whole. emoji=False: a text shows as written (a title "Item :ok:"
# is not turned into a pictogram), and Rich's table of emoji codes is never loaded.
console = Console(highlight=False, soft_wrap=True, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def emit(as_json: bool, data: Any, human: Callable[[], None] | None = None) -> None:
    """Print ``data`` as JSON (``--json``) or call ``human`` to render it."""
    if as_json or human is None:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        human()


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    out = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        # ids are typed or pasted next: never wrapped or cut
        is_id = column == "id" or column.endswith(" id")
        out.add_column(column, no_wrap=is_id)
    for row in rows:
        out.add_row(*["" if cell is None else str(cell) for cell in row])
    console.print(out)
